#!/usr/bin/env python3
"""Offline preview for a pull request: plan every stack file in the base and the head checkout,
and write one comment (markdown) per stack whose plan changes, with guardrail results.

    git worktree add --detach /tmp/base origin/main
    scripts/pr_preview.py --base /tmp/base --head . --out /tmp/comments

Writes <out>/<stack>.md per changed stack and <out>/stacks.json (the changed stacks' names).
Each checkout is planned with its own code. Needs no cloud credentials. Exit code 0, or 3 when a
changed stack violates a guardrail or cannot be planned.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import _repo  # noqa: F401  (repo root on sys.path)

from components.guardrails import check_plan
from components.offline import stack_name_of
from components.planview import diff_plans
from components.prcomment import render_comment


def plan_json(checkout: Path, stack_file: Path) -> tuple[dict | None, str | None]:
    """Plan `stack_file` with the code of `checkout`; (plan, None) or (None, the error text)."""
    result = subprocess.run([sys.executable, str(checkout / "scripts" / "plan.py"), str(stack_file), "--json"],
                            capture_output=True, text=True, cwd=checkout, timeout=600)
    if result.returncode != 0:
        return None, result.stderr or result.stdout
    return json.loads(result.stdout), None


def empty(stack: str) -> dict:
    return {"stack": stack, "project": "", "resources": [], "outputs": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, type=Path, help="checkout of the base branch")
    parser.add_argument("--head", required=True, type=Path, help="checkout of the pull request")
    parser.add_argument("--out", required=True, type=Path, help="directory for the comments")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = sorted({p.name for c in (args.base, args.head) for p in c.glob("Pulumi.*.yaml")})
    changed, failing = [], 0
    for name in names:
        stack = stack_name_of(Path(name))
        base_file, head_file = args.base / name, args.head / name
        base, _ = plan_json(args.base, base_file) if base_file.exists() else (empty(stack), None)
        head: dict | None
        if not head_file.exists():
            head, error, note = empty(stack), None, "The stack file is removed: its resources would be destroyed."
        else:
            head, error = plan_json(args.head, head_file)
            note = "" if base_file.exists() else "A new stack."
        if error is not None or head is None:
            comment, failing = render_comment(stack, None, [], error=error, note=note), failing + 1
        else:
            diff = diff_plans(base or empty(stack), head)
            violations = check_plan(head) if head_file.exists() else []
            if diff.empty and not violations:
                continue
            failing += bool(violations)
            comment = render_comment(stack, diff, violations, note=note)
        (args.out / f"{stack}.md").write_text(comment)
        changed.append(stack)
        print(f"{stack}: comment written")
    (args.out / "stacks.json").write_text(json.dumps(changed) + "\n")
    return 3 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Offline preview for a pull request: plan every stack file in the base and the head checkout,
and write one comment (markdown) per stack whose plan changes, with guardrail results.

    git worktree add --detach /tmp/base origin/main
    scripts/pr_preview.py --base /tmp/base --head . --out /tmp/comments

Writes <out>/<stack>.md per changed stack and <out>/stacks.json (the changed stacks' names).
Each checkout is planned with its own code, all its stacks in one process (`plan.py --out-dir`;
a checkout whose plan.py predates it is planned one process per stack). Needs no cloud credentials. Exit code 0, 2 when
--base or --head is not a checkout of this repository, or 3 when a changed stack violates a guardrail or cannot be
planned.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _repo  # noqa: F401  (repo root on sys.path)

from components.guardrails import check_plan
from components.offline import stack_name_of
from components.planview import diff_plans
from components.prcomment import render_comment
from components.stackplan import waiting_of


def plan_json(checkout: Path, stack_file: Path) -> tuple[dict | None, str | None]:
    """Plan `stack_file` with the code of `checkout`; (plan, None) or (None, the error text)."""
    result = subprocess.run([sys.executable, str(checkout / "scripts" / "plan.py"), str(stack_file), "--json"],
                            capture_output=True, text=True, cwd=checkout, timeout=600)
    if result.returncode != 0:
        return None, result.stderr or result.stdout
    return json.loads(result.stdout), None


Planned = tuple[dict | None, str | None]


def plans_of(checkout: Path, names: list[str]) -> dict[str, Planned]:
    """{stack file name: (plan, error)} of the stack files `names` that `checkout` has, planned in
    one process with the checkout's code."""
    files = [checkout / name for name in names if (checkout / name).exists()]
    if not files:
        return {}
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run([sys.executable, str(checkout / "scripts" / "plan.py"), *map(str, files), "--json",
                                 "--out-dir", out], capture_output=True, text=True, cwd=checkout, timeout=1800)
        if "unrecognized arguments: --out-dir" in result.stderr:  # a base from before --out-dir
            return {f.name: plan_json(checkout, f) for f in files}
        planned: dict[str, Planned] = {}
        for stack_file in files:
            plan, error = Path(out) / f"{stack_file.name}.json", Path(out) / f"{stack_file.name}.error"
            if plan.exists():
                planned[stack_file.name] = json.loads(plan.read_text()), None
            else:
                planned[stack_file.name] = None, (error.read_text() if error.exists()
                                                  else result.stderr or result.stdout or "plan.py wrote nothing")
        return planned


def empty(stack: str) -> dict:
    return {"stack": stack, "project": "", "resources": [], "outputs": {}}


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--base", required=True, type=Path, help="checkout of the base branch")
    parser.add_argument("--head", required=True, type=Path, help="checkout of the pull request")
    parser.add_argument("--out", required=True, type=Path, help="directory for the comments")
    args = parser.parse_args(argv)
    for flag, checkout in (("--base", args.base), ("--head", args.head)):
        if not (checkout / "scripts" / "plan.py").is_file():
            print(f"pr_preview: {flag} {checkout} is not a checkout of this repository (no scripts/plan.py there); "
                  "make one with git worktree add", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    names = sorted({p.name for c in (args.base, args.head) for p in c.glob("Pulumi.*.yaml")})
    base_plans, head_plans = plans_of(args.base, names), plans_of(args.head, names)
    changed, failing = [], 0
    for name in names:
        stack = stack_name_of(Path(name))
        base_file, head_file = args.base / name, args.head / name
        base, _ = base_plans[name] if base_file.exists() else (empty(stack), None)
        head: dict | None
        if not head_file.exists():
            head, error, note = empty(stack), None, "The stack file is removed: its resources would be destroyed."
        else:
            head, error = head_plans[name]
            note = "" if base_file.exists() else "A new stack."
        if error is not None or head is None:
            comment, failing = render_comment(stack, None, [], error=error, note=note), failing + 1
        else:
            diff = diff_plans(base or empty(stack), head)
            violations = check_plan(head) if head_file.exists() else []
            waiting = waiting_of(head)
            if diff.empty and not violations and waiting == waiting_of(base or {}):
                continue
            failing += bool(violations)  # a stack waiting for its secrets is said, not failed (stackplan.py)
            comment = render_comment(stack, diff, violations, note=note, waiting=waiting)
        (args.out / f"{stack}.md").write_text(comment)
        changed.append(stack)
        print(f"{stack}: comment written")
    (args.out / "stacks.json").write_text(json.dumps(changed) + "\n")
    return 3 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

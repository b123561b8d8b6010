#!/usr/bin/env python3
"""The waves in which a change goes out to the fleet: canaries first, then growing batches.

    scripts/rollout.py                                    # every stack file here but the examples
    scripts/rollout.py Pulumi.a.yaml Pulumi.b.yaml        # these stacks
    scripts/rollout.py --stacks-json /tmp/changed/stacks.json --base /tmp/base   # what a change alters
    scripts/rollout.py --examples --json                  # the matrix .github/workflows/rollout.yml runs
    scripts/rollout.py --from-wave 3                      # resume a stopped rollout at its third wave

Wave 1 holds the installations flagged `installation.rollout.canary: true` (none flagged: the first
stack alone), then the rest in name order in waves of --first, --first x --growth, ... stacks, at
most --largest (components/rollout.py). --stacks-json takes the stacks whose plan a change alters
(scripts/pr_preview.py writes it); a stack whose file is gone is left out and named: removing an
installation is done by hand (docs/operate.md). With --base (a checkout of what the fleet runs now),
a change to the program (components/, templates/, __main__.py, Pulumi.yaml, requirements.txt) under
an unchanged components/version.py is refused: the installations' version record would not show it.
Exit codes: 0 the waves, 2 a stack file or name that cannot be rolled out, 3 the version not bumped.
"""

from __future__ import annotations

import filecmp
import json
import re
import sys
from pathlib import Path

import _repo

from components.config import ConfigError
from components.matrix import MatrixError, read_stack_list, stacks_of
from components.offline import StackFileError, installation_of, read_stack_file
from components.rollout import matrix_of, plan_waves, render
from components.version import TOOLKIT_VERSION

PROGRAM = ("components", "templates", "__main__.py", "Pulumi.yaml", "requirements.txt")


def version_in(checkout: Path) -> str:
    found = re.search(r'^TOOLKIT_VERSION = "([^"]+)"', (checkout / "components" / "version.py").read_text(), re.M) \
        if (checkout / "components" / "version.py").exists() else None
    return found.group(1) if found else "none"


def program_differs(base: Path, head: Path) -> list[str]:
    """The program's files that differ between two checkouts (caches left out)."""
    def files(root: Path) -> dict[str, Path]:
        found = {}
        for entry in PROGRAM:
            top = root / entry
            for path in ([top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []):
                if path.is_file() and "__pycache__" not in path.parts:
                    found[str(path.relative_to(root))] = path
        return found
    old, new = files(base), files(head)
    return sorted(name for name in old.keys() | new.keys()
                  if name not in old or name not in new or not filecmp.cmp(old[name], new[name], shallow=False))


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("stack_files", nargs="*", type=Path,
                        help="Pulumi.<stack>.yaml files (default: every one in the repository but the examples)")
    parser.add_argument("--stacks-json", type=Path, help="the stacks to roll out, a JSON list (pr_preview.py's)")
    parser.add_argument("--base", type=Path, help="a checkout of what the fleet runs now: refuse an unbumped version")
    parser.add_argument("--examples", action="store_true", help="include Pulumi.example-*.yaml")
    parser.add_argument("--json", action="store_true", help="the waves as the workflow's matrix")
    parser.add_argument("--first", type=int, default=5, help="stacks in the first wave after the canaries (%(default)s)")
    parser.add_argument("--growth", type=int, default=3, help="each wave this many times the last (%(default)s)")
    parser.add_argument("--largest", type=int, default=50, help="most stacks in one wave (%(default)s)")
    parser.add_argument("--from-wave", type=int, default=1,
                        help="resume a stopped rollout: leave out the waves before this one (same numbers)")
    args = parser.parse_args(argv)
    root = _repo.REPO_ROOT
    if args.stacks_json:
        try:
            wanted = read_stack_list(args.stacks_json)
        except MatrixError as error:
            print(error, file=sys.stderr)
            return 2
        files = [root / f"Pulumi.{stack}.yaml" for stack in wanted if "/" not in stack]
        for gone in [f for f in files if not f.exists()]:
            print(f"{gone.name}: removed; not rolled out (destroy an installation by hand: docs/operate.md)",
                  file=sys.stderr)
        files = [f for f in files if f.exists()]
    else:
        files = args.stack_files or sorted(root.glob("Pulumi.*.yaml"))
    names = set(stacks_of(files, include_examples=args.examples))
    files = [f for f in files if f.name in {f"Pulumi.{n}.yaml" for n in names}]
    if args.base:
        changed = program_differs(args.base, root)
        if changed and version_in(args.base) == TOOLKIT_VERSION:
            print(f"the program changed ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}) but "
                  f"components/version.py still says {TOOLKIT_VERSION}: bump TOOLKIT_VERSION in the change, so "
                  "that every installation's record shows whether it runs it", file=sys.stderr)
            return 3
    canary_of: dict[str, bool] = {}
    problems = []
    for stack_file in files:
        try:
            stack = read_stack_file(stack_file)
            canary_of[stack.stack] = installation_of(stack).rollout.canary
        except (StackFileError, ConfigError) as error:
            problems.append(f"{stack_file.name}: {error} (scripts/plan.py {stack_file.name} says what to do)")
    try:
        waves = plan_waves(canary_of, args.first, args.growth, args.largest)
    except MatrixError as error:
        problems.append(str(error))
    if problems:
        print("\n".join(["cannot plan the rollout:", *problems]), file=sys.stderr)
        return 2
    if not 1 <= args.from_wave <= max(len(waves), 1):
        print(f"--from-wave {args.from_wave}: the rollout has {len(waves)} waves", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(matrix_of(waves)[args.from_wave - 1:], separators=(",", ":")))
    else:
        sys.stdout.write(render(waves[args.from_wave - 1:], len(waves)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

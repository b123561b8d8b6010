#!/usr/bin/env python3
"""Offline plan of one or more stacks: every resource the program registers, without the Pulumi CLI
or cloud.

    scripts/plan.py Pulumi.example-onprem.yaml              # readable plan
    scripts/plan.py Pulumi.*.yaml                           # every stack; each reported, then the exit code
    scripts/plan.py Pulumi.example-onprem.yaml --json       # machine-readable, for saving and tools
    scripts/plan.py Pulumi.acme.yaml --diff base.json       # what changes against a saved plan
    scripts/plan.py Pulumi.acme.yaml --diff-new             # a new stack: everything is added
    scripts/plan.py Pulumi.acme.yaml --check                # and the catalogue's guardrails
    scripts/plan.py Pulumi.*.yaml --json --out-dir plans/   # one process for many stacks: plans/<file>.json
                                                            # (or <file>.error with what went wrong)

Exit codes (with several stacks, the most severe of them, after every stack was reported: 3, 2, 1, 4,
0 in that order):
0 planned (a stack that only waits for its secrets is planned with placeholders for them, and told
which `pulumi config set --secret` commands to run: components/stackplan.py), 1 invalid stack config
(every problem is listed), 2 unreadable input (a stack file, or a base plan that is not a plan of
this stack), 3 a guardrail is violated (with --check), 4 with --check: the guardrails pass but the
stack waits for its secrets (`pulumi up` would stop there).
Secrets print as [secret]. The output is deterministic: an unchanged stack gives identical output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import _repo  # noqa: F401  (repo root on sys.path; re-runs under the project's .venv)

from components.config import ConfigError
from components.guardrails import check_plan, render_violations
from components.offline import StackFileError, read_stack_file, stack_name_of
from components.stackplan import plan_stack
from components.planview import diff_plans, render_diff, render_text

PLANNED, INVALID, UNREADABLE, VIOLATED, WAITING = 0, 1, 2, 3, 4
SAID = {PLANNED: "planned", INVALID: "invalid config", UNREADABLE: "unreadable", VIOLATED: "guardrail violated",
        WAITING: "waits for its secrets"}
SEVERITY = (PLANNED, WAITING, INVALID, UNREADABLE, VIOLATED)  # the exit code of several stacks: the last found


def worst(codes: list[int]) -> int:
    return max(codes, key=SEVERITY.index)


class BadBase(Exception):
    pass


def read_base(path: str, stack: str, other_stack: bool) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            base = json.load(handle)
    except (OSError, ValueError) as error:
        raise BadBase(f"{path}: cannot read the base plan: {error}") from None
    if not (isinstance(base, dict) and isinstance(base.get("resources"), list)
            and all(isinstance(r, dict) and "urn" in r for r in base["resources"])):
        raise BadBase(f"{path}: not a plan (make one with: scripts/plan.py <stack file> --json > {path})")
    if base.get("stack") != stack and not other_stack:
        raise BadBase(f"{path}: is a plan of stack {base.get('stack')!r}, not of {stack!r}; a diff of two "
                      "stacks shows every resource replaced. Pass --other-stack to compare them anyway")
    return base


def plan_one(stack_file: str, args: argparse.Namespace) -> int:
    try:
        stack = stack_name_of(Path(stack_file))
        base = read_base(args.diff, stack, args.other_stack) if args.diff else None
        planned = plan_stack(read_stack_file(stack_file))
    except (StackFileError, BadBase) as error:
        print(error, file=sys.stderr)
        return UNREADABLE
    except ConfigError as error:
        print(f"{stack_file}: {error}", file=sys.stderr)
        return INVALID
    plan = planned.plan
    if planned.waiting:
        print(f"{stack_file}: planned with placeholders: {planned.hint}", file=sys.stderr)
    if args.diff_new:
        base = {"stack": plan["stack"], "project": plan["project"], "resources": [], "outputs": {}}
    if base is not None:
        diff = diff_plans(base, plan)
        output = json.dumps(diff.to_json(), indent=2, sort_keys=True) + "\n" if args.json else render_diff(diff)
    else:
        output = json.dumps(plan, indent=2, sort_keys=True) + "\n" if args.json else render_text(plan)
    sys.stdout.write(output)
    if args.check:
        violations = check_plan(plan)
        sys.stdout.write(render_violations(violations))
        if violations:
            return VIOLATED
        if planned.waiting:  # `pulumi up` would stop at the first missing secret: not deployable yet
            print(f"{stack_file}: WAITING: {planned.hint}", file=sys.stderr)
            return WAITING
    return PLANNED


def plan_into(args: argparse.Namespace) -> int:
    """Each stack's plan (or its error text) into a file of its own in args.out_dir."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    codes = []
    for stack_file in args.stack_files:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = plan_one(stack_file, args)
        name = Path(stack_file).name
        if code == PLANNED:
            (args.out_dir / f"{name}.json").write_text(out.getvalue())
        else:
            (args.out_dir / f"{name}.error").write_text(err.getvalue() or out.getvalue())
        codes.append(code)
    return worst(codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_files", nargs="+", metavar="stack_file", help="Pulumi.<stack>.yaml file(s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--check", action="store_true",
                        help="also check the catalogue's guardrails (components/guardrails.py)")
    compare = parser.add_mutually_exclusive_group()
    compare.add_argument("--diff", metavar="BASE_JSON",
                         help="compare with a plan of the same stack saved earlier with --json (e.g. from the base branch)")
    compare.add_argument("--diff-new", action="store_true",
                         help="the stack is new (no base plan): show everything as added")
    parser.add_argument("--other-stack", action="store_true",
                        help="with --diff: allow a base plan of another stack")
    parser.add_argument("--out-dir", type=Path,
                        help="with --json: write each stack's plan to OUT_DIR/<stack file>.json, or what went "
                             "wrong to OUT_DIR/<stack file>.error (pull-request previews plan many stacks in one "
                             "process this way, paying the imports once)")
    args = parser.parse_args(argv)
    if (args.diff or args.diff_new) and len(args.stack_files) > 1:
        parser.error("--diff and --diff-new take one stack file")
    if args.out_dir is not None:
        if not args.json:
            parser.error("--out-dir needs --json")
        return plan_into(args)
    several = len(args.stack_files) > 1
    codes = []
    for number, stack_file in enumerate(args.stack_files):
        if several and number:
            sys.stdout.write("\n")
        sys.stdout.flush()
        codes.append(plan_one(stack_file, args))
        sys.stderr.flush()
    if several:
        summary = ", ".join(f"{f}: {SAID[c]}" for f, c in zip(args.stack_files, codes))
        print(f"\n{len(codes)} stacks: {summary}", file=sys.stderr)
    return worst(codes)


if __name__ == "__main__":
    sys.exit(main())

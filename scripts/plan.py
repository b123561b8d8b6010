#!/usr/bin/env python3
"""Offline plan of one stack: every resource the program registers, without the Pulumi CLI or cloud.

    scripts/plan.py Pulumi.example-onprem.yaml              # readable plan
    scripts/plan.py Pulumi.example-onprem.yaml --json       # machine-readable, for saving and tools
    scripts/plan.py Pulumi.acme.yaml --diff base.json       # what changes against a saved plan
    scripts/plan.py Pulumi.acme.yaml --check                # and the catalogue's guardrails

Exit codes: 0 planned, 1 invalid stack config (every problem is listed), 2 unreadable input,
3 a guardrail is violated (with --check; every violation is listed).
Secrets print as [secret]. The output is deterministic: an unchanged stack gives identical output.
"""

from __future__ import annotations

import argparse
import json
import sys

import _repo  # noqa: F401  (repo root on sys.path)

from components.config import ConfigError
from components.guardrails import check_plan, render_violations
from components.offline import StackFileError, read_stack_file, run_program
from components.planview import diff_plans, render_diff, render_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack_file", help="a Pulumi.<stack>.yaml file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--check", action="store_true",
                        help="also check the catalogue's guardrails (components/guardrails.py)")
    parser.add_argument("--diff", metavar="BASE_JSON",
                        help="compare with a plan saved earlier with --json (e.g. from the base branch)")
    args = parser.parse_args(argv)

    base = None
    if args.diff:
        try:
            with open(args.diff, encoding="utf-8") as handle:
                base = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"{args.diff}: cannot read the base plan: {error}", file=sys.stderr)
            return 2
    try:
        plan = run_program(read_stack_file(args.stack_file)).to_json()
    except StackFileError as error:
        print(error, file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"{args.stack_file}: {error}", file=sys.stderr)
        return 1

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
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run one command for every stack of a batch, go on after a failure, and fail at the end if any did.

    STACKS="a b c" scripts/fleet_run.py [--out DIR] -- pulumi preview --stack '{stack}' ...
    STACKS="a b c" scripts/fleet_run.py --stop-at-first-failure -- pulumi up --yes --stack '{stack}'

The workflow's batch jobs (scripts/fleet_matrix.py gives each job its STACKS) call this: `{stack}`
in the command's arguments becomes each stack's name (no shell: a name is an argument, never
code); each run's output goes to the job's log in a group of its own and, with --out, to
DIR/<stack>.txt as well. With --stop-at-first-failure (a rollout's wave), the stacks after a
failed one are not run and are listed as not started. At the end, one line per stack (ok, or failed with its exit code), and
exit 1 when any failed, 2 when STACKS holds a name that is not a stack's (components/matrix.py).
Only the standard library: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import _repo  # noqa: F401  (the repository on sys.path)

from components.matrix import STACK_NAME


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--out", type=Path, help="also write each stack's output to OUT/<stack>.txt")
    parser.add_argument("--stop-at-first-failure", action="store_true", help="run no stack after a failed one")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: the command, {stack} for the name")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or not any("{stack}" in part for part in command):
        parser.error("give the command after --, with {stack} where the stack's name goes")
    stacks = os.environ.get("STACKS", "").split()
    bad = [s for s in stacks if not STACK_NAME.match(s)]
    if bad:
        print(f"fleet_run: {bad[0]!r} in STACKS is not a stack's name", file=sys.stderr)
        return 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, int | None]] = []
    for stack in stacks:
        if args.stop_at_first_failure and any(code for _, code in results):
            results.append((stack, None))
            continue
        print(f"::group::{stack}", flush=True)
        run = subprocess.run([part.replace("{stack}", stack) for part in command], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace")
        sys.stdout.write(run.stdout)
        print("::endgroup::", flush=True)
        if args.out:
            (args.out / f"{stack}.txt").write_text(run.stdout)
        results.append((stack, run.returncode))
    for stack, code in results:
        print(f"{stack}: {'not started' if code is None else 'ok' if code == 0 else f'FAILED (exit {code})'}")
    failed = [stack for stack, code in results if code]
    if failed:
        print(f"{len(failed)} of {len(results)} stacks failed: {' '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

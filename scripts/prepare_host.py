#!/usr/bin/env python3
"""Prepare an on-premise host's operational and archive drives over SSH, safely.

    scripts/prepare_host.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 --dry-run
    scripts/prepare_host.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519

Reads the host, prints a preflight report (host key, OS, each drive with size, model, serial,
what it holds and what redundancy the host shows), then the plan. Without --dry-run it applies the
plan step by step and verifies the result. A plan that erases a drive (only possible when the
stack's allow_wipe names that drive) is applied only with --yes or after typing the drive's identity.

Exit codes: 0 prepared or nothing to do, 1 refused (nothing was changed), 2 bad arguments or stack
config, 3 cannot connect or the host key is not the expected one (nothing was changed), 4 a step or
the verification failed, or the connection was lost (re-run to continue from where it stopped:
every step is safe to repeat).

Drive identities in the stack: /dev/disk/by-id/<name>, wwn:<0x...>, serial:<serial>, or on test
hosts loop:<backing file>; a bare /dev/sdX is refused (it can change between boots). Wiping a drive
that holds data needs the stack's installation.on_premise.drives.<role>.allow_wipe to repeat that
drive's exact identity, and then --yes or typing the identity here.
"""

from __future__ import annotations

import sys

import _repo  # noqa: F401  (repo root on sys.path)
from _host_access import UsageError, host_failure, host_parser, load_target

from components.host.errors import HostError
from components.host.facts import gather
from components.host.layout import layout_from_config
from components.host.planner import PlanRefused, plan
from components.host.prepare import apply
from components.host.report import preflight_lines
from components.host.ssh import Connection
from components.host.steps import WipeSignatures

# What each outcome of a host error exits with (components/host/errors.py), as the docstring says.
EXIT_CODES = {"refused": 1, "unreachable": 3, "lost": 4, "failed": 4}
RERUN = "Re-run to continue: the plan starts from what is already done."


def _fail(code: int, message: str) -> int:
    print(message, file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = host_parser(__doc__)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--yes", action="store_true", help="apply without asking, erasing drives too "
                        "when the stack's allow_wipe consents")
    parser.add_argument("--accept-new-host-key", action="store_true",
                        help="connect to a host whose key is not pinned yet, printing its fingerprint")
    args = parser.parse_args(argv)

    try:
        target = load_target(args.stack_file, args.key, args.accept_new_host_key)
    except UsageError as error:
        return _fail(2, str(error))
    access = target.access
    layout = layout_from_config(target.installation.on_premise)

    def new_key(seen: str) -> None:
        print(f"accepting the host's key {seen} as asked; pin it in "
              "installation.on_premise.host.host_key_fingerprint")

    try:
        with Connection(access, on_new_host_key=new_key) as connection:
            facts = gather(connection, layout.paths(), layout.file_paths())
            print("\n".join(preflight_lines(facts, layout, access.name, connection.host_key_fingerprint)))
            try:
                steps = plan(facts, layout)
            except PlanRefused as refused:
                return _fail(1, f"\n{access.name}: the host cannot be prepared as configured; nothing was "
                                f"changed:\n{refused}")
            if not steps:
                print("\nplan: nothing to do, the host is prepared")
                return 0
            print(f"\nplan: {len(steps)} step(s)")
            for number, step in enumerate(steps, 1):
                print(f"  {number}. {step}")
            if args.dry_run:
                print("dry run: nothing was changed")
                return 0
            wipes = [s for s in steps if isinstance(s, WipeSignatures)]
            if wipes and not args.yes:
                if not sys.stdin.isatty():
                    return _fail(1, "the plan erases a drive; re-run with --yes to confirm. Nothing was changed")
                for wipe in wipes:
                    typed = input(f"type {wipe.identity} to erase it: ").strip()
                    if typed != wipe.identity:
                        return _fail(1, "not confirmed; nothing was changed")
            apply(connection, layout, facts, steps, progress=print)
            print(f"{access.name}: prepared and verified")
            return 0
    except HostError as error:
        return host_failure(error, EXIT_CODES, hints={"failed": RERUN, "lost": RERUN})


if __name__ == "__main__":
    sys.exit(main())

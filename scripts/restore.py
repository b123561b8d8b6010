#!/usr/bin/env python3
"""Restore an on-premise installation's operational data on its host, verified and timed.

    scripts/restore.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 --target /srv/daktela-restore
    scripts/restore.py Pulumi.acme.yaml --key KEY --target DIR --location 2 --snapshot 1a2b3c4d

Uses the newest snapshot of the reachable locations unless one is chosen, and restores it straight
from the location (the target's drive needs room for the restored data, nothing more). Reports the
elapsed time split into transfer (the customer's connectivity: not counted toward the SLA) and the
rest; docs/restore.md says how the split is made. The target must be empty or new. Exit codes: 0 restored and verified, 1 no usable snapshot or the
restore failed, 2 bad arguments, 3 cannot connect or the connection was lost.
"""

from __future__ import annotations

import sys

import _repo  # noqa: F401  (repo root on sys.path)
from _host_access import UsageError, host_failure, host_parser, load_target

from components.host.errors import HostError
from components.host.restore import restore
from components.host.ssh import Connection

# What each outcome of a host error exits with (components/host/errors.py), as the docstring says.
EXIT_CODES = {"refused": 1, "failed": 1, "unreachable": 3, "lost": 3}


def main(argv: list[str] | None = None) -> int:
    parser = host_parser(__doc__)
    parser.add_argument("--target", required=True, help="empty or new directory on the host")
    parser.add_argument("--location", type=int, choices=(1, 2), help="restore from this location")
    parser.add_argument("--snapshot", help="restic snapshot id (default: the newest)")
    args = parser.parse_args(argv)
    try:
        target = load_target(args.stack_file, args.key)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        with Connection(target.access) as connection:
            report = restore(connection, args.target, args.location, args.snapshot, progress=print)
    except HostError as error:
        return host_failure(error, EXIT_CODES, prefix="restore failed: " if error.outcome == "failed" else "")
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

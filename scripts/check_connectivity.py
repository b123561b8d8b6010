#!/usr/bin/env python3
"""Is the host's connectivity sufficient for its backups? Measured from the host, per location.

    pulumi stack output --json --show-secrets > /tmp/acme-outputs.json
    scripts/check_connectivity.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 --outputs /tmp/acme-outputs.json

Uploads random data to each location (aborted afterwards: nothing stays), reads how much the
operational drive changed in the last day, and says whether a run (location 1, then location 2)
fits `backup_window_minutes` with a 2x margin. Exit codes: 0 sufficient, 1 insufficient,
2 bad arguments, 3 cannot connect.
"""

from __future__ import annotations

import argparse
import json
import sys

import _repo  # noqa: F401  (repo root on sys.path)
from _host_access import UsageError, load_target

from components.host.backup_job import job_from_outputs
from components.host.connectivity import check_connectivity
from components.host.layout import layout_from_config
from components.host.ssh import Connection, HostError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_file")
    parser.add_argument("--key", required=True, help="private SSH key file for the host's user")
    parser.add_argument("--outputs", required=True,
                        help="`pulumi stack output --json --show-secrets` of the stack (locations and key)")
    args = parser.parse_args(argv)
    try:
        target = load_target(args.stack_file, args.key)
        with open(args.outputs, encoding="utf-8") as handle:
            outputs = json.load(handle)
        installation = target.installation
        job, key_id, secret = job_from_outputs(installation, layout_from_config(target.settings), outputs)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as error:
        print(f"--outputs {args.outputs}: not the stack's outputs with secrets shown ({error})", file=sys.stderr)
        return 2
    try:
        with Connection(target.access) as connection:
            report = check_connectivity(connection, job, key_id, secret)
    except HostError as error:
        print(error, file=sys.stderr)
        return 3
    except ValueError as error:  # the operational drive is not mounted: nothing to measure against
        print(f"{target.access.name}: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0 if report.sufficient else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Is the host's connectivity sufficient for its backups? Measured from the host, per location.

    pulumi stack output --json --show-secrets > /tmp/acme-outputs.json
    scripts/check_connectivity.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 --outputs /tmp/acme-outputs.json

--outputs takes `pulumi stack output --json --show-secrets`, `pulumi stack export --show-secrets` or
the stack's state file (a self-managed backend's), so no CLI is needed where the state can be read;
--endpoint-url probes an S3-compatible endpoint instead of AWS's.

Uploads random data to each location (aborted afterwards: nothing stays), reads how much the
operational drive changed in the last day, and says whether a run (location 1, then location 2)
fits `backup_window_minutes` with a 2x margin. The result is recorded from the host, with its key,
into every location (status/<id>/connectivity/<UTC time>.json): the month's checks are part of the
monthly evidence (scripts/evidence.py). Exit codes: 0 sufficient, 1 insufficient, not measurable
(e.g. the operational drive is not mounted) or recorded in no location, 2 bad arguments, 3 cannot
connect, the connection was lost or the probe failed.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import _repo  # noqa: F401  (repo root on sys.path)
from _host_access import UsageError, host_failure, host_parser, load_target

from components.host.backup_job import job_from_outputs
from components.host.connectivity import check_connectivity, record_check
from components.host.layout import layout_from_config
from components.host.errors import HostError
from components.host.ssh import Connection
from components.stack_outputs import OutputsError, read_outputs, require

# What each outcome of a host error exits with (components/host/errors.py), as the docstring says.
EXIT_CODES = {"refused": 1, "unreachable": 3, "lost": 3, "failed": 3}


def main(argv: list[str] | None = None) -> int:
    parser = host_parser(__doc__)
    parser.add_argument("--outputs", required=True,
                        help="the stack's outputs with secrets shown, or its export or state file (locations and key)")
    parser.add_argument("--endpoint-url", default="", help="an S3-compatible endpoint instead of AWS's")
    args = parser.parse_args(argv)
    try:
        target = load_target(args.stack_file, args.key)
        outputs = read_outputs(args.outputs)
        needed = {key: require(outputs, key) for key in ("backup_locations", "backup_credentials")}
        installation = target.installation
        job, key_id, secret = job_from_outputs(installation, layout_from_config(installation.on_premise), needed,
                                               args.endpoint_url)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (OutputsError, KeyError, TypeError, ValueError) as error:
        print(f"--outputs {args.outputs}: {error}", file=sys.stderr)
        return 2
    try:
        with Connection(target.access) as connection:
            report = check_connectivity(connection, job, key_id, secret)
            print("\n".join(report.lines()))
            recorded = record_check(connection, job, key_id, secret, report, datetime.now(timezone.utc))
    except HostError as error:
        return host_failure(error, EXIT_CODES)
    print(recorded.line(), file=sys.stdout if not recorded.missing else sys.stderr)
    return 0 if report.sufficient and len(recorded.missing) < recorded.locations else 1


if __name__ == "__main__":
    sys.exit(main())

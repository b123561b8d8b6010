#!/usr/bin/env python3
"""Backup status of an installation: each technology's (cloud) or location's (on-premise) newest
backup, its age and the verdict.

    pulumi stack output freshness_targets > /tmp/acme.json
    scripts/backup_status.py --targets /tmp/acme.json

--targets also takes `pulumi stack output --json`, `pulumi stack export` or the stack's state file
(no CLI needed where the state can be read). On-premise stacks list each location's last restore
drill too: when it last succeeded, how long its transfer and the rest took, and whether the last one
failed.

The same check the installation's Lambda runs every 15 minutes (components/freshness.py), for a
person: a table, exit code 0 when everything is fresh, 1 when anything is stale, missing, failed
(an on-premise location whose last run failed) or could not be read, 2 on bad input. The block-level
line is as old as the oldest data volume's newest recovery point. AWS credentials come from the
usual places.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import _repo  # noqa: F401  (repo root on sys.path)

from components.freshness import Watch, boto3_clients, check, format_table, publish
from components.stack_outputs import OutputsError


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--targets", required=True,
                        help="file with the stack output freshness_targets (JSON), or - for stdin")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--publish", action="store_true", help="also publish the ages as metrics")
    parser.add_argument("--as-of", help="judge ages as of this ISO time instead of now (what-if)")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)

    try:
        text = sys.stdin.read() if args.targets == "-" else open(args.targets, encoding="utf-8").read()
        watch = Watch.from_document(json.loads(text))
        now = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
    except (OSError, ValueError, KeyError, TypeError, OutputsError) as error:
        print(f"--targets {args.targets}: not the freshness_targets stack output, the outputs, an export or a "
              f"state file of a stack ({error})", file=sys.stderr)
        return 2
    clients = boto3_clients(args.endpoint_url)
    findings = check(watch, clients, now)
    if args.publish:
        publish(watch, findings, clients)
    if args.json:
        print(json.dumps([{
            "technology": f.technology, "status": f.status, "age_hours": f.age_hours,
            "limit_hours": f.limit_hours, "newest": f.newest.isoformat() if f.newest else None,
            "error": f.error, "failed": f.failed, "detail": f.detail,
        } for f in findings], indent=2))
    else:
        sys.stdout.write(format_table(watch, findings))
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The monthly evidence that each customer's backup promise was kept: one HTML page per installation.

    scripts/evidence.py --month 2026-11 --state-dir states/ --out-dir evidence/
    scripts/statement.py --month 2026-11 --region eu-central-1 --output evidence/statement-2026-11.csv

For the month (UTC, as the statement's) and each technology or location, its restore drills and
deep checks: the share of hours within the promise (an hour with nothing measured counts as not),
the longest gap and when, failed runs, drills that succeeded; on-premise, the month's connectivity
checks (recorded by scripts/check_connectivity.py) (components/evidence.py). Writes
<out-dir>/<installation>-<month>.html; --state-dir as scripts/fleet_health.py takes it. AWS
credentials need cloudwatch:GetMetricData, and s3:ListBucket and s3:GetObject on the on-premise
locations' status/ prefix; CloudWatch keeps hourly data 455 days.
Exit codes: 0 every promise kept in every hour, 1 not, or something could not be read (the pages say
where), 2 bad input.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import _repo

from components.billing import StatementError, month_days
from components.evidence import month_evidence, write_pages
from components.health import raw_timestamp_clients, read_states


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--month", required=True, help="the month, YYYY-MM (UTC)")
    parser.add_argument("--state-dir", type=Path, required=True, help="one <stack>.json per installation")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the pages go (it must exist)")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)
    try:
        first, _ = month_days(args.month)
    except StatementError as error:
        print(f"evidence: {error}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    if first > now.date():
        print(f"evidence: {args.month} has not begun", file=sys.stderr)
        return 2
    if not args.out_dir.is_dir():
        print(f"evidence: --out-dir {args.out_dir} does not exist; create it", file=sys.stderr)
        return 2
    watches, _, unreadable = read_states(args.state_dir) if args.state_dir.is_dir() else ([], {}, [])
    for name, why in unreadable:
        print(f"evidence: {name} cannot be read, no page for it: {why}", file=sys.stderr)
    if not watches:
        print(f"evidence: --state-dir {args.state_dir}: no readable <stack>.json", file=sys.stderr)
        return 2
    months, _ = month_evidence(watches, raw_timestamp_clients(args.endpoint_url), args.month, now)
    if not months[0].cells or not months[0].cells[0].hours:
        print(f"evidence: no whole hour of {args.month} has passed yet", file=sys.stderr)
        return 2
    print("\n".join(write_pages(months, args.out_dir)))
    return 0 if all(m.kept and m.complete_evidence for m in months) and not unreadable else 1


if __name__ == "__main__":
    sys.exit(main())

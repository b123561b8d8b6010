#!/usr/bin/env python3
"""Is every customer's backup promise kept right now? The fleet's backup health, one row each.

    scripts/fleet_health.py --state-dir states/                  # a table; the worst first
    scripts/fleet_health.py --state-dir states/ --json           # for tools
    scripts/fleet_health.py --state-dir states/ --html health.html   # the page (docs/operate.md)

--state-dir holds one <stack>.json per installation: `pulumi stack output --json`, `pulumi stack
export` or the backend's state file (no secret is needed). For each, the last 30 days of what its
checker publishes to CloudWatch are read, 500 series a request (components/health.py): every
technology or location is fresh, stale, failed or unknown (nothing published for two hours), with
its age against its limit and, on the page, a strip of the 30 days; with --drills, each drill's
last result (when, result, the restore's time with the connectivity's share apart). AWS credentials come from the
usual places and need cloudwatch:GetMetricData in the installations' regions (and, for
--drills, s3:GetObject and s3:ListBucket on the drills' status objects).
Exit codes: 0 every promise kept, 1 any broken or unknown, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import _repo

from components.health import raw_timestamp_clients, Row, as_json, health, read_states, render_table
from components.health_page import render_page


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="one <stack>.json per installation (stack output --json, export or state file)")
    parser.add_argument("--json", action="store_true", help="the view as JSON, for tools")
    parser.add_argument("--html", type=Path, help="also write the page to this file")
    parser.add_argument("--drills", action="store_true",
                        help="each drill's last result too: when, result, restore time (reads its result objects in S3)")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)
    if not args.state_dir.is_dir() or not any(args.state_dir.glob("*.json")):
        print(f"--state-dir {args.state_dir}: no <stack>.json in it; export each stack's outputs there "
              "(pulumi stack output --json --stack NAME > DIR/NAME.json)", file=sys.stderr)
        return 2
    if args.html and not args.html.parent.is_dir():
        print(f"--html {args.html}: the folder {args.html.parent} does not exist", file=sys.stderr)
        return 2
    watches, included, failures = read_states(args.state_dir)
    unreadable = [Row(name.rsplit(".", 1)[0], [], error=f"{name} cannot be read: {why}") for name, why in failures]
    now = datetime.now(timezone.utc)
    rows, requests = health(watches, raw_timestamp_clients(args.endpoint_url), now, included, drills=args.drills)
    rows = unreadable + rows  # unknown is failure: the unreadable first
    if args.html:
        args.html.write_text(render_page(rows, now), encoding="utf-8")
    if args.json:
        print(json.dumps(as_json(rows, requests), indent=2))
    else:
        sys.stdout.write(render_table(rows))
        print(f"({requests} GetMetricData requests for {len(watches)} installations)")
    return 0 if rows and all(r.kept for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

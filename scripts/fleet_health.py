#!/usr/bin/env python3
"""Is every customer's backup promise kept right now? The fleet's backup health, one row each.

    scripts/fleet_health.py --state-dir states/                  # a table; the worst first
    scripts/fleet_health.py --state-dir states/ --json           # for tools
    scripts/fleet_health.py --state-dir states/ --html health.html   # the page (docs/operate.md)

--state-dir holds one <stack>.json per installation: `pulumi stack output --json`, `pulumi stack
export` or the backend's state file (no secret is needed). For each, the last 30 days of what its
checker publishes to CloudWatch are read, 500 series a request (components/health.py): every
technology or location is fresh, stale, failed or unknown (nothing published for two hours), with
its age against its limit and, on the page, a strip of the 30 days. AWS credentials come from the
usual places and need cloudwatch:GetMetricData in the installations' regions.
Exit codes: 0 every promise kept, 1 any broken or unknown, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import _repo

from components.freshness import Watch, boto3_clients
from components.health import Row, as_json, health, render_table
from components.health_page import render_page
from components.stack_outputs import outputs_of


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="one <stack>.json per installation (stack output --json, export or state file)")
    parser.add_argument("--json", action="store_true", help="the view as JSON, for tools")
    parser.add_argument("--html", type=Path, help="also write the page to this file")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)
    files = sorted(args.state_dir.glob("*.json")) if args.state_dir.is_dir() else []
    if not files:
        print(f"--state-dir {args.state_dir}: no <stack>.json in it; export each stack's state there "
              "(pulumi stack export --stack NAME > DIR/NAME.json)", file=sys.stderr)
        return 2
    if args.html and not args.html.parent.is_dir():
        print(f"--html {args.html}: the folder {args.html.parent} does not exist", file=sys.stderr)
        return 2
    watches, included, unreadable = [], {}, []
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            watch = Watch.from_document(document)
        except (OSError, ValueError, KeyError) as error:  # OutputsError is a ValueError
            unreadable.append(Row(path.stem, [], error=f"{path.name} cannot be read: {error}"))
            continue
        watches.append(watch)
        storage = outputs_of(document).get("storage")
        if isinstance(storage, dict) and storage.get("included_gb") is not None:
            included[watch.installation_id] = float(storage["included_gb"])
    now = datetime.now(timezone.utc)
    rows, requests = health(watches, boto3_clients(args.endpoint_url), now, included)
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

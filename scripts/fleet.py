#!/usr/bin/env python3
"""The fleet: every stack file planned offline, one row per installation.

    scripts/fleet.py                 # every Pulumi.<stack>.yaml in the repo
    scripts/fleet.py --json          # for tools
    scripts/fleet.py Pulumi.a.yaml Pulumi.b.yaml
    scripts/fleet.py --state-dir states/   # and each one's last restore drills (AWS credentials)
                                     # and the toolkit version each runs (no credentials for that)

Columns: installation, hosting, backup technologies (or locations) and times, regions, fees,
guardrail status; with --state-dir (one <stack>.json per stack: `pulumi stack export` or the
backend's state file) the last restore drills: when each last succeeded, its transfer and restore
times, a failed last drill. Exit code 0 when every stack plans and passes its guardrails, 1 otherwise,
2 when --state-dir is not a folder.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import _repo

from components.fleet import default_stack_files, exit_code, fleet, render_table


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("stack_files", nargs="*", type=Path,
                        help="Pulumi.<stack>.yaml files (default: every one in the repository)")
    parser.add_argument("--json", action="store_true", help="one JSON object per installation, for tools")
    parser.add_argument("--no-examples", action="store_true", help="leave out Pulumi.example-*.yaml")
    parser.add_argument("--state-dir", type=Path, help="directory of <stack>.json state exports: show the last drills")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)
    if args.state_dir and not args.state_dir.is_dir():
        print(f"fleet: --state-dir {args.state_dir} is not a folder; give the one with the <stack>.json state "
              "exports", file=sys.stderr)
        return 2
    files = args.stack_files or default_stack_files(_repo.REPO_ROOT, not args.no_examples)
    client_for = None
    if args.state_dir:
        from components.freshness import boto3_clients

        client_for = boto3_clients(args.endpoint_url)
    rows = fleet(files, args.state_dir, client_for)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        sys.stdout.write(render_table(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

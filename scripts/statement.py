#!/usr/bin/env python3
"""Monthly statement: what each installation owes for a month, from the fee ledger and its storage readings.

    scripts/statement.py --month 2027-03 --region eu-central-1                 # every installation
    scripts/statement.py --month 2027-03 --region eu-central-1 --installation acme-onprem
    scripts/statement.py --month 2027-03 --stack Pulumi.acme-onprem.yaml --format json
    scripts/statement.py --month 2027-03 --region eu-central-1 --output out/statement-2027-03.csv \
        --evidence-dir out --state-dir states

Per installation: the 9.03 line, the 9.04 line (on-premise), the 6.21 one-off in the month the
contract starts, and storage above the included GB with its quantity and price; prices as the
ledger held them in that month. The rules (pro rata days, how storage is measured and rounded) are
in docs/operate.md ("Billing: the monthly statement") and components/billing.py. Without --installation or --stack, every
installation with a contract record in the ledger that is billed in the month.

With --evidence-dir and --state-dir (one <stack>.json per installation, as scripts/fleet_health.py
takes it), each billed installation's monthly evidence is written beside the statement as
<evidence-dir>/<installation>-<month>.html (scripts/evidence.py, components/evidence.py), to be sent
with the invoice; whether each promise was kept is said on stderr. A billed installation without a
readable state, or whose evidence cannot be read in full, makes the statement incomplete.

AWS credentials come from the usual places; they need dynamodb:Query/Scan/DescribeTable on the
ledger and cloudwatch:GetMetricData (and, for the evidence, s3:ListBucket and s3:GetObject on the
on-premise locations' status/ prefix). --endpoint-url points at another AWS API (tests: moto).
Exit codes: 0 the statement is complete, 1 written but incomplete (e.g. no storage readings; each
problem is on stderr) or the ledger cannot be read, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (repo root on sys.path)

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from components.billing import (CSV_COLUMNS, StatementError, daily_readings, document, fetch_readings,
                                from_ledger, month_days, rows, statement)
from components.ledger_table import LedgerError, check_schema, contract_ids, list_records


def installations_to_bill(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """(table, region, installation ids) groups from --stack or --table/--region/--installation."""
    if args.stack:
        from components.config import ConfigError
        from components.offline import StackFileError, installation_of, read_stack_file

        groups: dict[tuple[str, str], list[str]] = {}
        for path in args.stack:
            try:
                installation = installation_of(read_stack_file(path))
            except (StackFileError, ConfigError) as error:
                raise StatementError(f"--stack {path}: {error}") from None
            groups.setdefault((installation.ledger.table, installation.ledger.region), []).append(installation.id)
        return [(table, region, ids) for (table, region), ids in groups.items()]
    if not args.region:
        raise StatementError("give --region (the ledger table's AWS region) or --stack")
    return [(args.table, args.region, args.installation or [])]


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--month", required=True, help="the month billed, YYYY-MM (UTC)")
    parser.add_argument("--stack", action="append", help="a stack file; its installation and ledger (repeatable)")
    parser.add_argument("--installation", action="append", help="an installation id (repeatable; default: all)")
    parser.add_argument("--table", default="daktela-fee-ledger", help="ledger table name")
    parser.add_argument("--region", help="AWS region of the ledger table")
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="csv for the invoice, json for tools")
    parser.add_argument("--output", help="write here instead of stdout")
    parser.add_argument("--evidence-dir", type=Path,
                        help="write each billed installation's monthly evidence here (with --state-dir)")
    parser.add_argument("--state-dir", type=Path, help="one <stack>.json per installation (for --evidence-dir)")
    parser.add_argument("--endpoint-url", help="another AWS API endpoint (tests use a moto server)")
    args = parser.parse_args(argv)

    try:
        first, last = month_days(args.month)
        groups = installations_to_bill(args)
    except StatementError as error:
        print(f"statement: {error}", file=sys.stderr)
        return 2
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        print(f"statement: --output {args.output}: the folder {os.path.dirname(os.path.abspath(args.output))} "
              "does not exist; create it or write elsewhere", file=sys.stderr)
        return 2
    for given, needed in (("evidence_dir", "state_dir"), ("state_dir", "evidence_dir")):
        if getattr(args, given) and not getattr(args, needed):
            print(f"statement: --{given.replace('_', '-')} needs --{needed.replace('_', '-')} too", file=sys.stderr)
            return 2
        folder = getattr(args, given)
        if folder and not folder.is_dir():
            print(f"statement: --{given.replace('_', '-')} {folder} is not a folder; create it", file=sys.stderr)
            return 2

    statements, problems = [], []
    session = boto3.session.Session()
    try:
        for table, region, ids in groups:
            ledger = session.client("dynamodb", region_name=region, endpoint_url=args.endpoint_url)
            check_schema(ledger, table)
            for installation_id in ids or contract_ids(ledger, table):
                try:
                    contract, records = from_ledger(installation_id, list_records(ledger, table, installation_id))
                except StatementError as error:
                    problems.append(str(error))
                    continue
                cloudwatch = session.client("cloudwatch", region_name=contract.metrics_region,
                                            endpoint_url=args.endpoint_url)
                readings = daily_readings(fetch_readings(cloudwatch, contract, first, last))
                result = statement(contract, records, readings, args.month)
                if result.lines or args.installation or args.stack:
                    statements.append(result)
    except (LedgerError, StatementError) as error:
        print(f"statement: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"statement: AWS said: {error}", file=sys.stderr)
        return 1

    text = render(args.format, args.month, statements)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    problems += [p for s in statements for p in s.problems]
    if args.evidence_dir:
        billed = [s.contract.installation_id for s in statements if s.lines]
        problems += evidence_beside(billed, args.month, args.state_dir, args.evidence_dir, args.endpoint_url)
    for s in statements:
        if not s.lines:
            print(f"statement: {s.contract.installation_id} is not billed in {args.month} (contract "
                  f"{s.contract.start_date} to {s.contract.end_date or 'open'})", file=sys.stderr)
    for problem in problems:
        print(f"statement: INCOMPLETE: {problem}", file=sys.stderr)
    return 1 if problems else 0


def evidence_beside(billed: list[str], month: str, state_dir: Path, out_dir: Path,
                    endpoint_url: str | None) -> list[str]:
    """Write the billed installations' evidence pages; the problems that leave one missing or partial."""
    from components.evidence import month_evidence, write_pages
    from components.health import raw_timestamp_clients, read_states

    watches, _, unreadable = read_states(state_dir)
    problems = [f"{name} in --state-dir cannot be read: {why}" for name, why in unreadable]
    found = {w.installation_id: w for w in watches}
    problems += [f"no evidence for {i}: no <stack>.json with its freshness_targets in --state-dir {state_dir}"
                 for i in billed if i not in found]
    wanted = [found[i] for i in billed if i in found]
    if not wanted:
        return problems
    months, _ = month_evidence(wanted, raw_timestamp_clients(endpoint_url), month, datetime.now(timezone.utc))
    if not months[0].cells or not months[0].cells[0].hours:
        return problems + [f"no evidence for {month}: no whole hour of it has passed yet"]
    for line in write_pages(months, out_dir):
        print(f"statement: evidence {line}", file=sys.stderr)
    return problems + [f"the evidence of {m.installation} is partial: connectivity checks unreadable in {why}"
                       for m in months for why in m.connectivity_unreadable]


def render(form: str, month: str, statements: list[Any]) -> str:
    if form == "json":
        return json.dumps(document(month, statements), indent=2, sort_keys=True) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(statements))
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The fee ledger: create its DynamoDB table once, list an installation's records, migrate a table.

    scripts/ledger.py create-table --table daktela-fee-ledger --region eu-central-1
    scripts/ledger.py list acme-onprem --table daktela-fee-ledger --region eu-central-1 [--json]
    scripts/ledger.py migrate --from OLD-TABLE --table NEW-TABLE --region eu-central-1

`migrate` copies a table made before price history (keyed by fee code) into a new one; the old
table is left as it was. Monthly statements: scripts/statement.py.

AWS credentials come from the usual places (environment, ~/.aws, instance role); --endpoint-url
points at another DynamoDB API (tests use a moto server on loopback).
Exit codes: 0 done, 1 nothing found or a problem the message explains, 2 bad arguments.
"""

from __future__ import annotations

import json
import sys

import _repo  # noqa: F401  (repo root on sys.path)

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from components.catalogue import CONTRACT_RECORD
from components.ledger_table import LedgerError, create_table, format_records, list_records, migrate, money


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("create-table", "create the ledger table if it does not exist"),
                            ("list", "list one installation's contract and fee records"),
                            ("migrate", "copy a table keyed by fee code into a new one with price history")):
        command = commands.add_parser(name, help=help_text)
        if name == "list":
            command.add_argument("installation_id")
            command.add_argument("--json", action="store_true", help="print JSON")
        if name == "migrate":
            command.add_argument("--from", dest="source", required=True, help="the earlier table (left as it is)")
        command.add_argument("--table", default="daktela-fee-ledger", help="ledger table name")
        command.add_argument("--region", required=True, help="AWS region of the ledger table")
        command.add_argument("--endpoint-url", help="DynamoDB endpoint (for tests and local APIs)")
    args = parser.parse_args(argv)

    client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    try:
        if args.command == "create-table":
            outcome = create_table(client, args.table)
            print(f"ledger table {args.table} in {args.region}: {outcome}")
            return 0
        if args.command == "migrate":
            copied, present = migrate(client, args.source, args.table)
            print(f"copied {copied} records from {args.source} into {args.table} ({present} were there "
                  f"already); set ledger.table: {args.table} in every stack and run pulumi up")
            return 0
        records = list_records(client, args.table, args.installation_id)
    except LedgerError as error:
        print(f"ledger: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"ledger: AWS said: {error}", file=sys.stderr)
        return 1
    if not records:
        print(f"no fee records for installation {args.installation_id} in {args.table}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{**r, **({"price": money(r["price"])} if "price" in r else {})} for r in records], default=str, indent=2, sort_keys=True))
    else:
        print(f"Fee records of {args.installation_id} in {args.table} ({args.region}):")
        for contract in (r for r in records if r.get("record") == CONTRACT_RECORD):
            print(f"contract: {contract.get('customer')}, {contract.get('hosting')}, {contract.get('currency')}, "
                  f"from {contract.get('start_date')} to {contract.get('end_date') or '(open)'}, "
                  f"{contract.get('included_storage_gb')} GB included")
        sys.stdout.write(format_records(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())

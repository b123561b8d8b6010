"""The fee ledger table itself, through boto3: create it once per company, read its records, and
copy a table made by an earlier version (keyed by fee code alone) into one with today's key.

The Pulumi program only writes records (components/fees.py); the table is shared by every
installation's stack, so it is made here, once, and never by a stack that could destroy it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from components.catalogue import CONTRACT_RECORD, LEDGER_HASH_KEY, LEDGER_RANGE_KEY

# Tables made before price history (issue 14) were keyed by (installation_id, fee_code).
EARLIER_RANGE_KEY = "fee_code"

KEY_SCHEMA = [
    {"AttributeName": LEDGER_HASH_KEY, "KeyType": "HASH"},
    {"AttributeName": LEDGER_RANGE_KEY, "KeyType": "RANGE"},
]


class LedgerError(Exception):
    """Something a person must fix before the ledger can be used; the message says what."""


def create_table(client: Any, table: str) -> str:
    """Create the ledger table (on-demand, deletion-protected, point-in-time recovery).

    Returns "created" or "exists"; an existing table with another key schema is an error,
    never altered or replaced.
    """
    try:
        described = client.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    else:
        if sorted(described["KeySchema"], key=lambda k: k["KeyType"]) != KEY_SCHEMA:
            raise LedgerError(
                f"table {table} exists with key schema {described['KeySchema']}, not "
                f"({LEDGER_HASH_KEY}, {LEDGER_RANGE_KEY}); choose another ledger.table"
                + (f", or copy it into one: scripts/ledger.py migrate --from {table} --table NEW"
                   if _range_key(described) == EARLIER_RANGE_KEY else "")
            )
        return "exists"
    client.create_table(
        TableName=table,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=[
            {"AttributeName": LEDGER_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": LEDGER_RANGE_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True,  # billing history is never deleted
        Tags=[{"Key": "daktela-purpose", "Value": "fee-ledger"}],
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    return "created"


def _range_key(described: dict) -> str:
    return next((k["AttributeName"] for k in described["KeySchema"] if k["KeyType"] == "RANGE"), "")


def check_schema(client: Any, table: str) -> None:
    """Refuse a table that is missing or keyed otherwise, saying what to do."""
    try:
        described = client.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise _missing(table) from None
        raise
    if _range_key(described) == EARLIER_RANGE_KEY:
        raise LedgerError(
            f"table {table} was made by an earlier version of the toolkit (one record per fee code, no "
            f"price history); copy it into a new table with: scripts/ledger.py migrate --from {table} "
            "--table NEW --region REGION, then set ledger.table to NEW in every stack and run pulumi up")
    if _range_key(described) != LEDGER_RANGE_KEY:
        raise LedgerError(f"table {table} is not a fee ledger (its key schema is {described['KeySchema']})")


def _missing(table: str) -> LedgerError:
    return LedgerError(
        f"table {table} does not exist; create it with: scripts/ledger.py create-table "
        f"--table {table} --region REGION")


def _items(client: Any, operation: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a query or scan, page after page, as plain Python values."""
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    request = {**request, "ConsistentRead": True}
    try:
        while True:
            page = getattr(client, operation)(**request)
            items += [{k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise _missing(request["TableName"]) from None
        raise


def list_records(client: Any, table: str, installation_id: str) -> list[dict[str, Any]]:
    """Every record of one installation: its fee records, then its contract record."""
    records = _items(client, "query", {
        "TableName": table,
        "KeyConditionExpression": "#id = :id",
        "ExpressionAttributeNames": {"#id": LEDGER_HASH_KEY},
        "ExpressionAttributeValues": {":id": {"S": installation_id}},
    })
    # by fee code, each code's prices in date order, the contract record last
    return sorted(records, key=lambda r: (str(r.get("fee_code", "\uffff")), str(r.get("effective_from", ""))))


def contract_ids(client: Any, table: str) -> list[str]:
    """Every installation with a contract record in the ledger: the fleet a statement covers."""
    found = _items(client, "scan", {
        "TableName": table,
        "FilterExpression": "#record = :contract",
        "ExpressionAttributeNames": {"#record": LEDGER_RANGE_KEY},
        "ExpressionAttributeValues": {":contract": {"S": CONTRACT_RECORD}},
        "ProjectionExpression": LEDGER_HASH_KEY,
    })
    return sorted({str(item[LEDGER_HASH_KEY]) for item in found})


def migrate(client: Any, source: str, target: str) -> tuple[int, int]:
    """Copy every record of a table keyed by fee code into `target` (created if missing), keyed by
    record: a record made before price history is the price from its contract's start, so its
    record key is its fee code. Nothing in `source` changes and nothing in `target` is
    overwritten. Returns (copied, already there). Each stack's next `pulumi up` adds its contract
    record."""
    described = client.describe_table(TableName=source)["Table"]
    if _range_key(described) != EARLIER_RANGE_KEY:
        raise LedgerError(f"table {source} is not keyed by {EARLIER_RANGE_KEY}; there is nothing to migrate")
    create_table(client, target)
    serializer = TypeSerializer()
    copied = present = 0
    for item in _items(client, "scan", {"TableName": source}):
        item[LEDGER_RANGE_KEY] = item[EARLIER_RANGE_KEY]
        try:
            client.put_item(
                TableName=target, Item={k: serializer.serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(#record)",
                ExpressionAttributeNames={"#record": LEDGER_RANGE_KEY})
            copied += 1
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            present += 1
    return copied, present


def format_records(records: list[dict[str, Any]]) -> str:
    """A fixed-width table for people."""
    header = ("code", "kind", "price", "currency", "effective from", "name")
    rows = [header] + [
        (
            r.get("fee_code", ""),
            r.get("kind", ""),
            money(r.get("price")),
            r.get("currency", ""),
            r.get("effective_from", ""),
            r.get("fee_name", ""),
        )
        for r in records if r.get(LEDGER_RANGE_KEY) != CONTRACT_RECORD
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
        for row in rows
    ) + "\n"


def money(value: Any) -> str:
    """A price for people: two decimals (DynamoDB stores 450.00 as 450), more only when it has them."""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if -value.as_tuple().exponent <= 2 else str(value)  # type: ignore[operator]
    return "" if value is None else str(value)

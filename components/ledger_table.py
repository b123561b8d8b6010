"""The fee ledger table itself, through boto3: create it once per company, read an installation's records.

The Pulumi program only writes records (components/fees.py); the table is shared by every
installation's stack, so it is made here, once, and never by a stack that could destroy it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from components.fees import LEDGER_HASH_KEY, LEDGER_RANGE_KEY

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


def list_records(client: Any, table: str, installation_id: str) -> list[dict[str, Any]]:
    """Every fee record of one installation, by fee code."""
    deserializer = TypeDeserializer()
    records: list[dict[str, Any]] = []
    request = {
        "TableName": table,
        "KeyConditionExpression": "#id = :id",
        "ExpressionAttributeNames": {"#id": LEDGER_HASH_KEY},
        "ExpressionAttributeValues": {":id": {"S": installation_id}},
        "ConsistentRead": True,
    }
    try:
        while True:
            page = client.query(**request)
            records += [{k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise LedgerError(
                f"table {table} does not exist; create it with: scripts/ledger.py create-table "
                f"--table {table} --region REGION"
            ) from None
        raise
    return sorted(records, key=lambda r: r[LEDGER_RANGE_KEY])


def format_records(records: list[dict[str, Any]]) -> str:
    """A fixed-width table for people."""
    header = ("code", "kind", "price", "currency", "effective from", "name")
    rows = [header] + [
        (
            r[LEDGER_RANGE_KEY],
            r.get("kind", ""),
            money(r.get("price")),
            r.get("currency", ""),
            r.get("effective_from", ""),
            r.get("fee_name", ""),
        )
        for r in records
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

"""scripts/ledger.py against a real DynamoDB API (moto server on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import boto3
import pytest

from components.config import parse_installation
from components.fees import fee_records
from components.ledger_table import LedgerError, create_table
from tests.conftest import REPO, example_installation

LEDGER = [sys.executable, str(REPO / "scripts" / "ledger.py")]
REGION = "eu-central-1"


def ledger_cli(env, endpoint, *args):
    return subprocess.run(
        [*LEDGER, *args, "--region", REGION, "--endpoint-url", endpoint],
        capture_output=True, text=True, env=env, timeout=60,
    )


@pytest.fixture
def table(aws_env, moto_endpoint):
    return f"ledger-{uuid.uuid4().hex[:8]}"


def client(endpoint):
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)


def test_create_table_makes_a_protected_table_once(aws_env, moto_endpoint, table):
    first = ledger_cli(aws_env, moto_endpoint, "create-table", "--table", table)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"ledger table {table} in {REGION}: created"
    described = client(moto_endpoint).describe_table(TableName=table)["Table"]
    assert [k["AttributeName"] for k in described["KeySchema"]] == ["installation_id", "fee_code"]
    assert described["DeletionProtectionEnabled"] is True
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    backups = client(moto_endpoint).describe_continuous_backups(TableName=table)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"

    again = ledger_cli(aws_env, moto_endpoint, "create-table", "--table", table)
    assert again.returncode == 0 and again.stdout.strip().endswith(": exists")


def test_existing_table_with_another_schema_is_refused_not_altered(aws_env, moto_endpoint, table):
    dynamodb = client(moto_endpoint)
    dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(LedgerError, match="exists with key schema"):
        create_table(dynamodb, table)
    result = ledger_cli(aws_env, moto_endpoint, "create-table", "--table", table)
    assert result.returncode == 1 and "choose another ledger.table" in result.stderr
    assert dynamodb.describe_table(TableName=table)["Table"]["KeySchema"][0]["AttributeName"] == "pk"


def test_list_shows_the_records_the_program_writes(aws_env, moto_endpoint, table):
    assert ledger_cli(aws_env, moto_endpoint, "create-table", "--table", table).returncode == 0
    dynamodb = client(moto_endpoint)
    for hosting in ("on-premise", "cloud"):
        # The very items the FeeLedger component passes to TableItem, written as the provider would.
        for record in fee_records(parse_installation(example_installation(hosting))):
            dynamodb.put_item(TableName=table, Item=record.item())

    result = ledger_cli(aws_env, moto_endpoint, "list", "acme-onprem", "--table", table)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Fee records of acme-onprem in {table} ({REGION}):"
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"6.21", "9.03", "9.03-storage", "9.04"}  # nothing of acme-cloud
    assert rows["6.21"][1:4] == ["one-off", "1500.00", "EUR"]
    assert rows["9.03-storage"][1:5] == ["per-GB", "monthly", "0.25", "EUR"]

    as_json = json.loads(ledger_cli(aws_env, moto_endpoint, "list", "acme-cloud", "--table", table,
                                    "--json").stdout)
    assert [r["fee_code"] for r in as_json] == ["9.03", "9.03-storage"]
    assert as_json[0]["price"] == "450.00" and as_json[0]["effective_from"] == "2026-12-01"


def test_list_explains_a_missing_table_and_an_unknown_installation(aws_env, moto_endpoint, table):
    missing = ledger_cli(aws_env, moto_endpoint, "list", "acme", "--table", table)
    assert missing.returncode == 1
    assert f"table {table} does not exist; create it with: scripts/ledger.py create-table" in missing.stderr

    assert ledger_cli(aws_env, moto_endpoint, "create-table", "--table", table).returncode == 0
    empty = ledger_cli(aws_env, moto_endpoint, "list", "nobody", "--table", table)
    assert empty.returncode == 1 and "no fee records for installation nobody" in empty.stderr


def dynamodb_returns(number: str) -> str:
    """DynamoDB's canonical form of a stored number (what GetItem returns): leading and trailing
    zeros trimmed, no exponent. moto returns numbers as they were written, so this is the check
    moto cannot make."""
    from decimal import Decimal

    value = Decimal(number)
    text = format(value.normalize(), "f")
    return "0" if value == 0 else text


def test_dynamodb_canonical_form_is_what_this_test_thinks():
    assert [dynamodb_returns(n) for n in ("450.00", "0.250", "1E+2", "007", "0.0", "12.5")] == [
        "450", "0.25", "100", "7", "0", "12.5"]


@pytest.mark.parametrize("hosting", ["cloud", "on-premise"])
def test_ledger_items_round_trip_unchanged_so_an_unchanged_stack_previews_no_change(
        aws_env, moto_endpoint, table, hosting):
    """Issue 11: "N": "450.00" came back as "450", and every preview showed every fee record changed."""
    from tests.conftest import plan_of

    create_table(client(moto_endpoint), table)
    plan = plan_of(example_installation(hosting))
    items = [json.loads(r.inputs["item"]) for r in plan.of_type("aws:dynamodb/tableItem:TableItem")]
    assert items
    ddb = client(moto_endpoint)
    for item in items:
        for value in item.values():
            if "N" in value:
                assert value["N"] == dynamodb_returns(value["N"]), value
        ddb.put_item(TableName=table, Item=item)
        key = {k: item[k] for k in ("installation_id", "fee_code")}
        assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item

"""scripts/ledger.py against a real DynamoDB API (moto server on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import boto3
import pytest

from components.config import parse_installation
from components.fees import contract_item, fee_records
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
    assert [k["AttributeName"] for k in described["KeySchema"]] == ["installation_id", "record"]
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
        config = example_installation(hosting)
        config["contract"]["price_changes"] = [{"effective_from": "2027-07-01", "prices": {"installation_monthly": 480}}]
        installation = parse_installation(config)
        # The very items the FeeLedger component passes to TableItem, written as the provider would.
        for item in [contract_item(installation)] + [r.item() for r in fee_records(installation)]:
            dynamodb.put_item(TableName=table, Item=item)

    result = ledger_cli(aws_env, moto_endpoint, "list", "acme-onprem", "--table", table)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Fee records of acme-onprem in {table} ({REGION}):"
    assert lines[1] == ("contract: ACME Contact s.r.o., on-premise, EUR, from 2026-12-01 to (open), "
                        "100 GB included")
    rows = [line.split() for line in lines[3:]]
    assert [(r[0], r[-1] if r[0] == "6.21" else "") for r in rows] == [  # nothing of acme-cloud
        ("6.21", "(one-off)"), ("9.03", ""), ("9.03", ""), ("9.03-storage", ""), ("9.04", "")]
    assert rows[0][1:4] == ["one-off", "1500.00", "EUR"]
    assert [r[2:5] for r in rows if r[0] == "9.03"] == [["450.00", "EUR", "2026-12-01"], ["480.00", "EUR", "2027-07-01"]]
    assert rows[3][1:5] == ["per-GB", "monthly", "0.25", "EUR"]

    as_json = json.loads(ledger_cli(aws_env, moto_endpoint, "list", "acme-cloud", "--table", table,
                                    "--json").stdout)
    assert [r.get("fee_code") for r in as_json] == ["9.03", "9.03", "9.03-storage", None]  # the contract last
    assert as_json[0]["price"] == "450.00" and as_json[0]["effective_from"] == "2026-12-01"
    assert as_json[1]["record"] == "9.03@2027-07-01" and as_json[3]["record"] == "contract"


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
        key = {k: item[k] for k in ("installation_id", "record")}
        assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item


def create_earlier_table(dynamodb, name: str) -> None:
    """A ledger table as the toolkit made it before price history: keyed by fee code."""
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "installation_id", "KeyType": "HASH"},
                   {"AttributeName": "fee_code", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "installation_id", "AttributeType": "S"},
                              {"AttributeName": "fee_code", "AttributeType": "S"}])


def test_migrate_copies_an_earlier_table_keyed_by_fee_code_and_changes_nothing_there(aws_env, moto_endpoint, table):
    dynamodb = client(moto_endpoint)
    old = f"{table}-v1"
    create_earlier_table(dynamodb, old)
    earlier = []  # the items the toolkit wrote before price history: no "record" attribute
    for record in fee_records(parse_installation(example_installation("on-premise"))):
        item = {k: v for k, v in record.item().items() if k != "record"}
        dynamodb.put_item(TableName=old, Item=item)
        earlier.append(item)

    refused = ledger_cli(aws_env, moto_endpoint, "create-table", "--table", old)
    assert refused.returncode == 1 and f"scripts/ledger.py migrate --from {old} --table NEW" in refused.stderr

    result = ledger_cli(aws_env, moto_endpoint, "migrate", "--from", old, "--table", table)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"copied 4 records from {old} into {table} (0 were there already)")
    migrated = {i["record"]["S"]: i for i in dynamodb.scan(TableName=table)["Items"]}
    assert set(migrated) == {"9.03", "9.03-storage", "9.04", "6.21"}
    # the same records the program now writes for the contract's start (so no preview shows a change)
    for record in fee_records(parse_installation(example_installation("on-premise"))):
        assert migrated[record.key] == record.item()
    assert sorted(dynamodb.scan(TableName=old)["Items"], key=str) == sorted(earlier, key=str)

    again = ledger_cli(aws_env, moto_endpoint, "migrate", "--from", old, "--table", table)
    assert again.stdout.startswith(f"copied 0 records from {old} into {table} (4 were there already)")

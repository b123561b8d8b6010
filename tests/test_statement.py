"""Monthly statements from the ledger and the storage readings, against a real DynamoDB and
CloudWatch API (moto server on loopback). Every expected amount is worked out by hand in a comment.

Where moto is looser than AWS: CloudWatch's PutMetricData refuses data points more than two weeks
old, moto takes any timestamp, so this test can write months of past readings (the meters only
ever publish the present); real CloudWatch keeps hourly data 455 days, so a statement can be made
up to 15 months back, moto keeps everything; CloudWatch stamps an aggregated data point with its
period's start, moto with the data point's own time (the statement bins readings into UTC days
itself, so either gives the same days; the readings here are at 17 minutes past the hour).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
import pytest

from components.billing import (Contract, PriceRecord, StatementError, daily_readings, month_days, price_periods,
                                statement)
from components.config import parse_installation
from components.fees import contract_item, fee_records
from components.ledger_table import create_table
from components.names import ATTACHMENTS_METRIC
from components.offline import read_stack_file, run_program
from tests.conftest import REPO, example_installation
from tests.test_ledger_scripts import create_earlier_table

STATEMENT = [sys.executable, str(REPO / "scripts" / "statement.py")]
REGION = "eu-central-1"
TABLE_ITEM = "aws:dynamodb/tableItem:TableItem"


# --------------------------------------------------------------------------------------------
# The fleet of the scenario


def installation(base: str, **changes: Any) -> dict:
    config = example_installation(base)
    contract = changes.pop("contract", {})
    config["contract"].update(contract)
    config.update(changes)
    return config


FLEET = {
    # On-premise since 2026-12-01; prices up on 2027-07-15 (9.03 450 -> 480, storage 0.25 -> 0.30).
    "acme-onprem": installation("on-premise", contract={"price_changes": [
        {"effective_from": "2027-07-15", "prices": {"installation_monthly": 480, "storage_per_gb": 0.30}}]}),
    # Cloud, set up mid-month: 2027-03-17.
    "acme-cloud": installation("cloud", contract={"start_date": "2027-03-17"}),
    # On-premise since 2026-11-01, torn down: the last day billed is 2027-02-10.
    "beta-onprem": installation("on-premise", id="beta-onprem",
                                contract={"start_date": "2026-11-01", "end_date": "2027-02-10"}),
    # Cloud in CZK whose meter sent nothing in March 2027.
    "gamma-cloud": installation("cloud", id="gamma-cloud", contract={
        "start_date": "2026-10-01", "currency": "CZK",
        "prices": {"installation_monthly": 11000, "storage_per_gb": 6}}),
}


def readings_of(installation_id: str) -> list[tuple[datetime, float]]:
    """Each day has four readings (every 6 hours); the day's largest is the one given here, the
    others are smaller so that only the maximum can make the expected figures."""
    daily: dict[date, float] = {}

    def days(first: str, last: str, value: float) -> None:
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            daily[day] = value
            day += timedelta(days=1)

    if installation_id == "acme-onprem":
        days("2026-12-01", "2026-12-31", 137.2)  # avg 137.2 -> 37.2 above 100 -> 38 GB
        days("2027-07-01", "2027-07-15", 100.0)  # (15 x 100 + 16 x 162) / 31 = 132.0 -> 32 GB
        days("2027-07-16", "2027-07-31", 162.0)
    elif installation_id == "acme-cloud":
        # readings only from the setup day on, and on 10 of its 15 billed days: 80 GB, below the included
        for day in range(17, 32):
            if day % 3:  # 17..31 without 18, 21, 24, 27, 30
                daily[date(2027, 3, day)] = 80.0
        daily[date(2027, 3, 16)] = 999.0  # before the contract: never counted
    elif installation_id == "beta-onprem":
        days("2027-02-01", "2027-02-28", 250.0)  # after the end date too: only 1..10 are billed
    points = []
    for day, value in daily.items():
        for hour, share in ((0, 0.9), (6, 1.0), (12, 0.95), (18, 0.5)):
            points.append((datetime(day.year, day.month, day.day, hour, 17, tzinfo=timezone.utc),
                           round(value * share, 3)))
    return points


# --------------------------------------------------------------------------------------------
# The world: ledger items as the program writes them, readings as the meters publish them


@pytest.fixture(scope="module")
def world(moto_endpoint):
    """A ledger table with the fleet's items and each installation's readings in CloudWatch."""
    credentials = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION,
                       endpoint_url=moto_endpoint)
    table = f"ledger-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb", **credentials)
    create_table(dynamodb, table)
    for config in FLEET.values():
        config = {**config, "ledger": {**config["ledger"], "table": table}}
        for item in ledger_items(config):
            dynamodb.put_item(TableName=table, Item=item)
    cloudwatch = boto3.client("cloudwatch", **credentials)
    for installation_id in FLEET:
        put_readings(cloudwatch, installation_id, readings_of(installation_id))
    return table


def ledger_items(config: dict) -> list[dict]:
    parsed = parse_installation(config)
    return [contract_item(parsed)] + [record.item() for record in fee_records(parsed)]


def put_readings(cloudwatch: Any, installation_id: str, points: list[tuple[datetime, float]]) -> None:
    data = [{"MetricName": ATTACHMENTS_METRIC, "Dimensions": [{"Name": "Installation", "Value": installation_id}],
             "Timestamp": when, "Value": value, "Unit": "Gigabytes"} for when, value in points]
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace=f"Daktela/{installation_id}", MetricData=data[start:start + 500])


def run_statement(aws_env: dict, endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STATEMENT, *args, "--endpoint-url", endpoint], capture_output=True, text=True,
                          env=aws_env, timeout=120, cwd=REPO)


def statement_json(aws_env, endpoint, table, month, *ids) -> tuple[int, dict, str]:
    selection = [arg for i in ids for arg in ("--installation", i)]
    result = run_statement(aws_env, endpoint, "--month", month, "--table", table, "--region", REGION,
                           "--format", "json", *selection)
    return result.returncode, json.loads(result.stdout), result.stderr


def lines(document: dict, installation_id: str) -> list[tuple]:
    found = next(i for i in document["installations"] if i["installation_id"] == installation_id)
    return [(l["code"], l["period_from"], l["period_to"], l["quantity"], l["unit_price"], l["amount"])
            for l in found["lines"]]


# --------------------------------------------------------------------------------------------
# Statements, by hand


def test_setup_month_bills_the_one_off_once_and_storage_above_the_included(aws_env, moto_endpoint, world):
    code, document, stderr = statement_json(aws_env, moto_endpoint, world, "2026-12", "acme-onprem")
    assert code == 0, stderr
    assert lines(document, "acme-onprem") == [
        ("9.03", "2026-12-01", "2026-12-31", "1", "450.00", "450.00"),
        # average of the daily maxima 137.2 GB; 37.2 above the included 100: 38 started GB x 0.25
        ("9.03-storage", "2026-12-01", "2026-12-31", "38", "0.25", "9.50"),
        ("9.04", "2026-12-01", "2026-12-31", "1", "200.00", "200.00"),
        ("6.21", "2026-12-01", "2026-12-01", "1", "1500.00", "1500.00"),
    ]
    assert document["installations"][0]["total"] == "2159.50" and document["totals"] == {"EUR": "2159.50"}
    storage = document["installations"][0]["lines"][1]
    assert storage["note"] == "average over 31 billed days 137.200 GB; readings on 31 of them"

    code, january, _ = statement_json(aws_env, moto_endpoint, world, "2027-01", "acme-onprem")
    assert "6.21" not in [line[0] for line in lines(january, "acme-onprem")]  # once, in the setup month


def test_price_change_mid_month_splits_the_month_at_its_date(aws_env, moto_endpoint, world):
    code, document, stderr = statement_json(aws_env, moto_endpoint, world, "2027-07", "acme-onprem")
    assert code == 0, stderr
    assert lines(document, "acme-onprem") == [
        ("9.03", "2027-07-01", "2027-07-14", "1", "450.00", "203.23"),  # 450 x 14/31 = 203.2258
        ("9.03", "2027-07-15", "2027-07-31", "1", "480.00", "263.23"),  # 480 x 17/31 = 263.2258
        # (15 x 100 + 16 x 162) / 31 = 132.0 GB: 32 GB above; 32 x 0.25 x 14/31 = 3.6129
        ("9.03-storage", "2027-07-01", "2027-07-14", "32", "0.25", "3.61"),
        ("9.03-storage", "2027-07-15", "2027-07-31", "32", "0.30", "5.26"),  # 32 x 0.30 x 17/31 = 5.2645
        ("9.04", "2027-07-01", "2027-07-31", "1", "200.00", "200.00"),
    ]
    assert document["installations"][0]["total"] == "675.33"


def test_installation_set_up_mid_month_pays_from_its_first_day(aws_env, moto_endpoint, world):
    code, document, stderr = statement_json(aws_env, moto_endpoint, world, "2027-03", "acme-cloud")
    assert code == 1  # days without a reading of their own: flagged (issue 25.6)
    assert ("INCOMPLETE: acme-cloud: 5 of 15 billed days have no storage reading in Daktela/acme-cloud "
            "(eu-central-1): 2027-03-18, 2027-03-21, 2027-03-24, 2027-03-27, 2027-03-30; billed as the note says") in stderr
    assert lines(document, "acme-cloud") == [
        ("9.03", "2027-03-17", "2027-03-31", "1", "450.00", "217.74"),  # 450 x 15/31 = 217.7419
        ("9.03-storage", "2027-03-17", "2027-03-31", "0", "0.25", "0.00"),  # 80 GB: below the included
    ]
    note = document["installations"][0]["lines"][1]["note"]
    # the 999 GB of the day before the contract never counts, not even carried into the 17th (which
    # has its own); the 5 billed days without a reading take the day before's 80 GB
    assert note == "average over 15 billed days 80.000 GB; readings on 10 of them; 5 carried from the reading before"


def test_torn_down_installation_is_billed_to_its_end_date_and_then_not_at_all(aws_env, moto_endpoint, world):
    code, document, stderr = statement_json(aws_env, moto_endpoint, world, "2027-02", "beta-onprem")
    assert code == 0, stderr
    assert lines(document, "beta-onprem") == [
        ("9.03", "2027-02-01", "2027-02-10", "1", "450.00", "160.71"),  # 450 x 10/28 = 160.714
        ("9.03-storage", "2027-02-01", "2027-02-10", "150", "0.25", "13.39"),  # 150 x 0.25 x 10/28 = 13.393
        ("9.04", "2027-02-01", "2027-02-10", "1", "200.00", "71.43"),  # 200 x 10/28 = 71.429
    ]
    code, march, stderr = statement_json(aws_env, moto_endpoint, world, "2027-03", "beta-onprem")
    assert code == 0 and march["installations"][0]["lines"] == []
    assert "beta-onprem is not billed in 2027-03" in stderr


def test_missing_readings_leave_storage_unbilled_and_the_statement_incomplete(aws_env, moto_endpoint, world):
    code, document, stderr = statement_json(aws_env, moto_endpoint, world, "2027-03", "gamma-cloud")
    assert code == 1
    gamma = document["installations"][0]
    assert lines(document, "gamma-cloud") == [
        ("9.03", "2027-03-01", "2027-03-31", "1", "11000.00", "11000.00"),
        ("9.03-storage", "2027-03-01", "2027-03-31", "", "6.00", ""),
    ]
    assert gamma["complete"] is False and gamma["total"] == "11000.00"
    assert gamma["lines"][1]["note"] == "no storage readings on the billed days: not billed"
    assert "INCOMPLETE: gamma-cloud: no storage readings between 2027-03-01 and 2027-03-31 in Daktela/gamma-cloud" in stderr


def test_fleet_statement_as_csv_lists_every_installation_billed_that_month(aws_env, moto_endpoint, world):
    result = run_statement(aws_env, moto_endpoint, "--month", "2027-03", "--table", world, "--region", REGION)
    assert result.returncode == 1  # gamma-cloud's storage
    expected = """\
month,installation_id,customer,hosting,code,description,period_from,period_to,days,days_in_month,quantity,unit,unit_price,amount,currency,note
2027-03,acme-cloud,ACME Contact s.r.o.,cloud,9.03,Daktela CC Installation + 100 GB Storage,2027-03-17,2027-03-31,15,31,1,month,450.00,217.74,EUR,
2027-03,acme-cloud,ACME Contact s.r.o.,cloud,9.03-storage,Storage above the included GB (comments and email attachments): 100 GB included,2027-03-17,2027-03-31,15,31,0,GB-month,0.25,0.00,EUR,average over 15 billed days 80.000 GB; readings on 10 of them; 5 carried from the reading before
2027-03,acme-onprem,ACME Contact s.r.o.,on-premise,9.03,Daktela CC Installation + 100 GB Storage,2027-03-01,2027-03-31,31,31,1,month,450.00,450.00,EUR,
2027-03,acme-onprem,ACME Contact s.r.o.,on-premise,9.03-storage,Storage above the included GB (comments and email attachments): 100 GB included,2027-03-01,2027-03-31,31,31,,GB-month,0.25,,EUR,no storage readings on the billed days: not billed
2027-03,acme-onprem,ACME Contact s.r.o.,on-premise,9.04,On-premise installation (Outside Daktela Cloud),2027-03-01,2027-03-31,31,31,1,month,200.00,200.00,EUR,
2027-03,gamma-cloud,ACME Contact s.r.o.,cloud,9.03,Daktela CC Installation + 100 GB Storage,2027-03-01,2027-03-31,31,31,1,month,11000.00,11000.00,CZK,
2027-03,gamma-cloud,ACME Contact s.r.o.,cloud,9.03-storage,Storage above the included GB (comments and email attachments): 100 GB included,2027-03-01,2027-03-31,31,31,,GB-month,6.00,,CZK,no storage readings on the billed days: not billed
"""
    assert result.stdout == expected
    assert list(csv.DictReader(io.StringIO(result.stdout)))[0]["amount"] == "217.74"
    # beta-onprem ended in February; both gaps in readings are named
    assert "beta-onprem" not in result.stdout
    assert result.stderr.count("INCOMPLETE") == 3, result.stderr  # and acme-cloud's 5 days without a reading


def test_example_stacks_produce_a_statement_from_what_their_plans_write(aws_env, moto_endpoint, tmp_path):
    """Both example stacks: the ledger items of their offline plans, readings, one statement."""
    table = f"ledger-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    create_table(dynamodb, table)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_endpoint)
    stack_files = []
    for hosting in ("cloud", "onprem"):
        source = REPO / f"Pulumi.example-{hosting}.yaml"
        text = source.read_text().replace("table: daktela-fee-ledger", f"table: {table}")
        stack_file = tmp_path / f"Pulumi.example-{hosting}.yaml"
        stack_file.write_text(text)
        stack_files.append(stack_file)
        plan = run_program(read_stack_file(source))
        for resource in plan.of_type(TABLE_ITEM):
            dynamodb.put_item(TableName=table, Item=json.loads(resource.inputs["item"]))
        installation_id = f"acme-{hosting}"
        put_readings(cloudwatch, installation_id, [
            (datetime(2027, 1, day, 6, 17, tzinfo=timezone.utc), 120.5) for day in range(1, 32)])
    result = run_statement(aws_env, moto_endpoint, "--month", "2027-01", "--format", "json",
                           *[arg for f in stack_files for arg in ("--stack", str(f))])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    # 120.5 GB: 21 started GB above 100, x 0.25 = 5.25
    assert lines(document, "acme-cloud") == [
        ("9.03", "2027-01-01", "2027-01-31", "1", "450.00", "450.00"),
        ("9.03-storage", "2027-01-01", "2027-01-31", "21", "0.25", "5.25"),
    ]
    assert lines(document, "acme-onprem") == [
        ("9.03", "2027-01-01", "2027-01-31", "1", "450.00", "450.00"),
        ("9.03-storage", "2027-01-01", "2027-01-31", "21", "0.25", "5.25"),
        ("9.04", "2027-01-01", "2027-01-31", "1", "200.00", "200.00"),
    ]
    assert document["totals"] == {"EUR": "1110.50"}


def test_the_months_evidence_is_written_beside_the_statement(aws_env, moto_endpoint, world, tmp_path):
    """Issue 27: each billed installation's evidence page beside the statement, for the account
    manager to send with the invoice; a billed installation without a state is no quiet omission."""
    from components.freshness import Watch
    from components.names import connectivity_record_key
    from tests.conftest import plan_of

    outputs = plan_of(example_installation("on-premise")).outputs
    states, out = tmp_path / "states", tmp_path / "out"
    states.mkdir()
    out.mkdir()
    (states / "acme-onprem.json").write_text(json.dumps({"freshness_targets": outputs["freshness_targets"]}))
    watch = Watch.from_json(outputs["freshness_targets"])
    for region, bucket in watch.location_buckets:
        s3 = boto3.client("s3", region_name=region, endpoint_url=moto_endpoint)
        try:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    record = {"time": "2026-12-01T10:00:00Z", "sufficient": True, "verdict": "verdict: sufficient: a run needs about 4.2 min",
              "locations": [{"region": r, "mbit_per_second": 95.1, "error": None} for r, _ in watch.location_buckets]}
    region, bucket = watch.location_buckets[1]
    boto3.client("s3", region_name=region, endpoint_url=moto_endpoint).put_object(
        Bucket=bucket, Key=connectivity_record_key("acme-onprem", record["time"]), Body=json.dumps(record).encode())

    result = run_statement(aws_env, moto_endpoint, "--month", "2026-12", "--table", world, "--region", REGION,
                           "--installation", "acme-onprem", "--installation", "gamma-cloud",
                           "--output", str(out / "statement-2026-12.csv"),
                           "--evidence-dir", str(out), "--state-dir", str(states))
    assert result.returncode == 1  # gamma-cloud: no readings, and no state for its evidence
    assert f"statement: evidence {out / 'acme-onprem-2026-12.html'}: NOT KEPT: " in result.stderr  # nothing published
    assert (f"INCOMPLETE: no evidence for gamma-cloud: no <stack>.json with its freshness_targets in "
            f"--state-dir {states}") in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["acme-onprem-2026-12.html", "statement-2026-12.csv"]
    page = (out / "acme-onprem-2026-12.html").read_text()
    assert "Backups of acme-onprem, 2026-12" in page and ">sufficient: a run needs about 4.2 min<" in page

    alone = run_statement(aws_env, moto_endpoint, "--month", "2026-12", "--table", world, "--region", REGION,
                          "--evidence-dir", str(out))
    assert alone.returncode == 2 and "--evidence-dir needs --state-dir too" in alone.stderr


def test_statement_refuses_a_ledger_made_before_price_history(aws_env, moto_endpoint):
    table = f"ledger-{uuid.uuid4().hex[:8]}"
    create_earlier_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint), table)
    result = run_statement(aws_env, moto_endpoint, "--month", "2027-01", "--table", table, "--region", REGION)
    assert result.returncode == 1
    assert "made by an earlier version" in result.stderr and "scripts/ledger.py migrate" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--month", "2027-13", "--region", REGION], '"2027-13" is not a month; write it as YYYY-MM'),
    (["--month", "2027-1", "--region", REGION], '"2027-1" is not a month; write it as YYYY-MM'),  # issue 25.5
    (["--month", "2027-01"], "give --region"),
    (["--month", "2027-01", "--region", REGION, "--output", "/nonexistent-folder/statement.csv"],
     "the folder /nonexistent-folder does not exist"),
])
def test_bad_arguments_are_named(aws_env, moto_endpoint, args, message):
    result = run_statement(aws_env, moto_endpoint, *args)
    assert result.returncode == 2 and message in result.stderr


# --------------------------------------------------------------------------------------------
# The rules, one by one (no AWS)


CONTRACT = Contract("x", "X", "on-premise", "EUR", date(2027, 1, 1), None, 100, REGION, "Daktela/x")


def test_days_without_any_price_record_are_a_problem_not_free():
    records = [PriceRecord("9.03", Decimal("450.00"), "EUR", date(2027, 1, 10))]
    periods = price_periods(records, "9.03", date(2027, 1, 1), date(2027, 1, 31))
    assert [(p[0] is None, p[1].day, p[2].day) for p in periods] == [(True, 1, 9), (False, 10, 31)]
    result = statement(CONTRACT, records, {}, "2027-01")
    assert "x: no 9.03 price in the ledger for 2027-01-01..2027-01-09" in result.problems


def test_a_day_counts_its_largest_reading_in_utc():
    prague_evening = datetime(2027, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=1)))  # 22:30 UTC
    after_midnight = datetime(2027, 1, 2, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # 23:30 UTC on the 1st
    assert daily_readings([(prague_evening, 120.0), (after_midnight, 130.5)]) == {date(2027, 1, 1): Decimal("130.5")}


def test_storage_rounds_every_started_gb_up_and_exactly_included_is_free():
    def billed(gb: str) -> str:
        readings = {date(2027, 1, d): Decimal(gb) for d in range(1, 32)}
        records = [PriceRecord(c, Decimal("1.00"), "EUR", date(2027, 1, 1)) for c in ("9.03", "9.03-storage", "9.04")]
        return next(str(l.quantity) for l in statement(CONTRACT, records, readings, "2027-01").lines
                    if l.code == "9.03-storage")

    assert [billed(v) for v in ("100", "100.001", "101", "99")] == ["0", "1", "1", "0"]


def storage_line(readings: dict[date, Decimal], contract: Contract = CONTRACT, month: str = "2027-01"):
    records = [PriceRecord(c, Decimal("1.00"), "EUR", date(2026, 1, 1)) for c in ("6.21", "9.03", "9.03-storage", "9.04")]
    result = statement(contract, records, readings, month)
    return next(l for l in result.lines if l.code == "9.03-storage"), result.problems


def test_one_day_cannot_set_the_month():
    """Issue 25.6: 300 GB read only on the 31st billed 200 GB for the whole month."""
    line, problems = storage_line({date(2027, 1, 31): Decimal("300")})
    # days 1..30 not measured count as the included 100 GB: (30 x 100 + 300) / 31 = 106.452 -> 7 GB
    assert (line.quantity, line.note) == (Decimal(7), "average over 31 billed days 106.452 GB; readings on 1 of them; "
                                          "30 not measured (counted as the included 100 GB)")
    assert problems == ["x: 30 of 31 billed days have no storage reading in Daktela/x (eu-central-1): "
                        "2027-01-01..2027-01-30; billed as the note says, check the meter "
                        "(docs/operate.md#billing-the-monthly-statement)"]
    # a reading of the week before the month carries forward for 7 days, never a later one back
    line, _ = storage_line({date(2026, 12, 29): Decimal("150"), date(2027, 1, 31): Decimal("300")},
                           dataclasses.replace(CONTRACT, start_date=date(2026, 12, 1)))
    # days 1..5 take the 29th's 150 (1..5 are at most 7 days after it), 6..30 the included 100:
    # (5 x 150 + 25 x 100 + 300) / 31 = 114.516 -> 15 GB
    assert (line.quantity, line.note) == (Decimal(15), "average over 31 billed days 114.516 GB; readings on 1 of them; "
                                          "5 carried from the reading before; 25 not measured (counted as the included 100 GB)")


def test_a_peak_day_weighs_one_day_and_a_complete_month_is_no_problem():
    readings = {date(2027, 1, d): Decimal("120") for d in range(1, 32)}
    readings[date(2027, 1, 15)] = Decimal("740")  # a bulk import, deleted the next day
    line, problems = storage_line(readings)
    assert line.quantity == Decimal(40) and problems == []  # (30 x 120 + 740) / 31 = 140.0 -> 40 GB


def test_month_must_be_a_month():
    assert month_days("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    with pytest.raises(StatementError, match="YYYY-MM"):
        month_days("2027-3-1")
    with pytest.raises(StatementError, match="YYYY-MM"):
        month_days("2027-3")

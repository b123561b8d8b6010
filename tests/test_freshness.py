"""The freshness checker against a real S3 and CloudWatch API (moto server on loopback).

AWS Backup recovery points cannot be made on moto (it has vaults but no recovery points), so the
block-level lookup runs against botocore's Stubber, which checks requests and responses against the
real AWS Backup API model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from components.names import BLOCK_COPY
from components.freshness import (
    AGE_METRIC, BLOCK, DATABASE, FILES, TARGETS_VARIABLE, Target, Watch, boto3_clients, check, format_table, handler,
    publish,
)
from tests.conftest import REPO

REGION, SECOND = "eu-central-1", "eu-west-1"
LIMIT = 28.0


@pytest.fixture
def buckets(aws_env, moto_endpoint):
    suffix = uuid.uuid4().hex[:8]
    dumps = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    restic = boto3.client("s3", region_name=SECOND, endpoint_url=moto_endpoint)
    dumps.create_bucket(Bucket=f"dumps-{suffix}", CreateBucketConfiguration={"LocationConstraint": REGION})
    restic.create_bucket(Bucket=f"restic-{suffix}", CreateBucketConfiguration={"LocationConstraint": SECOND})
    return f"dumps-{suffix}", f"restic-{suffix}", dumps, restic


def s3_watch(dump_bucket: str, restic_bucket: str, installation: str = "acme") -> Watch:
    return Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (
        Target(DATABASE, REGION, bucket=dump_bucket, prefix=f"dumps/{installation}/", suffix=".sql.gz"),
        Target(FILES, SECOND, bucket=restic_bucket, prefix=f"restic/{installation}/snapshots/"),
    ))


def test_fresh_stale_and_missing_backups_per_technology(buckets, moto_endpoint):
    dump_bucket, restic_bucket, dumps, restic = buckets
    watch = s3_watch(dump_bucket, restic_bucket)
    clients = boto3_clients(moto_endpoint)

    missing = check(watch, clients)
    assert [(f.technology, f.status) for f in missing] == [(DATABASE, "missing"), (FILES, "missing")]

    # An unfinished dump and another installation's dump never count.
    dumps.put_object(Bucket=dump_bucket, Key="dumps/acme/20261125T100000Z.sql.gz.partial", Body=b"x")
    dumps.put_object(Bucket=dump_bucket, Key="dumps/other/20261125T100000Z.sql.gz", Body=b"x")
    assert check(watch, clients)[0].status == "missing"

    dumps.put_object(Bucket=dump_bucket, Key="dumps/acme/20261125T100000Z.sql.gz", Body=b"dump")
    restic.put_object(Bucket=restic_bucket, Key="restic/acme/snapshots/" + "a" * 64, Body=b"{}")
    now = datetime.now(timezone.utc)
    fresh = check(watch, clients, now)
    assert [f.status for f in fresh] == ["fresh", "fresh"]
    assert all(0 <= f.age_hours < 0.1 for f in fresh)

    stale = check(watch, clients, now + timedelta(hours=LIMIT + 0.5))
    assert [f.status for f in stale] == ["stale", "stale"]
    assert all(LIMIT < f.age_hours < LIMIT + 0.7 for f in stale)
    at_limit = check(watch, clients, fresh[0].newest + timedelta(hours=LIMIT))
    assert at_limit[0].status == "fresh"  # "at most 24 h + reserve": the limit itself is still fine


def test_block_level_uses_the_newest_completed_recovery_point():
    backup = boto3.client("backup", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    newest_completed = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
    with Stubber(backup) as stub:
        stub.add_response("list_recovery_points_by_backup_vault", {
            "RecoveryPoints": [
                {"RecoveryPointArn": "arn:aws:ec2:eu-central-1::snapshot/snap-1", "Status": "COMPLETED",
                 "CreationDate": newest_completed - timedelta(days=1)},
                {"RecoveryPointArn": "arn:aws:ec2:eu-central-1::snapshot/snap-2", "Status": "COMPLETED",
                 "CreationDate": newest_completed},
                {"RecoveryPointArn": "arn:aws:ec2:eu-central-1::snapshot/snap-3", "Status": "PARTIAL",
                 "CreationDate": newest_completed + timedelta(hours=8)},
            ],
        }, {"BackupVaultName": "daktela-acme"})
        watch = Watch("acme", "Daktela/acme", REGION, LIMIT, (Target(BLOCK, REGION, vault="daktela-acme"),))
        [finding] = check(watch, lambda service, region: backup, newest_completed + timedelta(hours=30))
    assert finding.newest == newest_completed
    assert finding.age_hours == 30.0 and finding.status == "stale"


def test_an_unreadable_target_is_unknown_not_fresh(aws_env, moto_endpoint):
    watch = s3_watch("no-such-bucket-" + uuid.uuid4().hex[:6], "no-such-either")
    findings = check(watch, boto3_clients(moto_endpoint))
    assert {f.status for f in findings} == {"unknown"}
    assert "NoSuchBucket" in findings[0].error


def test_publish_sends_ages_and_leaves_missing_ones_to_the_alarm(buckets, moto_endpoint):
    dump_bucket, restic_bucket, dumps, _ = buckets
    installation = "pub-" + uuid.uuid4().hex[:6]
    dumps.put_object(Bucket=dump_bucket, Key=f"dumps/{installation}/x.sql.gz", Body=b"dump")
    watch = s3_watch(dump_bucket, restic_bucket, installation)
    clients = boto3_clients(moto_endpoint)
    assert publish(watch, check(watch, clients), clients) == 1  # the restic age is missing: not sent
    metrics = clients("cloudwatch", REGION).list_metrics(Namespace=f"Daktela/{installation}")["Metrics"]
    assert [(m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]}) for m in metrics] == [
        (AGE_METRIC, {"Installation": installation, "Technology": DATABASE})]


def test_lambda_handler_checks_and_publishes(buckets, moto_endpoint, monkeypatch):
    dump_bucket, restic_bucket, dumps, restic = buckets
    installation = "lambda-" + uuid.uuid4().hex[:6]
    dumps.put_object(Bucket=dump_bucket, Key=f"dumps/{installation}/x.sql.gz", Body=b"dump")
    restic.put_object(Bucket=restic_bucket, Key=f"restic/{installation}/snapshots/abc", Body=b"{}")
    monkeypatch.setenv(TARGETS_VARIABLE, s3_watch(dump_bucket, restic_bucket, installation).to_json())
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    result = handler({}, None)
    assert {t: r["status"] for t, r in result.items()} == {DATABASE: "fresh", FILES: "fresh"}
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_endpoint)
    assert len(cloudwatch.list_metrics(Namespace=f"Daktela/{installation}")["Metrics"]) == 2


def run_status(aws_env, *args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "backup_status.py"), *args],
                          capture_output=True, text=True, env=aws_env, timeout=60)


def test_backup_status_script_table_and_exit_codes(buckets, aws_env, moto_endpoint, tmp_path):
    dump_bucket, restic_bucket, dumps, restic = buckets
    targets = tmp_path / "targets.json"
    targets.write_text(s3_watch(dump_bucket, restic_bucket).to_json())
    common = ["--targets", str(targets), "--endpoint-url", moto_endpoint]

    missing = run_status(aws_env, *common)
    assert missing.returncode == 1
    assert missing.stdout.splitlines()[0] == "Backups of acme:"
    assert "database-dump" in missing.stdout and "missing" in missing.stdout

    dumps.put_object(Bucket=dump_bucket, Key="dumps/acme/x.sql.gz", Body=b"dump")
    restic.put_object(Bucket=restic_bucket, Key="restic/acme/snapshots/abc", Body=b"{}")
    fresh = run_status(aws_env, *common)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.count(" fresh") == 2

    later = (datetime.now(timezone.utc) + timedelta(hours=40)).isoformat()
    stale = run_status(aws_env, *common, "--as-of", later, "--json")
    assert stale.returncode == 1
    assert [r["status"] for r in json.loads(stale.stdout)] == ["stale", "stale"]

    assert run_status(aws_env, "--targets", str(tmp_path / "nope.json")).returncode == 2


def test_the_stack_output_is_what_the_script_reads():
    from tests.conftest import example_installation, plan_of

    output = plan_of(example_installation("cloud")).outputs["freshness_targets"]
    watch = Watch.from_json(output)
    assert watch.limit_hours == 28 and [t.technology for t in watch.targets] == [
        BLOCK, DATABASE, FILES, BLOCK_COPY, "drill-block-level", "drill-database-dump", "drill-file-level",
        "check-file-level"]
    assert watch.targets[4].kind == "restore-test" and watch.targets[4].limit_hours == 8 * 24
    assert [t.kind for t in watch.targets[5:]] == ["drill", "drill", "check"]
    assert watch.targets[7].limit_hours == 31 * 24  # backup.verify_cycle_days (30) and a day


VOLUMES = tuple(f"arn:aws:ec2:{REGION}:123456789012:volume/vol-0{n}" for n in range(1, 4))


def recovery_points(stub: Stubber, vault: str, points: list[tuple[str, str, datetime]]) -> None:
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [
        {"RecoveryPointArn": f"arn:aws:ec2:{REGION}::snapshot/snap-{n}", "ResourceArn": resource,
         "Status": status, "CreationDate": created}
        for n, (resource, status, created) in enumerate(points)]}, {"BackupVaultName": vault})


def test_one_volume_failing_every_night_is_not_hidden_by_the_others():
    """Issue 10.5: the vault's newest recovery point hid a volume whose backups failed."""
    backup = boto3.client("backup", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    tonight = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
    watch = Watch("acme", "Daktela/acme", REGION, LIMIT, (Target(BLOCK, REGION, vault="daktela-acme", resources=VOLUMES),))
    with Stubber(backup) as stub:
        recovery_points(stub, "daktela-acme", [
            (VOLUMES[0], "COMPLETED", tonight), (VOLUMES[1], "COMPLETED", tonight),
            (VOLUMES[2], "COMPLETED", tonight - timedelta(days=3)),  # fails since then
            (VOLUMES[2], "FAILED", tonight)])
        [finding] = check(watch, lambda service, region: backup, tonight + timedelta(hours=1))
    assert finding.status == "stale" and finding.newest == tonight - timedelta(days=3)
    assert finding.detail == "oldest: vol-03"
    with Stubber(backup) as stub:  # a volume that never had a recovery point
        recovery_points(stub, "daktela-acme", [(VOLUMES[0], "COMPLETED", tonight), (VOLUMES[1], "COMPLETED", tonight)])
        [finding] = check(watch, lambda service, region: backup, tonight + timedelta(hours=1))
    assert finding.status == "missing" and finding.detail == "no recovery point of vol-03"


def test_copies_in_the_second_region_are_watched_per_volume():
    """Issue 10.5: failed cross-region copies were not watched at all."""
    copies = boto3.client("backup", region_name=SECOND, aws_access_key_id="x", aws_secret_access_key="x")
    tonight = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
    watch = Watch("acme", "Daktela/acme", REGION, LIMIT, (
        Target(BLOCK_COPY, SECOND, vault="daktela-acme-copy", resources=VOLUMES),))
    with Stubber(copies) as stub:
        recovery_points(stub, "daktela-acme-copy", [(v, "COMPLETED", tonight - timedelta(days=2)) for v in VOLUMES])
        [finding] = check(watch, lambda service, region: copies if region == SECOND else None,
                          tonight + timedelta(hours=1))
    assert finding.technology == "block-level-copy" and finding.status == "stale"


def test_a_failed_last_run_is_failed_at_once_and_published(buckets, moto_endpoint):
    """Issue 10.6: a location whose last run failed showed "fresh" for up to 28 h."""
    dump_bucket, restic_bucket, dumps, restic = buckets
    installation = "run-" + uuid.uuid4().hex[:6]
    status = f"status/{installation}/location-1.json"
    restic.put_object(Bucket=restic_bucket, Key=f"restic/{installation}/snapshots/abc", Body=b"{}")
    # location 1's own copy says success (from the run before); location 2 got the newer failure
    restic.put_object(Bucket=restic_bucket, Key=status, Body=json.dumps(
        {"location": 1, "result": "success", "time": "2026-11-25T01:00:05Z"}).encode())
    dumps.put_object(Bucket=dump_bucket, Key=status, Body=json.dumps(
        {"location": 1, "result": "failed", "time": "2026-11-25T13:00:09Z", "error": "restic exit code 1"}).encode())
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (
        Target("location-1", SECOND, bucket=restic_bucket, prefix=f"restic/{installation}/snapshots/",
               status_sources=((SECOND, restic_bucket, status), (REGION, dump_bucket, status))),))
    clients = boto3_clients(moto_endpoint)
    [finding] = check(watch, clients)
    assert finding.status == "failed" and "restic exit code 1" in finding.failed
    assert finding.age_hours is not None and finding.age_hours < 0.1  # young, and still failed
    assert publish(watch, [finding], clients) == 2
    cloudwatch = clients("cloudwatch", REGION)
    metrics = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=f"Daktela/{installation}")["Metrics"]}
    assert metrics == {AGE_METRIC, "BackupLastRunFailed"}
    table = format_table(watch, [finding])
    assert "failed (last run 2026-11-25T13:00:09Z: restic exit code 1)" in table


def test_backup_status_script_shows_a_failed_last_run_as_failed(buckets, aws_env, moto_endpoint, tmp_path):
    dump_bucket, restic_bucket, dumps, restic = buckets
    restic.put_object(Bucket=restic_bucket, Key="restic/acme/snapshots/abc", Body=b"{}")
    restic.put_object(Bucket=restic_bucket, Key="status/acme/location-2.json", Body=json.dumps(
        {"location": 2, "result": "failed", "time": "2026-11-25T13:00:09Z", "error": "restic exit code 3"}).encode())
    targets = tmp_path / "targets.json"
    targets.write_text(Watch("acme", "Daktela/acme", REGION, LIMIT, (
        Target("location-2", SECOND, bucket=restic_bucket, prefix="restic/acme/snapshots/",
               status_sources=((SECOND, restic_bucket, "status/acme/location-2.json"),)),)).to_json())
    result = run_status(aws_env, "--targets", str(targets), "--endpoint-url", moto_endpoint, "--json")
    assert result.returncode == 1
    [row] = json.loads(result.stdout)
    assert row["status"] == "failed" and "restic exit code 3" in row["failed"]


def test_newest_storage_reading_is_published_with_its_own_time_and_an_old_one_is_not(buckets, moto_endpoint):
    """Issue 14: on-premise readings reach the metric billing reads; a meter that stopped makes
    the readings stop (so the missing-readings alarm fires), not the last reading repeat."""
    from components.freshness import READING_PUBLISHED_HOURS, publish_storage_reading

    dump_bucket, restic_bucket, dumps, restic = buckets
    installation = "meter-" + uuid.uuid4().hex[:6]
    key = f"status/{installation}/storage.json"
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    # location 1 missed the newest reading; location 2 has it
    restic.put_object(Bucket=restic_bucket, Key=key, Body=json.dumps(
        {"time": "2026-11-26T05:45:03Z", "gb": 140.25, "bytes": 140250000000}).encode())
    dumps.put_object(Bucket=dump_bucket, Key=key, Body=json.dumps(
        {"time": "2026-11-26T11:45:02Z", "gb": 141.5, "bytes": 141500000000}).encode())
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (),
                  meter_sources=((SECOND, restic_bucket, key), (REGION, dump_bucket, key)))
    assert Watch.from_json(watch.to_json()) == watch
    clients = boto3_clients(moto_endpoint)
    published = publish_storage_reading(watch, clients, now)
    assert published is not None and published["gb"] == 141.5
    cloudwatch = clients("cloudwatch", REGION)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=f"Daktela/{installation}", MetricName="AttachmentsUsedGB",
        Dimensions=[{"Name": "Installation", "Value": installation}],
        StartTime=now - timedelta(hours=2), EndTime=now, Period=3600, Statistics=["Maximum"])["Datapoints"]
    # the reading's own time, not the checker's (CloudWatch reports the period's start, 11:00; moto
    # the data point's time, 11:45:02)
    [(when, value)] = [(d["Timestamp"].astimezone(timezone.utc), d["Maximum"]) for d in datapoints]
    assert value == 141.5 and datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc) <= when <= \
        datetime(2026, 11, 26, 11, 45, 2, tzinfo=timezone.utc)

    later = now + timedelta(hours=READING_PUBLISHED_HOURS)  # 7 h after 12:00: the 11:45 reading is too old
    assert publish_storage_reading(watch, clients, later) is None
    assert publish_storage_reading(s3_watch(dump_bucket, restic_bucket, installation), clients, now) is None


PLAN_ARN = f"arn:aws:backup:{REGION}:123456789012:restore-testing-plan:daktela_acme_drill-abc"


def restore_jobs(stub: Stubber, jobs: list[dict]) -> None:
    stub.add_response("list_restore_jobs", {"RestoreJobs": jobs}, {"ByRestoreTestingPlanArn": PLAN_ARN})


def restore_job(number: int, source: str, created: datetime, status: str = "COMPLETED", **extra) -> dict:
    return {"RestoreJobId": f"job-{number}", "SourceResourceArn": source, "CreationDate": created, "Status": status,
            "CreatedResourceArn": f"arn:aws:ec2:{REGION}:123456789012:volume/vol-restored{number}",
            "BackupSizeInBytes": 50 << 30, **extra}


def test_restore_tests_are_validated_reported_back_and_dated():
    """Issue 13: the cloud's weekly restore test of every volume, validated by the checker."""
    backup = boto3.client("backup", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    saturday = datetime(2026, 11, 21, 4, 5, tzinfo=timezone.utc)
    target = Target("drill-block-level", REGION, kind="restore-test", limit_hours=192.0, resources=VOLUMES[:2],
                    restore_testing_plan=PLAN_ARN)
    watch = Watch("acme", "Daktela/acme", REGION, LIMIT, (target,))
    clients = {"backup": backup, "ec2": ec2}
    with Stubber(backup) as backup_stub, Stubber(ec2) as ec2_stub:
        restore_jobs(backup_stub, [
            restore_job(1, VOLUMES[0], saturday - timedelta(days=7), ValidationStatus="SUCCESSFUL"),
            restore_job(2, VOLUMES[0], saturday),  # waits for its validation
            restore_job(3, VOLUMES[1], saturday)])  # restored smaller than the backup
        ec2_stub.add_response("describe_volumes", {"Volumes": [{"VolumeId": "vol-restored2", "State": "available",
                                                                "Size": 50}]}, {"VolumeIds": ["vol-restored2"]})
        backup_stub.add_response("put_restore_validation_result", {}, {
            "RestoreJobId": "job-2", "ValidationStatus": "SUCCESSFUL",
            "ValidationStatusMessage": "restored volume vol-restored2 is available with 50 GiB"})
        ec2_stub.add_response("describe_volumes", {"Volumes": [{"VolumeId": "vol-restored3", "State": "available",
                                                                "Size": 20}]}, {"VolumeIds": ["vol-restored3"]})
        backup_stub.add_response("put_restore_validation_result", {}, {
            "RestoreJobId": "job-3", "ValidationStatus": "FAILED",
            "ValidationStatusMessage": f"restored volume vol-restored3 has {20 << 30} bytes, the backup {50 << 30}"})
        [finding] = check(watch, lambda service, region: clients[service], saturday + timedelta(hours=1), validate=True)
        backup_stub.assert_no_pending_responses()
    # vol-02 never restored well: the drill is dated by nothing, and the failure says why
    assert finding.status == "failed" and finding.newest is None and finding.detail == "no validated restore of vol-02"
    assert finding.failed.startswith("last run 2026-11-21T04:05:00+00:00: vol-02: restored volume vol-restored3 has")

    with Stubber(backup) as backup_stub:  # a person's status query reads, never validates
        restore_jobs(backup_stub, [restore_job(4, VOLUMES[0], saturday)])
        [finding] = check(watch, lambda service, region: clients[service], saturday + timedelta(hours=1))
    assert finding.status == "missing" and finding.detail == "no restore test has validated yet"

    with Stubber(backup) as backup_stub:
        restore_jobs(backup_stub, [])
        [finding] = check(watch, lambda service, region: clients[service], saturday)
    assert finding.status == "missing" and finding.detail == "no restore test has run"
    stale = [restore_job(5, VOLUMES[0], saturday - timedelta(days=1), ValidationStatus="SUCCESSFUL"),
             restore_job(6, VOLUMES[1], saturday - timedelta(days=9), ValidationStatus="SUCCESSFUL")]
    with Stubber(backup) as backup_stub:
        restore_jobs(backup_stub, stale)
        [finding] = check(watch, lambda service, region: clients[service], saturday)
    assert finding.status == "stale" and finding.age_hours == 9 * 24  # the volume tested longest ago


def test_a_location_never_drilled_is_dated_by_its_first_backup(buckets, moto_endpoint):
    """Issue 13: a drill timer that never ran must alarm too, not stay "missing" (which publishes
    nothing) for ever; a new host is not judged before its backups are as old as the drill's limit."""
    dump_bucket, restic_bucket, dumps, restic = buckets
    installation = "undrilled-" + uuid.uuid4().hex[:6]
    restic.put_object(Bucket=restic_bucket, Key=f"restic/{installation}/snapshots/first", Body=b"{}")
    target = Target("drill-location-2", SECOND, kind="drill", bucket=restic_bucket,
                    prefix=f"restic/{installation}/snapshots/", limit_hours=192.0,
                    status_sources=((SECOND, restic_bucket, f"status/{installation}/drill-location-2.json"),))
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (target,))
    clients = boto3_clients(moto_endpoint)
    now = datetime.now(timezone.utc)
    [soon] = check(watch, clients, now + timedelta(days=2))
    assert soon.status == "first drill due" and soon.ok
    [late] = check(watch, clients, now + timedelta(days=9))
    assert late.status == "stale" and not late.ok and late.detail.startswith("no drill since the first backup at")
    assert publish(watch, [late], clients) == 2  # the age (which the stale alarm watches) and "not failed"


def _put(client, bucket: str, key: str, record) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=(record if isinstance(record, bytes) else json.dumps(record).encode()))


def verified_location(restic_bucket: str, installation: str) -> tuple[Target, Target, Target]:
    """location-1 with its drill and check, their results in the restic bucket (as in each location)."""
    def key(kind: str) -> tuple[str, str, str]:
        return (SECOND, restic_bucket, f"status/{installation}/{kind}-location-1.json")

    verified = (key("drill"), key("check"))
    snapshots = f"restic/{installation}/snapshots/"
    return (Target("location-1", SECOND, bucket=restic_bucket, prefix=snapshots,
                   status_sources=((SECOND, restic_bucket, f"status/{installation}/location-1.json"),),
                   damage_sources=verified),
            Target("drill-location-1", SECOND, kind="drill", bucket=restic_bucket, prefix=snapshots,
                   limit_hours=192.0, status_sources=(key("drill"),), damage_sources=verified),
            Target("check-location-1", SECOND, kind="check", bucket=restic_bucket, prefix=snapshots,
                   limit_hours=31 * 24.0, status_sources=(key("check"),), damage_sources=verified))


def test_damage_a_drill_found_stays_until_a_repair_is_recorded_whatever_newer_snapshots_do(buckets, moto_endpoint):
    """Issue 23.2: a damaged pack failed one drill; the next backup did not use it, and the drill and
    status went green while older snapshots could no longer be restored."""
    _, restic_bucket, _, restic = buckets
    installation = "damaged-" + uuid.uuid4().hex[:6]
    status = f"status/{installation}"
    now = datetime.now(timezone.utc)
    stamp = lambda hours: (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    _put(restic, restic_bucket, f"restic/{installation}/snapshots/newer", b"{}")
    _put(restic, restic_bucket, f"{status}/location-1.json", {"result": "success", "time": stamp(1)})
    damage = {"time": stamp(30), "cause": "location-1: copying the snapshot failed: StreamPack: ciphertext verification failed"}
    # a later drill succeeded (a newer snapshot without the damaged pack): the damage is carried
    _put(restic, restic_bucket, f"{status}/drill-location-1.json",
         {"result": "success", "time": stamp(2), "last_success": stamp(2), "last_damage": damage})
    _put(restic, restic_bucket, f"{status}/check-location-1.json",
         {"result": "success", "time": stamp(3), "oldest_part_read": stamp(20), "part": "4/30"})
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, verified_location(restic_bucket, installation))
    clients = boto3_clients(moto_endpoint)
    findings = check(watch, clients, now)
    assert [f.status for f in findings] == ["failed", "failed", "failed"]
    assert all("repository damaged since" in f.failed and "ciphertext verification failed" in f.failed
               and "Repairing a location" in f.failed for f in findings)
    assert publish(watch, findings, clients) == 6  # each age, and each failed (which alarms)

    # a full check after the repair records it: the location is fresh again, its history kept
    _put(restic, restic_bucket, f"{status}/check-location-1.json",
         {"result": "success", "time": stamp(0.5), "oldest_part_read": stamp(0.6), "part": "all",
          "last_damage": damage, "last_repair": {"time": stamp(0.5), "note": "damaged pack removed, backed up again"}})
    assert [f.status for f in check(watch, clients, now)] == ["fresh", "fresh", "fresh"]


def test_a_run_that_does_not_report_when_its_host_said_is_failed(buckets, moto_endpoint):
    """Every backup series alarms when it goes silent: a host whose results stop arriving (down, cut
    off from both locations, its clock off so that S3 refuses it) is failed within a check of the
    time its last run promised the next one, not only when the newest snapshot is 28 h old."""
    _, restic_bucket, _, restic = buckets
    installation = "silent-" + uuid.uuid4().hex[:6]
    _put(restic, restic_bucket, f"restic/{installation}/snapshots/one", b"{}")
    _put(restic, restic_bucket, f"status/{installation}/location-1.json",
         {"result": "success", "time": "2026-12-01T01:20:00Z", "next_due": "2026-12-01T15:10:00Z"})
    location = verified_location(restic_bucket, installation)[0]
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (location,))
    clients = boto3_clients(moto_endpoint)
    [before] = check(watch, clients, datetime(2026, 12, 1, 15, 9, tzinfo=timezone.utc))
    assert before.failed is None
    [after] = check(watch, clients, datetime(2026, 12, 1, 15, 11, tzinfo=timezone.utc))
    assert after.status == "failed" and after.failed.startswith(
        "silent: no run has reported since 2026-12-01T01:20:00Z; the next was due by 2026-12-01T15:10:00Z")


def test_a_deep_check_is_as_old_as_the_part_read_longest_ago(buckets, moto_endpoint):
    _, restic_bucket, _, restic = buckets
    installation = "checked-" + uuid.uuid4().hex[:6]
    _put(restic, restic_bucket, f"restic/{installation}/snapshots/first", b"{}")
    target = verified_location(restic_bucket, installation)[2]
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (target,))
    clients = boto3_clients(moto_endpoint)
    now = datetime.now(timezone.utc)
    [never] = check(watch, clients, now + timedelta(days=1))
    assert never.status == "first check due" and never.detail.startswith("no check since the first backup at")
    oldest = (now - timedelta(days=32)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _put(restic, restic_bucket, f"status/{installation}/check-location-1.json",
         {"result": "success", "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "part": "7/30", "oldest_part_read": oldest})
    [late] = check(watch, clients, now)
    assert late.status == "stale" and late.age_hours > 31 * 24  # a part left unread for a cycle and more
    assert publish(watch, [late], clients) == 2
    names = {m["MetricName"] for m in clients("cloudwatch", REGION).list_metrics(
        Namespace=f"Daktela/{installation}")["Metrics"]}
    assert names == {"RepositoryCheckAgeHours", "RepositoryCheckFailed"}


def test_a_result_that_is_there_but_unreadable_is_unknown_and_published_as_failed(buckets, moto_endpoint):
    """Unknown is failure: a result that cannot be read is never skipped as if missing."""
    _, restic_bucket, _, restic = buckets
    installation = "garbled-" + uuid.uuid4().hex[:6]
    _put(restic, restic_bucket, f"restic/{installation}/snapshots/one", b"{}")
    _put(restic, restic_bucket, f"status/{installation}/drill-location-1.json", b"\x1f\x8b not json")
    drill = verified_location(restic_bucket, installation)[1]
    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, (drill,))
    clients = boto3_clients(moto_endpoint)
    [finding] = check(watch, clients)
    assert finding.status == "unknown"
    assert finding.error.startswith(f"s3://{restic_bucket}/status/{installation}/drill-location-1.json (eu-west-1) "
                                    "is not a result:")
    assert publish(watch, [finding], clients) == 1
    [datum] = clients("cloudwatch", REGION).get_metric_statistics(
        Namespace=f"Daktela/{installation}", MetricName="RestoreDrillFailed", Statistics=["Maximum"], Period=60,
        Dimensions=[{"Name": "Installation", "Value": installation}, {"Name": "Technology", "Value": "drill-location-1"}],
        StartTime=datetime.now(timezone.utc) - timedelta(minutes=5),
        EndTime=datetime.now(timezone.utc) + timedelta(minutes=5))["Datapoints"]
    assert datum["Maximum"] == 1.0
    assert "unknown (s3://" in format_table(watch, [finding])


def test_one_check_reads_each_result_once(buckets, moto_endpoint):
    """A location's drill and check results are read for its backup, drill and check targets: once
    per check run, not three times (the checker runs every 15 minutes for every installation)."""
    _, restic_bucket, _, restic = buckets
    installation = "once-" + uuid.uuid4().hex[:6]
    _put(restic, restic_bucket, f"restic/{installation}/snapshots/one", b"{}")
    for kind in ("drill", "check"):
        _put(restic, restic_bucket, f"status/{installation}/{kind}-location-1.json",
             {"result": "success", "time": "2026-12-01T04:00:00Z", "last_success": "2026-12-01T04:00:00Z",
              "oldest_part_read": "2026-12-01T04:00:00Z"})
    real = boto3_clients(moto_endpoint)
    reads: list[str] = []

    class Counting:
        def __init__(self, client):
            self.client = client

        def __getattr__(self, name):
            if name == "get_object":
                return lambda **kwargs: reads.append(kwargs["Key"]) or self.client.get_object(**kwargs)
            return getattr(self.client, name)

    watch = Watch(installation, f"Daktela/{installation}", REGION, LIMIT, verified_location(restic_bucket, installation))
    findings = check(watch, lambda service, region: Counting(real(service, region)))
    assert all(f.error is None and f.failed is None for f in findings), findings
    assert sorted(reads) == sorted({f"status/{installation}/drill-location-1.json",
                                    f"status/{installation}/check-location-1.json"})

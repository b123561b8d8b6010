"""The on-premise installation under mocks: two locked locations, a key that cannot destroy
backups, the jobs in the prepared host's inputs, freshness alarms per location."""

from __future__ import annotations

import json

import pytest

from components.offsite import FORBIDDEN_ACTIONS
from components.offline import autoname
from tests.conftest import example_installation, one, plan_of


@pytest.fixture(scope="module")
def plan():
    return plan_of(example_installation("on-premise"))


def named(plan, type_token, suffix):
    found = [r for r in plan.of_type(type_token) if r.name.endswith(suffix)]
    assert len(found) == 1, [r.name for r in plan.of_type(type_token)]
    return found[0]


@pytest.mark.parametrize("number,region", [(1, "eu-central-1"), (2, "eu-west-1")])
def test_each_location_is_a_locked_versioned_private_bucket_in_its_region(plan, number, region):
    prefix = f"acme-onprem-offsite-location-{number}"
    bucket = named(plan, "aws:s3/bucket:Bucket", prefix)
    assert bucket.provider.endswith(f"({region})")
    assert bucket.inputs["objectLockEnabled"] is True and bucket.options["retain_on_delete"] is True
    lock = named(plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", f"{prefix}-object-lock")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 30}
    lifecycle = named(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{prefix}-lifecycle")
    rule = lifecycle.inputs["rules"][0]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30  # old versions go after the lock
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert named(plan, "aws:s3/bucketVersioning:BucketVersioning", f"{prefix}-versioning").inputs[
        "versioningConfiguration"]["status"] == "Enabled"
    encryption = named(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       f"{prefix}-encryption")
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = named(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{prefix}-public-access")
    assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    tls = json.loads(named(plan, "aws:s3/bucketPolicy:BucketPolicy", f"{prefix}-tls-only").inputs["policy"])
    assert tls["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lock_days_come_from_config():
    installation = example_installation("on-premise")
    installation["on_premise"]["backup_lock_days"] = 45
    locks = plan_of(installation).of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert [l.inputs["rule"]["defaultRetention"]["days"] for l in locks] == [45, 45]


def test_host_key_writes_backups_to_these_two_buckets_and_cannot_destroy_them(plan):
    policy = json.loads(named(plan, "aws:iam/userPolicy:UserPolicy", "host-policy").inputs["policy"])
    buckets = {f"arn:aws:s3:::{b.inputs.get('bucket', autoname(b.name))}" for b in plan.of_type("aws:s3/bucket:Bucket")}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        assert not set(actions) & set(FORBIDDEN_ACTIONS), statement
        assert all("*" not in a for a in actions)
        for resource in statement["Resource"]:
            assert any(resource == b or resource.startswith(b + "/") for b in buckets), resource
            if "/" in resource.removeprefix("arn:aws:s3:::"):
                assert "/acme-onprem/" in resource
    deletes = [s for s in policy["Statement"] if "s3:DeleteObject" in s["Action"]]
    assert all(r.endswith("/restic/acme-onprem/locks/*") for s in deletes for r in s["Resource"])
    key = named(plan, "aws:iam/accessKey:AccessKey", "host-key")
    assert "secret" in key.options["additional_secret_outputs"]


def test_prepared_host_gets_the_jobs_with_secrets_kept_secret(plan):
    [host] = plan.of_type("pulumi-python:dynamic/onprem:PreparedHost")
    job = host.inputs["backup_job"]
    assert job["times"] == ["01:00", "13:00"] and job["timezone"] == "Europe/Prague"
    assert [l["region"] for l in job["locations"]] == ["eu-central-1", "eu-west-1"]
    assert job["operational_mount"] == "/srv/daktela" and job["archive_mount"] == "/srv/daktela-archive"
    assert job["archive_after_days"] == 90
    assert host.inputs["backup_secrets"] == "[secret]"
    assert len(host.inputs["files_digest"]) == 64
    assert "s3cr3t-" not in json.dumps(plan.to_json())


def test_freshness_alarm_per_location_at_24h_plus_reserve(plan):
    alarms = {r.inputs["dimensions"]["Technology"]: r for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if r.inputs["metricName"] == "BackupAgeHours"}
    assert set(alarms) == {"location-1", "location-2"}
    for alarm in alarms.values():
        assert alarm.inputs["threshold"] == 28 and alarm.inputs["treatMissingData"] == "breaching"
    watch = json.loads(plan.outputs["freshness_targets"])
    assert [(t["technology"], t["region"], t.get("kind", "backup")) for t in watch["targets"]] == [
        ("location-1", "eu-central-1", "backup"), ("location-2", "eu-west-1", "backup"),
        ("drill-location-1", "eu-central-1", "drill"), ("drill-location-2", "eu-west-1", "drill"),
        ("check-location-1", "eu-central-1", "check"), ("check-location-2", "eu-west-1", "check")]


def test_a_failed_run_alarms_within_one_check_not_when_the_backup_is_old(plan):
    """Issue 10.6: each location's last result is read from every location; a failure alarms at once.
    Issue 23: so does silence (two check periods without a result), never treated as fine."""
    failed = {r.inputs["dimensions"]["Technology"]: r for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if r.inputs["metricName"] == "BackupLastRunFailed"}
    assert set(failed) == {"location-1", "location-2"}
    for alarm in failed.values():
        assert alarm.inputs["period"] == 900 and alarm.inputs["threshold"] == 0.5
        assert alarm.inputs["treatMissingData"] == "breaching"
        assert (alarm.inputs["evaluationPeriods"], alarm.inputs["datapointsToAlarm"]) == (2, 1)
    watch = json.loads(plan.outputs["freshness_targets"])
    backups = [t for t in watch["targets"] if "kind" not in t]
    buckets = [t["bucket"] for t in backups]
    for number, target in enumerate(backups, 1):
        assert target["status_sources"] == [
            [region, bucket, f"status/acme-onprem/location-{number}.json"]
            for region, bucket in zip(("eu-central-1", "eu-west-1"), buckets)]
    checker = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "freshness-least-privilege").inputs["policy"])
    reads = next(s for s in checker["Statement"] if s.get("Sid") == "ReadRunResults")
    assert reads["Action"] == ["s3:GetObject"]
    assert all(r.endswith("/status/acme-onprem/*") for r in reads["Resource"])
    # it lists the results before reading them: a missing one is told from one it may not read
    lists = next(s for s in checker["Statement"] if s.get("Sid") == "ListOwnBackupObjects")
    assert lists["Condition"]["StringLike"]["s3:prefix"] == ["restic/acme-onprem/snapshots/*", "status/acme-onprem/*"]
    assert not [s for s in checker["Statement"] if any(a.startswith("kms:") for a in s["Action"])]  # SSE-S3 buckets


def test_a_failed_or_old_restore_drill_alarms(plan):
    """Issue 13: each location's weekly drill reports into both locations; the checker reads it."""
    watch = json.loads(plan.outputs["freshness_targets"])
    buckets = [t["bucket"] for t in watch["targets"] if "kind" not in t]
    drills = [t for t in watch["targets"] if t.get("kind") == "drill"]
    for number, target in enumerate(drills, 1):
        assert target["limit_hours"] == 8 * 24  # restore_drill.alarm_after_days
        assert target["status_sources"] == [[region, bucket, f"status/acme-onprem/drill-location-{number}.json"]
                                             for region, bucket in zip(("eu-central-1", "eu-west-1"), buckets)]
    alarms = {r.inputs["name"]: r.inputs for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if r.inputs["metricName"].startswith("RestoreDrill")}
    assert set(alarms) == {f"daktela-acme-onprem-drill-location-{n}-{what}" for n in (1, 2) for what in ("stale", "failed")}
    stale = alarms["daktela-acme-onprem-drill-location-1-stale"]
    assert (stale["metricName"], stale["threshold"], stale["dimensions"]["Technology"]) == (
        "RestoreDrillAgeHours", 192, "drill-location-1")
    failed = alarms["daktela-acme-onprem-drill-location-2-failed"]
    assert (failed["metricName"], failed["threshold"], failed["period"]) == ("RestoreDrillFailed", 0.5, 900)
    assert failed["alarmActions"] == ["arn:aws:sns:eu-central-1:123456789012:acme-onprem-ops"]


def test_on_premise_storage_is_metered_and_tells_billing_like_the_cloud(plan):
    """Issue 14: 9.03's included GB applies on-premise too; its readings come through the checker."""
    watch = json.loads(plan.outputs["freshness_targets"])
    buckets = [t["bucket"] for t in watch["targets"] if "kind" not in t]
    assert watch["meter_sources"] == [[region, bucket, "status/acme-onprem/storage.json"]
                                      for region, bucket in zip(("eu-central-1", "eu-west-1"), buckets)]
    alarms = {r.name: r for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if r.inputs["metricName"] == "AttachmentsUsedGB"}
    assert set(alarms) == {"acme-onprem-storage-above-included", "acme-onprem-storage-readings-missing"}
    billing = ["arn:aws:sns:eu-central-1:123456789012:acme-onprem-billing"]
    assert all(a.inputs["alarmActions"] == billing for a in alarms.values())
    assert alarms["acme-onprem-storage-above-included"].inputs["threshold"] == 100
    assert alarms["acme-onprem-storage-readings-missing"].inputs["treatMissingData"] == "breaching"


def test_outputs_name_the_locations_and_keep_the_key_secret(plan):
    assert [l["region"] for l in plan.outputs["backup_locations"]] == ["eu-central-1", "eu-west-1"]
    assert plan.outputs["backup_credentials"] == "[secret]"


def test_a_changed_template_shows_in_the_plan_diff(monkeypatch):
    from components.host import backup_job
    from components.planview import diff_plans

    before = plan_of(example_installation("on-premise")).to_json()
    monkeypatch.setattr(backup_job, "ARCHIVE_CALENDAR", "*-*-* 03:45:00")
    after = plan_of(example_installation("on-premise")).to_json()
    changed = {c.path for d in diff_plans(before, after).changed for c in d.changes}
    assert "inputs.files_digest" in changed

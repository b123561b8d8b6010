"""The connectivity check from the test host to two S3 locations: a fast loopback link is
sufficient, a throttled one is not; the probe leaves nothing behind."""

from __future__ import annotations

import dataclasses

import boto3

from components.host.connectivity import check_connectivity
from components.host.ssh import Connection
from tests.onprem_fixtures import backup_job, make_buckets, prepared_with_data
from tests.throttle import ThrottledProxy

PART = 256 << 10


def day_of_changes(host, megabytes: int) -> None:
    done = host.run(f"head -c {megabytes << 20} /dev/urandom > {host.mount_point('operational')}/attachments/today.bin")
    assert done.returncode == 0, done.stderr


def probe_leftovers(endpoint: str, buckets: list[str]) -> int:
    count = 0
    for bucket in buckets:
        s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=endpoint)
        count += len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
        count += len(s3.list_objects_v2(Bucket=bucket, Prefix="connectivity/").get("Contents", []))
    return count


def test_fast_link_is_sufficient_and_nothing_stays(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    day_of_changes(test_host, 20)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], "unused")
    with Connection(test_host.access()) as connection:
        report = check_connectivity(connection, job, "testing", "testing", part_bytes=PART, parts=2)
    assert report.sufficient, report.lines()
    assert report.changed_bytes_per_day >= 20 << 20
    assert all(l.bytes_per_second and l.bytes_per_second > 1e6 for l in report.locations)
    assert report.lines()[-2].startswith("verdict: sufficient")
    assert probe_leftovers(moto_endpoint, buckets) == 0


def test_throttled_link_is_insufficient(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    day_of_changes(test_host, 20)
    buckets = make_buckets(moto_endpoint)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    slow = ThrottledProxy(port, bytes_per_second=64 << 10)
    try:
        # 20 MB a day at 64 KiB/s: about 11 minutes for both locations, 22 with the margin.
        job = dataclasses.replace(backup_job(test_host, buckets, [slow.endpoint, slow.endpoint], "unused"),
                                  window_minutes=15)
        with Connection(test_host.access()) as connection:
            report = check_connectivity(connection, job, "testing", "testing", part_bytes=PART, parts=1)
    finally:
        slow.close()
    assert not report.sufficient
    speeds = [l.bytes_per_second for l in report.locations]
    assert all(s is not None and s < 100 << 10 for s in speeds), speeds
    assert any(line.startswith("verdict: insufficient") for line in report.lines())
    assert probe_leftovers(moto_endpoint, buckets) == 0


def test_unreachable_location_is_insufficient(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, ["http://127.0.0.1:1", moto_endpoint], "unused")
    with Connection(test_host.access()) as connection:
        report = check_connectivity(connection, job, "testing", "testing", part_bytes=PART, parts=1)
    assert not report.sufficient
    assert report.locations[0].error and report.locations[1].bytes_per_second
    assert "verdict: insufficient: a location cannot be reached" in report.lines()


def test_script_takes_an_endpoint_and_a_state_export_without_the_cli(test_host, aws_env, moto_endpoint, tmp_path):
    """Issue 13: the check could not be pointed at an S3-compatible endpoint, and needed the CLI."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.test_prepare_host_script import stack_for
    from tests.test_stack_outputs import SIG, export

    prepared_with_data(test_host)
    day_of_changes(test_host, 5)
    buckets = make_buckets(moto_endpoint)
    document = export({**SIG, "plaintext": json.dumps({"access_key_id": "testing", "secret_access_key": "testing"})})
    document["deployment"]["resources"][0]["outputs"]["backup_locations"] = [
        {"region": region, "bucket": bucket} for region, bucket in zip(("eu-central-1", "eu-west-1"), buckets)]
    exported = tmp_path / "acme-export.json"
    exported.write_text(json.dumps(document))
    stack, key = stack_for(test_host, tmp_path)
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "check_connectivity.py"), stack, "--key", key,
                             "--outputs", str(exported), "--endpoint-url", moto_endpoint],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: sufficient" in result.stdout
    assert "recorded in all 2 locations as status/acme-onprem/connectivity/" in result.stdout  # issue 27
    assert probe_leftovers(moto_endpoint, buckets) == 0
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    for bucket in buckets:
        records = s3.list_objects_v2(Bucket=bucket, Prefix="status/acme-onprem/connectivity/")["Contents"]
        assert len(records) == 1
        assert json.loads(s3.get_object(Bucket=bucket, Key=records[0]["Key"])["Body"].read())["sufficient"] is True

    document["deployment"]["resources"][0]["outputs"]["backup_credentials"] = {**SIG, "ciphertext": "AAAB"}
    exported.write_text(json.dumps(document))
    refused = subprocess.run([sys.executable, str(REPO / "scripts" / "check_connectivity.py"), stack, "--key", key,
                              "--outputs", str(exported)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "output backup_credentials is an encrypted secret; export it with --show-secrets" in refused.stderr

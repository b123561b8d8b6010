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

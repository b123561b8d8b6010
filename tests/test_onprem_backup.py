"""On-premise backups for real: the job on the throwaway host, restic into two S3 locations on the
moto server, faults injected, restore compared byte for byte."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import boto3

from tests.onprem_fixtures import (
    backup_job, install, make_buckets, moto_s3, prepared_with_data, restic, seed_locations,
)

UNREACHABLE = "http://127.0.0.1:1"


def archive_uuid(host) -> str:
    return host.run(f"findmnt -n -o UUID --mountpoint {host.mount_point('archive')}").stdout.strip() or "unknown"


def snapshot_paths(repository: str, env: dict) -> list[str]:
    listing = restic(repository, "ls", "latest", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line)["path"] for line in listing.stdout.splitlines()[1:] if line.strip()]


def test_both_locations_get_the_drive_without_recordings_or_archive_and_with_the_dump(
        test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], archive_uuid(test_host))
    install(test_host, job)

    run = test_host.run("/usr/local/sbin/daktela-backup")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "location 1 (eu-central-1): snapshot" in run.stdout
    assert "location 2 (eu-west-1): snapshot" in run.stdout

    operational = test_host.mount_point("operational")
    for number, location in enumerate(job.locations, 1):
        paths = snapshot_paths(location.repository(job.installation_id), aws_env)
        assert f"{operational}/application/index.php" in paths
        assert f"{operational}/attachments/2026/11/offer.pdf" in paths
        assert f"{operational}/database-dumps/daktela.sql.gz" in paths  # the dump is in both
        assert not [p for p in paths if "/recordings" in p], "recordings are never backed up"
        assert not [p for p in paths if p.startswith(test_host.mount_point("archive"))]
        status = boto3.client("s3", region_name=location.region, endpoint_url=moto_endpoint).get_object(
            Bucket=location.bucket, Key=f"status/acme-onprem/location-{number}.json")
        recorded = json.loads(status["Body"].read())
        assert recorded["result"] == "success" and recorded["location"] == number
        assert recorded["restic"]["message_type"] == "summary"


def test_location_1_down_location_2_still_backed_up_and_restores_byte_for_byte(
        test_host, aws_env, moto_endpoint, tmp_path):
    hashes = prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [UNREACHABLE, moto_endpoint], archive_uuid(test_host))
    install(test_host, job)
    seed_locations(job, moto_s3(moto_endpoint))  # location 2's first run, init included, is the test above

    run = test_host.run("/usr/local/sbin/daktela-backup")
    assert run.returncode == 1
    assert "location 1 (eu-central-1): FAILED" in run.stderr
    assert "location 2 (eu-west-1): snapshot" in run.stdout
    status = json.loads(test_host.run("cat /var/lib/daktela-backup/location-1.json").stdout)
    assert status["result"] == "failed"
    assert json.loads(test_host.run("cat /var/lib/daktela-backup/location-2.json").stdout)["result"] == "success"

    target = tmp_path / "restored"
    restored = restic(job.locations[1].repository(job.installation_id), "restore", "latest",
                      "--target", str(target), env=aws_env)
    assert restored.returncode == 0, restored.stderr
    operational = test_host.mount_point("operational")
    for relative, digest in hashes.items():
        path = Path(f"{target}{operational}/{relative}")
        if relative.startswith("recordings/"):
            assert not path.exists()
        else:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, relative


def test_job_refuses_without_the_operational_drive_and_never_runs_twice(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], archive_uuid(test_host))
    install(test_host, job)

    held = test_host.run("flock /run/daktela-backup.lock /usr/local/sbin/daktela-backup")
    assert held.returncode == 75 and "in progress" in held.stderr

    test_host.run(f"umount {test_host.mount_point('operational')}")
    unmounted = test_host.run("/usr/local/sbin/daktela-backup")
    assert unmounted.returncode == 2 and "not mounted" in unmounted.stderr
    assert all(restic(l.repository(job.installation_id), "cat", "config", env=aws_env).returncode != 0
               for l in job.locations), "nothing may be backed up without the drive"


def test_env_file_is_root_only(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    job = backup_job(test_host, ["b1", "b2"], [moto_endpoint, moto_endpoint], archive_uuid(test_host))
    install(test_host, job)
    assert test_host.run("stat -c '%a %U' /etc/daktela-toolkit/backup.env").stdout.strip() == "600 root"


def test_the_daily_check_reads_every_part_within_the_cycle_and_records_it_in_both_locations(
        test_host, aws_env, moto_endpoint):
    """Issue 23.2: the weekly check read a random 10% and called a damaged location healthy. Each
    daily run reads the part read longest ago: with a 3-day cycle, parts 1, 2, 3, then 1 again."""
    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], archive_uuid(test_host), verify_cycle_days=3)
    install(test_host, job)
    seed_locations(job, moto_s3(moto_endpoint))
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0
    read = []
    for _ in range(4):
        check = test_host.run("/usr/local/sbin/daktela-backup-check")
        assert check.returncode == 0, check.stdout + check.stderr
        read.append(re.findall(r"^location-(\d): part (\S+) read back and verified$", check.stdout, re.M))
    assert read == [[("1", f"{n}/3"), ("2", f"{n}/3")] for n in (1, 2, 3, 1)]
    for bucket, region in zip(buckets, ("eu-central-1", "eu-west-1")):
        s3 = moto_s3(moto_endpoint)(region)
        for number in (1, 2):
            result = json.loads(s3.get_object(Bucket=bucket, Key=f"status/acme-onprem/check-location-{number}.json")[
                "Body"].read())
            assert result["result"] == "success" and result["part"] == "1/3" and sorted(result["parts"]) == ["1", "2", "3"]
            assert result["oldest_part_read"] == result["parts"]["2"]  # part 1 was just read again

"""Helpers for the on-premise backup tests: a prepared test host with a populated operational
drive, two S3 locations on the moto server, the job installed with the toolkit's own uploader."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import uuid

import boto3

from components.host.backup_job import TIMERS, BackupJob, BackupLocation, env_file, job_files
from components.host.layout import DesiredDrive, DesiredLayout
from components.host.prepare import prepare
from components.host.ssh import Connection

REGIONS = ("eu-central-1", "eu-west-1")
RESTIC_PASSWORD = "test-restic-password"
DUMP_STUB = "#!/bin/sh\n# stands in for mariadb-dump on the test host\necho '-- dump of daktela'\necho 'CREATE TABLE calls (id INT);'\n"


def layout_for(host) -> DesiredLayout:
    return DesiredLayout(tuple(
        DesiredDrive(role, d.identity, d.size_bytes, "ext4" if role == "operational" else "xfs",
                     host.mount_point(role), False)
        for role, d in host.drives.items()
    ))


def make_bucket(endpoint: str, region: str, name: str) -> None:
    """A location's bucket as the plan makes it: versioned, Object Lock in governance mode."""
    s3 = moto_s3(endpoint)(region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region},
                     ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    })


def make_buckets(endpoint: str) -> list[str]:
    names = [f"loc-{region}-{uuid.uuid4().hex[:8]}" for region in REGIONS]
    for region, name in zip(REGIONS, names):
        make_bucket(endpoint, region, name)
    return names


def times_away_from_now(timezone: str = "Europe/Prague") -> tuple[str, str]:
    """Two backup times, 4 and 16 hours from now: the deep check, which stops 5 minutes before the
    next backup, has room whenever a test runs it."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(timezone))
    return tuple(f"{now + timedelta(hours=hours):%H:%M}" for hours in (4, 16))  # type: ignore[return-value]


def backup_job(host, buckets: list[str], endpoints: list[str], archive_uuid: str,
               times=None, timezone="Europe/Prague", installation_id="acme-onprem", **timings) -> BackupJob:
    return BackupJob(
        installation_id=installation_id, operational_mount=host.mount_point("operational"),
        archive_mount=host.mount_point("archive"), archive_filesystem_uuid=archive_uuid,
        times=tuple(times or times_away_from_now(timezone)), timezone=timezone,
        window_minutes=timings.pop("window_minutes", 120), archive_after_days=90,
        database_engine="mariadb", database_name="daktela", database_user="daktela_backup",
        locations=tuple(BackupLocation(region, bucket, endpoint)
                        for region, bucket, endpoint in zip(REGIONS, buckets, endpoints)),
        **timings,
    )


def install(host, job: BackupJob, access_key_id: str = "testing", secret_access_key: str = "testing") -> None:
    """Install the jobs the way `pulumi up` does: as files in the prepared host's desired layout."""
    files = job_files(job) + [env_file(access_key_id, secret_access_key, RESTIC_PASSWORD, "db-password")]
    layout = dataclasses.replace(layout_for(host), files=tuple(files), timers=TIMERS)
    with Connection(host.access()) as connection:
        installed = prepare(connection, layout)
        installed_paths = {s.path for s in installed.steps if type(s).__name__ == "InstallFile"}
        assert installed_paths <= {f.path for f in files}  # only what is missing or changed
        assert prepare(connection, layout).steps == []  # installed files are recognised: no change
        connection.upload("/usr/local/sbin/mariadb-dump", DUMP_STUB.encode(), mode=0o755)


def prepared_with_data(host) -> dict[str, str]:
    """Prepare the drives and put data on them; returns {path relative to operational: sha256}."""
    with Connection(host.access()) as connection:
        prepare(connection, layout_for(host))
    operational, archive = host.mount_point("operational"), host.mount_point("archive")
    staging = host.root / "staging"  # written here, copied in from inside the host's namespace
    files = {
        "application/index.php": os.urandom(2000),
        "application/config/app.ini": b"[app]\nname=acme\n",
        "attachments/2026/11/offer.pdf": os.urandom(300_000),
        "attachments/2026/11/comment.txt": "Příliš žluťoučký kůň".encode(),
        "database/ibdata1": os.urandom(100_000),
        "recordings/2026/11/call-0001.wav": os.urandom(200_000),
    }
    for relative, content in files.items():
        path = staging / "operational" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (staging / "archive" / "recordings").mkdir(parents=True)
    (staging / "archive" / "recordings" / "2025-old-call.wav").write_bytes(os.urandom(1000))
    copied = host.run(f"cp -a {staging}/operational/. {operational}/ && cp -a {staging}/archive/. {archive}/")
    assert copied.returncode == 0, copied.stderr
    return {relative: hashlib.sha256(content).hexdigest() for relative, content in files.items()}


def restic(repository: str, *args: str, env: dict, password: str = RESTIC_PASSWORD) -> subprocess.CompletedProcess:
    return subprocess.run(["restic", "-r", repository, *args], capture_output=True, text=True, timeout=300,
                          env={**env, "RESTIC_PASSWORD": password})


def seed_locations(job: BackupJob, s3_for_region) -> None:
    """Each location's repository exists before the first run (`restic_repositories.py`), for tests
    whose subject comes after it; `s3_for_region(region)` is an S3 client that may write there."""
    from components import names
    from tests.restic_repositories import seed

    for location in job.locations:
        seed(s3_for_region(location.region), location.bucket, names.repository_prefix(job.installation_id),
             RESTIC_PASSWORD)


def moto_s3(endpoint: str):
    """`s3_for_region` of the plain moto server."""
    return lambda region: boto3.client("s3", region_name=region, endpoint_url=endpoint)

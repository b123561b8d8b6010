"""Retention as a job: the weekly prune with the plan's own prune principal against the strict double.

Sixty simulated days of backups (restic 0.14, Debian's, with the plan's host key, one snapshot a day
dated by `--time`, a megabyte of new attachments each day and the ones older than five days moved
away), into location 1 as the plan makes it: versioned, Object Lock in governance mode. Every seventh
day the prune runs as scripts/prune.py does, with the plan's prune policy. What must hold:
- the repository's size is bounded: it holds what the kept snapshots need and nothing more, and it
  stops growing;
- the oldest kept snapshot restores, byte for byte what was backed up that day;
- the prune removes nothing it may not: no object version is ever deleted (a delete is a marker;
  the locked versions stay for the lifecycle), and the host's key still cannot delete anything.
Looser than AWS here: moto runs no lifecycle, so the noncurrent versions and expired delete markers
that AWS would remove after the lock stay; the plan's lifecycle rules are checked in the plan instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from components.aws.retention import FORBIDDEN, RetentionTargets
from components.retention import forget_arguments, prune_all, recorded, repository_url, s3_client
from tests.conftest import REPO, example_installation, one, plan_of
from tests.test_backups_against_aws import PRIMARY, bucket_of, onprem_plan, world  # noqa: F401  (fixtures)

DAYS = 60
PRUNE_EVERY = 7
DAILY_BYTES = 1_000_000
PASSWORD = "retention-test-password"


def restic(world, key, repository: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:  # noqa: F811
    return subprocess.run(["restic", "-r", repository, "-o", f"s3.region={PRIMARY}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **world.client_env(key), "RESTIC_PASSWORD": PASSWORD})


def test_sixty_days_pruned_weekly_stay_bounded_and_the_oldest_kept_snapshot_restores(world, onprem_plan, tmp_path):  # noqa: F811
    from tests.restic_repositories import seed

    lock_days = example_installation("on-premise")["on_premise"].get("backup_lock_days", 30)
    bucket, policy = bucket_of(onprem_plan, "offsite-location-1")
    world.bucket(bucket, PRIMARY, object_lock_days=lock_days, policy=policy)
    host_key = world.user("daktela-acme-onprem-backup",
                          [one(onprem_plan, "aws:iam/userPolicy:UserPolicy", "host-policy").inputs["policy"]])
    prune_key = world.user("daktela-acme-onprem-prune",
                           [one(onprem_plan, "aws:iam/rolePolicy:RolePolicy", "prune-policy").inputs["policy"]])
    planned = RetentionTargets.from_json(onprem_plan.outputs["retention_targets"])
    assert planned.keep_within_days == lock_days  # nothing younger than the lock is ever forgotten
    targets = RetentionTargets(**{**planned.__dict__, "repositories": planned.repositories[:1]})
    location = targets.repositories[0]
    assert location.bucket == bucket
    seed(world.admin_client("s3", PRIMARY), bucket, location.prefix, PASSWORD)
    url = repository_url(location, world.endpoint)

    data = tmp_path / "srv" / "daktela"
    (data / "attachments").mkdir(parents=True)
    start = datetime(2026, 9, 1, 1, 0, tzinfo=timezone.utc)
    written: dict[int, str] = {}  # day -> sha256 of that day's attachment
    sizes: dict[int, int] = {}
    admin = world.admin_client("s3", PRIMARY)

    def size() -> int:
        return sum(o["Size"] for page in admin.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=location.prefix) for o in page.get("Contents", []))

    def versions_deleted() -> int:
        """Versions gone for good: DELETE requests naming a version that the double let through."""
        return sum(1 for r in world.state.records
                   if r.method == "DELETE" and "versionId=" in r.query and r.status < 300)

    env = {**os.environ, **world.client_env(prune_key), "RESTIC_PASSWORD": PASSWORD}
    for day in range(DAYS):
        content = os.urandom(DAILY_BYTES)
        (data / "attachments" / f"day-{day:02d}.bin").write_bytes(content)
        written[day] = hashlib.sha256(content).hexdigest()
        old = data / "attachments" / f"day-{day - 5:02d}.bin"
        if old.exists():
            old.unlink()  # archived: no longer on the operational drive
        when = (start + timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S")
        backed_up = restic(world, host_key, url, "backup", "--host", targets.installation_id, "--time", when,
                           "srv", cwd=tmp_path)
        assert backed_up.returncode == 0, backed_up.stderr
        if day % PRUNE_EVERY == PRUNE_EVERY - 1 or day == DAYS - 1:
            done, failed = prune_all(targets, env, lambda region: world_client(world, prune_key, region),
                                     world.endpoint)
            assert failed == [] and len(done) == 1, failed
            sizes[day] = size()
            assert done[0].size_bytes == sizes[day]

    # Bounded: what stays is exactly what the kept snapshots need (each day's snapshot holds the
    # last five days' files), the rest is gone, and the size has stopped growing.
    listed = json.loads(restic(world, host_key, url, "snapshots", "--json", cwd=tmp_path).stdout)
    kept_days = {(datetime.fromisoformat(s["time"][:19]).replace(tzinfo=timezone.utc) - start).days for s in listed}
    assert kept_days >= set(range(DAYS - lock_days, DAYS))  # the lock's window, whole
    needed = {d for kept in kept_days for d in range(max(0, kept - 4), kept + 1)}
    assert len(needed) < 0.85 * DAYS, sorted(needed)
    final = sizes[DAYS - 1]
    assert len(needed) * DAILY_BYTES <= final <= len(needed) * DAILY_BYTES * 1.05 + 2_000_000, (final, len(needed))
    readings = [sizes[d] for d in sorted(sizes)]
    assert max(readings[-3:]) <= min(readings[-3:]) * 1.15, readings  # flat over the last two weeks
    # The status: its size and the trend, one reading per prune; a repository never pruned is a problem
    lines, problems = recorded(targets, lambda region: world_client(world, prune_key, region))
    assert problems == [] and lines[0].startswith("location-1 (eu-central-1): ")
    assert f"{sizes[DAYS - 1] / 1e9:.2f} GB (last sizes, GB: " in lines[0]
    both = RetentionTargets(**{**planned.__dict__, "repositories": planned.repositories})
    world.bucket(planned.repositories[1].bucket, planned.repositories[1].region, object_lock_days=lock_days,
                 policy=bucket_of(onprem_plan, "offsite-location-2")[1])
    _, problems = recorded(both, lambda region: world_client(world, prune_key, region))
    assert len(problems) == 1 and problems[0].startswith("location-2 (eu-west-1): never pruned (s3://")
    status = json.loads(admin.get_object(Bucket=bucket, Key=f"status/{targets.installation_id}/retention-location-1.json")["Body"].read())
    assert [r["bytes"] for r in status["readings"]] == [sizes[d] for d in sorted(sizes)]
    assert status["policy"] == forget_arguments(targets)[1:]

    # The oldest kept snapshot restores, byte for byte
    oldest = min(listed, key=lambda s: s["time"])
    oldest_day = (datetime.fromisoformat(oldest["time"][:19]).replace(tzinfo=timezone.utc) - start).days
    assert oldest_day < DAYS - lock_days  # older than the window: a monthly one, kept by the policy
    target = tmp_path / "restored"
    restored = restic(world, host_key, url, "restore", oldest["id"], "--target", str(target), "--verify", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    files = sorted((target / "srv" / "daktela" / "attachments").iterdir())
    assert [f.name for f in files] == [f"day-{d:02d}.bin" for d in range(max(0, oldest_day - 4), oldest_day + 1)]
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == written[int(path.stem[4:])]

    # Nothing was destroyed: deletes were markers, every version is still there for the lifecycle
    assert versions_deleted() == 0
    versions = admin.list_object_versions(Bucket=bucket, Prefix=f"{location.prefix}data/")
    assert versions.get("DeleteMarkers") and len(versions["Versions"]) > len(
        [o for o in admin.list_objects_v2(Bucket=bucket, Prefix=f"{location.prefix}data/").get("Contents", [])])
    # and the host's key still cannot delete a pack (only its own locks)
    pack = versions["Versions"][0]["Key"]
    denied = subprocess.run([sys.executable, "-c", (
        "import boto3, sys; s3 = boto3.client('s3', region_name=sys.argv[1], endpoint_url=sys.argv[2]);"
        "s3.delete_object(Bucket=sys.argv[3], Key=sys.argv[4])"), PRIMARY, world.endpoint, bucket, pack],
        capture_output=True, text=True, env={**os.environ, **world.client_env(host_key)})
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr


def world_client(world, key, region: str):  # noqa: F811
    """The S3 client scripts/prune.py makes, as the prune principal, trusting the double."""
    return s3_client({"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}, region,
                     world.endpoint, verify=world.client_env(key)["AWS_CA_BUNDLE"])


@pytest.mark.parametrize("hosting", ["cloud", "on-premise"])
def test_the_prune_principal_may_forget_but_never_destroy(hosting):
    plan = plan_of(example_installation(hosting))
    role = one(plan, "aws:iam/role:Role", "prune-role")
    assert role.inputs["name"].endswith("-prune")
    document = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "prune-policy").inputs["policy"])
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert "s3:DeleteObject" in actions and not actions & set(FORBIDDEN)
    deletes = [s for s in document["Statement"] if "s3:DeleteObject" in s["Action"]]
    assert all(r.endswith(f"/restic/{plan.outputs['installation']['id']}/*") for s in deletes for r in s["Resource"])
    # every bucket a prune touches expires old versions and then the delete markers it leaves
    for lifecycle in plan.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        [rule] = [r for r in lifecycle.inputs["rules"] if r["id"] == "expire-old-versions-and-stale-uploads"]
        assert rule["expiration"] == {"expiredObjectDeleteMarker": True}
    if hosting == "on-premise":  # noncurrent versions go no earlier than the lock ends
        lock = example_installation(hosting)["on_premise"].get("backup_lock_days", 30)
        for lifecycle in plan.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
            assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] >= lock


def test_prune_script_needs_the_password_and_the_outputs(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"installation": {"id": "x"}}))
    script = [sys.executable, str(REPO / "scripts" / "prune.py"), "--outputs", str(outputs)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    missing = subprocess.run(script, capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "RESTIC_PASSWORD_FILE" in missing.stderr
    no_targets = subprocess.run(script, capture_output=True, text=True, env={**env, "RESTIC_PASSWORD": "x"})
    assert no_targets.returncode == 2 and "retention_targets" in no_targets.stderr


def test_a_denied_key_prunes_nothing_and_says_which_repository(world, onprem_plan, tmp_path):  # noqa: F811
    """The host's key in the prune role's place (a runner that assumed the wrong role): restic may
    read but not delete, so the prune of location 1 fails with the denial as its cause in one line,
    the repository named, nothing forgotten or recorded; location 2, with nothing to forget, is
    still pruned."""
    from tests.restic_repositories import seed

    lock_days = example_installation("on-premise")["on_premise"].get("backup_lock_days", 30)
    planned = RetentionTargets.from_json(onprem_plan.outputs["retention_targets"])
    for number, repository in enumerate(planned.repositories, 1):
        world.bucket(repository.bucket, repository.region, object_lock_days=lock_days,
                     policy=bucket_of(onprem_plan, f"offsite-location-{number}")[1])
        seed(world.admin_client("s3", repository.region), repository.bucket, repository.prefix, PASSWORD)
    host_key = world.user("daktela-acme-onprem-backup",
                          [one(onprem_plan, "aws:iam/userPolicy:UserPolicy", "host-policy").inputs["policy"]])
    first = planned.repositories[0]
    data = tmp_path / "srv"
    data.mkdir()
    (data / "a.bin").write_bytes(os.urandom(10_000))
    for when in ("2026-09-01 01:00:00", "2026-09-02 01:00:00"):
        backed_up = restic(world, host_key, repository_url(first, world.endpoint), "backup", "--host",
                           planned.installation_id, "--time", when, "srv", cwd=tmp_path)
        assert backed_up.returncode == 0, backed_up.stderr
    strict = RetentionTargets(**{**planned.__dict__, "keep_within_days": 0, "keep_daily": 1, "keep_weekly": 0,
                                 "keep_monthly": 0})
    env = {**os.environ, **world.client_env(host_key), "RESTIC_PASSWORD": PASSWORD}
    done, failed = prune_all(strict, env, lambda region: world_client(world, host_key, region), world.endpoint)
    assert [d.repository.name for d in done] == ["location-2"] and len(failed) == 1, failed
    assert failed[0].startswith("location-1 (eu-central-1): restic forget failed: "), failed[0]
    assert "is not authorized to perform s3:DeleteObject" in failed[0], failed[0]
    assert "\n" not in failed[0] and ".go:" not in failed[0]
    listed = world.admin_client("s3", PRIMARY).list_objects_v2(Bucket=first.bucket, Prefix="status/")
    assert not listed.get("Contents")  # nothing recorded for location 1
    assert len(json.loads(restic(world, host_key, repository_url(first, world.endpoint), "snapshots", "--json",
                                 cwd=tmp_path).stdout)) == 2  # nothing forgotten


def test_a_location_that_never_answers_is_given_up_after_the_silence(world, onprem_plan):  # noqa: F811
    """Both repositories behind a location that completes TLS and then answers nothing (a stuck proxy):
    each restic is ended after the prune's silence, not at the run's 12-hour timeout, and each
    repository fails on its own with the watchdog's cause in one line; nothing is recorded and no
    restic is left running."""
    import time

    from tests.rude_network import SilentLocation

    planned = RetentionTargets.from_json(onprem_plan.outputs["retention_targets"])
    key = world.user("daktela-acme-onprem-prune-silent", [])
    env = {**os.environ, **world.client_env(key), "RESTIC_PASSWORD": PASSWORD}
    silent = SilentLocation(world.ca, world.ca.with_name("proxy.key"))
    asked: list[str] = []
    try:
        started = time.monotonic()
        done, failed = prune_all(planned, env, lambda region: asked.append(region), silent.endpoint,
                                 silence_seconds=4)
        took = time.monotonic() - started
    finally:
        silent.close()
    assert done == [] and len(failed) == 2 and asked == [], (done, failed)
    for repository, line in zip(planned.repositories, failed):
        assert line.startswith(f"{repository.name} ({repository.region}): restic forget failed: no progress for 4 s "
                               "(the location stopped answering)"), line
        assert "\n" not in line
    assert silent.accepted >= 2 and took < 2 * (4 + 10 + 15), took  # silence, the grace, the clock's read
    left = subprocess.run(["pgrep", "-f", f"restic -r s3:{silent.endpoint}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout

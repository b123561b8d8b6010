"""The weekly restore drill on the throwaway host: real restic, Debian's MariaDB 10.11, both
locations in the strict double of S3 and IAM with the plan's own host key. A good snapshot passes
with the source's table checksums; a corrupted snapshot, a dump that does not load and a scratch
directory too small each fail the drill, and the failure is where the checker reads it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests import mariadb_host
from tests.test_backups_against_aws import PRIMARY, SECONDARY, locations, onprem_plan, world  # noqa: F401
from tests.test_restore_runbook import run_step

DATABASE = "daktela"
RUNBOOK_VARIABLES = {"DATABASE": DATABASE, "DUMP_USER": "daktela_backup"}


def customer_host(world, locations, test_host, scratch: str, database: bool = True):  # noqa: F811
    """The host as it runs: drives, jobs with the plan's key, the customer's database, one backup
    (into repositories that exist: the first run's init is test_backups_against_aws's subject).
    Without `database`, the dump is the fixtures' stand-in (for drills that fail before loading it,
    or that replace it)."""
    from tests.onprem_fixtures import install, prepared_with_data, seed_locations

    mariadb_host.need_mariadb(test_host)
    prepared_with_data(test_host)
    job = dataclasses.replace(locations.job([world.endpoint, world.endpoint]), drill_scratch=scratch)
    install(test_host, job, locations.key.access_key_id, locations.key.secret_access_key)
    seed_locations(job, locations.admin_s3)
    if database:
        assert test_host.run("rm /usr/local/sbin/mariadb-dump").returncode == 0  # Debian's from here on
        mariadb_host.start(test_host, f"{test_host.mount_point('operational')}/database/mysql")
        mariadb_host.fill(test_host, DATABASE)
        run_step(test_host, "dump-user", {**RUNBOOK_VARIABLES, "OPERATIONAL": "", "TARGET": ""})
    backup = test_host.run("/usr/local/sbin/daktela-backup")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    return job


def results_in_the_cloud(world, locations) -> dict[tuple[int, int], dict]:  # noqa: F811
    """{(bucket number, location number): drill result} of every drill object in both buckets."""
    found = {}
    for bucket_number, (bucket, region) in enumerate(zip(locations.buckets, (PRIMARY, SECONDARY)), 1):
        s3 = world.admin_client("s3", region)
        for number in (1, 2):
            key = f"status/acme-onprem/drill-location-{number}.json"
            try:
                found[(bucket_number, number)] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                pass
    return found


def drill(test_host, *args: str):
    # the host's run helper waits at most 120 s; a drill of this data takes a few seconds
    return test_host.run(" ".join(["/usr/local/sbin/daktela-restore-drill", *args]))


def test_drill_restores_both_locations_and_the_database_checksums_equal_the_source(
        world, locations, test_host):  # noqa: F811
    scratch = str(test_host.root / "drill-scratch")
    customer_host(world, locations, test_host, scratch)
    source = mariadb_host.checksums(test_host, DATABASE)
    # A temporary table's file of the customer's running server, where Debian's server keeps them
    # (tmpdir /tmp): a starting server deletes every `#sql*` file in its tmpdir.
    in_use = f"/tmp/#sql-temptable-daktela-test-{uuid.uuid4().hex}.MAI"
    Path(in_use).write_bytes(b"a temporary table of the customer's server")
    try:
        run = drill(test_host)
        assert Path(in_use).exists(), "the drill's throwaway server deleted the running server's temporary files"
    finally:
        Path(in_use).unlink(missing_ok=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.refused() == []
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["location-1", "location-2"]
    assert "not counted toward the SLA" in lines[0] and "3 tables loaded and checksummed" in lines[0]
    for number in (1, 2):
        local = json.loads(test_host.run(f"cat /var/lib/daktela-backup/drill-location-{number}.json").stdout)
        assert local["result"] == "success" and local["last_success"] == local["time"]
        assert local["database"]["checksums"] == source  # the restored dump is the source, table by table
        assert local["files"] > 0 and local["directories"] > 0 and local["bytes"] > 0
        assert local["transfer_seconds"] >= 0 and local["rest_seconds"] > 0
    assert set(results_in_the_cloud(world, locations)) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert test_host.run(f"ls -A {scratch}").stdout == ""  # nothing left behind


def checker_sees(world, locations, monkeypatch):  # noqa: F811
    from components.config import parse_installation
    from components.freshness import Watch, boto3_clients, check, publish
    from components.installation import onprem_freshness_watch
    from tests.conftest import example_installation

    installation = parse_installation(example_installation("on-premise"))
    watch = Watch.from_json(onprem_freshness_watch(installation, locations.buckets).to_json())
    world.act_as(monkeypatch, locations.checker_key)
    clients = boto3_clients(world.endpoint)
    findings = check(watch, clients)
    publish(watch, findings, clients)
    assert world.refused() == []
    cloudwatch = world.admin_client("cloudwatch", PRIMARY)
    published = {}
    for metric in ("RestoreDrillFailed", "RestoreDrillAgeHours"):
        for technology in ("drill-location-1", "drill-location-2"):
            points = cloudwatch.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {
                "Namespace": "Daktela/acme-onprem", "MetricName": metric,
                "Dimensions": [{"Name": "Installation", "Value": "acme-onprem"},
                               {"Name": "Technology", "Value": technology}]}, "Period": 60, "Stat": "Maximum"}}],
                StartTime=datetime.now(timezone.utc) - timedelta(hours=1),
                EndTime=datetime.now(timezone.utc) + timedelta(minutes=5))["MetricDataResults"][0]["Values"]
            if points:
                published[(metric, technology)] = max(points)
    return {f.technology: f for f in findings}, published


def test_a_corrupted_snapshot_fails_its_location_and_keeps_the_last_success(world, locations, test_host, monkeypatch):  # noqa: F811
    scratch = str(test_host.root / "drill-scratch")
    customer_host(world, locations, test_host, scratch)
    assert drill(test_host, "--location", "1").returncode == 0
    first = json.loads(test_host.run("cat /var/lib/daktela-backup/drill-location-1.json").stdout)

    # Somebody (or something) corrupts a data pack of location 1: a new version with other bytes.
    s3 = world.admin_client("s3", PRIMARY)
    bucket = locations.buckets[0]
    packs = [o for o in s3.list_objects_v2(Bucket=bucket, Prefix="restic/acme-onprem/data/")["Contents"]]
    largest = max(packs, key=lambda o: o["Size"])
    body = bytearray(s3.get_object(Bucket=bucket, Key=largest["Key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=largest["Key"], Body=bytes(body))

    run = drill(test_host, "--location", "1")
    assert run.returncode == 1
    assert "location-1: DRILL FAILED:" in run.stderr
    failed = results_in_the_cloud(world, locations)[(2, 1)]  # the other location knows it too
    assert failed["result"] == "failed" and failed["error"]
    # Issue 23.2: the cause in one line, restic's own, not the last line of a Go trace
    # ("runtime/asm_amd64.s:1594"); damage, which stays until a repair is recorded
    assert failed["error"].endswith("ciphertext verification failed"), failed["error"]
    assert ".go:" not in failed["error"] and ".s:" not in failed["error"] and "\n" not in failed["error"]
    assert failed["error_kind"] == "damage" and failed["last_damage"]["cause"] == failed["error"]
    assert failed["last_success"] == first["time"]  # when it last worked, for the alarm's age
    # issue 25.7: which result holds the table checksums after a failed drill: the failed one still
    # carries its last success's, with that snapshot (docs/restore.md, the runbook's step 6)
    assert first["last_success_checksums"] == {"snapshot": first["snapshot"], "checksums": first["database"]["checksums"]}
    assert failed["last_success_checksums"] == first["last_success_checksums"] and "database" not in failed
    assert test_host.run(f"ls -A {scratch}").stdout == ""

    # The checker, with the plan's checker policy, reports it and publishes what the alarms watch.
    findings, published = checker_sees(world, locations, monkeypatch)
    assert findings["drill-location-1"].status == "failed"
    assert findings["location-1"].failed.startswith("repository damaged since")  # its backups too
    assert findings["drill-location-1"].newest is not None  # the earlier success still dates it
    # never drilled: dated by its first backup, minutes ago, so its first drill is still due
    assert findings["drill-location-2"].status == "first drill due"
    assert findings["drill-location-2"].detail.startswith("no drill since the first backup at ")
    assert published[("RestoreDrillFailed", "drill-location-1")] == 1.0
    assert ("RestoreDrillAgeHours", "drill-location-1") in published
    assert published[("RestoreDrillFailed", "drill-location-2")] == 0.0
    assert published[("RestoreDrillAgeHours", "drill-location-2")] < 1  # grows until a drill runs


def test_a_dump_that_does_not_load_fails_the_drill(world, locations, test_host):  # noqa: F811
    customer_host(world, locations, test_host, str(test_host.root / "drill-scratch"), database=False)
    broken = "#!/bin/sh\necho 'CREATE TABLE calls (id INT PRIMARY KEY'\necho 'INSERT INTO nowhere VALUES (1);'\n"
    written = test_host.run(f"cat > /usr/local/sbin/mariadb-dump <<'STUB'\n{broken}STUB\nchmod 755 /usr/local/sbin/mariadb-dump")
    assert written.returncode == 0, written.stderr
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0  # the dump command itself "worked"
    run = drill(test_host, "--location", "2")
    assert run.returncode == 1
    assert "location-2: DRILL FAILED: the database dump does not load: ERROR 1064" in run.stderr
    assert results_in_the_cloud(world, locations)[(1, 2)]["result"] == "failed"


def test_too_little_scratch_space_fails_before_anything_is_copied(world, locations, test_host):  # noqa: F811
    tiny = str(test_host.root / "tiny")
    customer_host(world, locations, test_host, tiny, database=False)
    assert test_host.run(f"mkdir -p {tiny} && mount -t tmpfs -o size=1m tmpfs {tiny}").returncode == 0
    run = drill(test_host, "--location", "1")
    assert run.returncode == 1
    assert "not enough space in " + tiny + " (restore_drill.scratch_dir): the drill needs" in run.stderr
    assert test_host.run(f"ls -A {tiny}").stdout == ""


@pytest.mark.drives(operational=3 << 30)
def test_a_drill_of_data_many_times_its_scratch_space_passes(world, locations, test_host):  # noqa: F811
    """Production's shape in miniature: a scratch directory of 320 MB (a tmpfs of its own) and an
    installation of 2.6 GB of files: a sparse 2 GB disk image (as the code sees it: 2 GB read, checked
    and counted), 600 MB of attachments (three day directories of 100 MB, and one flat directory of
    300 files of 1 MB, more than a batch holds, so restored a file at a time, one name needing
    escaping) and a database of three tables of about 80 MB each, more than the scratch holds beside
    the throwaway server's own 126 MB. The files are restored and verified in batches that fit,
    each removed before the next, the disk image streamed; the tables are loaded, checksummed and
    dropped one at a time; the source's checksums come back."""
    scratch = str(test_host.root / "small-scratch")
    assert test_host.run(f"mkdir -p {scratch} && mount -t tmpfs -o size=320m tmpfs {scratch}").returncode == 0
    try:
        mariadb_host.need_mariadb(test_host)
        from tests.onprem_fixtures import install, prepared_with_data, seed_locations

        prepared_with_data(test_host)
        operational = test_host.mount_point("operational")
        assert test_host.run(f"truncate -s 2G {operational}/application/disk.img").returncode == 0
        attachments = f"{operational}/attachments/2026"
        made = test_host.run(
            f"set -e; for day in 01 02 03; do mkdir -p {attachments}/11-$day; for n in $(seq 25); do "
            f"head -c 4000000 /dev/urandom > {attachments}/11-$day/call-$n.wav; done; done; "
            f"mkdir -p {attachments}/flat; for n in $(seq 300); do "
            f"head -c 1000000 /dev/urandom > {attachments}/flat/scan-$n.pdf; done; "
            f"mv {attachments}/flat/scan-7.pdf '{attachments}/flat/scan [7] *.pdf'")
        assert made.returncode == 0, made.stderr
        job = dataclasses.replace(locations.job([world.endpoint, world.endpoint]), drill_scratch=scratch)
        install(test_host, job, locations.key.access_key_id, locations.key.secret_access_key)
        seed_locations(job, locations.admin_s3)
        assert test_host.run("rm /usr/local/sbin/mariadb-dump").returncode == 0  # Debian's from here on
        mariadb_host.start(test_host, f"{operational}/database/mysql")
        mariadb_host.sql(test_host, f"CREATE DATABASE `{DATABASE}`")
        for table in ("activities", "calls", "tickets"):
            mariadb_host.sql(test_host, f"CREATE TABLE {table} (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB", DATABASE)
            mariadb_host.sql(test_host, f"INSERT INTO {table} SELECT seq, REPEAT(MD5(seq), 24) FROM seq_1_to_80000",
                             DATABASE)
        run_step(test_host, "dump-user", {**RUNBOOK_VARIABLES, "OPERATIONAL": "", "TARGET": ""})
        source = mariadb_host.checksums(test_host, DATABASE)
        backup = test_host.run("/usr/local/sbin/daktela-backup")
        assert backup.returncode == 0, backup.stdout + backup.stderr

        run = test_host.run("/usr/local/sbin/daktela-restore-drill --location 1", timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
        local = json.loads(test_host.run("cat /var/lib/daktela-backup/drill-location-1.json").stdout)
        assert local["bytes"] > 2 * 1024 ** 3 + 600_000_000 > 7 * (320 << 20)  # every byte, 7x the scratch
        assert local["streamed_files"] == 1 and local["batches"] >= 3, local  # the image; the rest in batches
        assert local["files"] > 375
        assert local["database"]["checksums"] == source and local["database"]["tables_kept"] is False
        largest = local["database"]["largest_table_bytes"]
        assert 40 << 20 < largest < 160 << 20, largest  # one table at a time, never the three
        assert test_host.run(f"ls -A {scratch}").stdout == ""
    finally:
        test_host.run(f"umount {scratch}")

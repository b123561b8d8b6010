"""Restore on the test host from the newest healthy location, verified, with time split into
transfer (connectivity) and the rest."""

from __future__ import annotations

import pytest

from components.host.restore import RestoreError, restore
from components.host.ssh import Connection
from tests.onprem_fixtures import backup_job, install, make_buckets, moto_s3, prepared_with_data, seed_locations

UNREACHABLE = "http://127.0.0.1:1"


def restored_hashes(host, target: str) -> dict[str, str]:
    operational = host.mount_point("operational")
    listing = host.run(f"cd {target}{operational} && find . -type f -exec sha256sum {{}} +").stdout
    return {path[2:]: digest for digest, path in (line.split(maxsplit=1) for line in listing.splitlines())}


def test_restore_from_the_newest_healthy_location_equals_the_source(test_host, aws_env, moto_endpoint):
    hashes = prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], "unused")
    install(test_host, job)
    seed_locations(job, moto_s3(moto_endpoint))  # the first run's init is test_onprem_backup's
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0
    # Location 1 becomes unreachable before the restore: the restore uses location 2.
    install(test_host, backup_job(test_host, buckets, [UNREACHABLE, moto_endpoint], "unused"))

    target = str(test_host.root / "restore-target")
    lines = []
    with Connection(test_host.access()) as connection:
        report = restore(connection, target, progress=lines.append)
    assert report.location.number == 2
    assert report.locations[0].error and report.locations[0].snapshot_id is None
    expected = {path: digest for path, digest in hashes.items() if not path.startswith("recordings/")}
    got = restored_hashes(test_host, target)
    assert {p: d for p, d in got.items() if p in expected} == expected
    assert "database-dumps/daktela.sql.gz" in got
    assert report.transfer_seconds > 0 and report.rest_seconds > 0
    text = "\n".join(report.lines())
    assert "transfer (connectivity, not counted toward the SLA)" in text
    assert "restore and verification (counted)" in text
    assert test_host.run("ls /var/tmp | grep -c daktela-restore-scratch").stdout.strip() in ("", "0")


def test_restore_never_overwrites_and_needs_a_snapshot(test_host, aws_env, moto_endpoint):
    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], "unused")
    install(test_host, job)
    with Connection(test_host.access()) as connection:
        with pytest.raises(RestoreError, match="no usable snapshot"):
            restore(connection, str(test_host.root / "t1"))
    seed_locations(job, moto_s3(moto_endpoint))
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0
    occupied = test_host.root / "occupied"
    test_host.run(f"mkdir -p {occupied} && echo keep > {occupied}/mine.txt")
    with Connection(test_host.access()) as connection:
        with pytest.raises(RestoreError, match="is not empty; a restore never overwrites"):
            restore(connection, str(occupied), location=1)
    assert test_host.run(f"cat {occupied}/mine.txt").stdout == "keep\n"


def test_restore_script_reports_the_sla_split(test_host, aws_env, moto_endpoint, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.test_prepare_host_script import stack_for

    prepared_with_data(test_host)
    buckets = make_buckets(moto_endpoint)
    job = backup_job(test_host, buckets, [moto_endpoint, moto_endpoint], "unused")
    install(test_host, job)
    seed_locations(job, moto_s3(moto_endpoint))
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0
    stack, key = stack_for(test_host, tmp_path)
    target = str(test_host.root / "script-restore")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "restore.py"), stack, "--key", key,
                             "--target", target, "--location", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from location 1 (eu-central-1)" in result.stdout
    assert "transfer (connectivity, not counted toward the SLA):" in result.stdout
    empty = subprocess.run([sys.executable, str(REPO / "scripts" / "restore.py"), stack, "--key", key,
                            "--target", target], capture_output=True, text=True, timeout=600)
    assert empty.returncode == 1 and "not empty" in empty.stderr

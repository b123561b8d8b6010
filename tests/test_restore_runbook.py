"""The restore runbook (docs/restore.md), end to end, with the runbook's own commands: a server
with real MariaDB is backed up into two locations, lost, and brought back on a fresh database
server; its tables' checksums, routines and files equal the source's, and the next backup runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from tests import mariadb_host
from tests.conftest import REPO
from tests.onprem_fixtures import backup_job, install, make_buckets, moto_s3, prepared_with_data, seed_locations

RUNBOOK = REPO / "docs" / "restore.md"
STEP = re.compile(r"<!-- runbook-step: (\S+) -->\n```sh\n(.*?)```", re.S)


def steps() -> dict[str, str]:
    return dict(STEP.findall(RUNBOOK.read_text()))


def test_runbook_names_its_steps_in_order():
    assert list(steps()) == ["variables", "pause-backups", "restore", "files", "database", "dump-user",
                             "verify-and-back-up"]


def run_step(host, name: str, variables: dict[str, str]) -> subprocess.CompletedProcess:
    """One step as an operator runs it: bash, as root, on the host, with the runbook's variables."""
    script = "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items()) + steps()[name]
    result = host.run(f"bash -euc {shlex.quote(script)}")
    assert result.returncode == 0, f"step {name}: {result.stdout}{result.stderr}"
    return result


def restore_as_documented(host, tmp_path, target: str) -> subprocess.CompletedProcess:
    """The runbook's restore command with this test's stack file, key and target."""
    from tests.test_prepare_host_script import stack_for

    documented = shlex.split(steps()["restore"])
    assert documented[:2] == [".venv/bin/python", "scripts/restore.py"]
    assert documented[3] == "--key" and documented[5] == "--target"
    stack, key = stack_for(host, tmp_path)
    command = [sys.executable, str(REPO / documented[1]), stack, "--key", key, "--target", target, *documented[7:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)


def test_runbook_brings_a_lost_server_back(test_host, aws_env, moto_endpoint, tmp_path):
    mariadb_host.need_mariadb(test_host)
    hashes = prepared_with_data(test_host)
    job = backup_job(test_host, make_buckets(moto_endpoint), [moto_endpoint, moto_endpoint], "unused")
    install(test_host, job)
    seed_locations(job, moto_s3(moto_endpoint))  # the first run's init is test_onprem_backup's
    assert test_host.run("rm /usr/local/sbin/mariadb-dump").returncode == 0  # Debian's from here on
    operational = test_host.mount_point("operational")
    target = str(test_host.root / "restore-target")
    documented = dict(re.findall(r"^(\w+)=(\S+)", steps()["variables"], re.M))
    variables = {**documented, "OPERATIONAL": operational, "TARGET": target}
    assert set(variables) == {"OPERATIONAL", "TARGET", "DATABASE", "DUMP_USER"}
    datadir = f"{operational}/database/mysql"

    # The server as it ran: the customer's database, the backup's user as the runbook makes it.
    mariadb_host.start(test_host, datadir)
    mariadb_host.fill(test_host, variables["DATABASE"])
    run_step(test_host, "dump-user", variables)
    source = mariadb_host.checksums(test_host, variables["DATABASE"])
    objects = mariadb_host.routines(test_host, variables["DATABASE"])
    assert len(source) == 3 and "PROCEDURE calls_of" in objects and "EVENT nightly" in objects
    backup = test_host.run("/usr/local/sbin/daktela-backup")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert "database dump written" in backup.stdout

    # The server is lost: a fresh database server, the operational drive's data gone.
    mariadb_host.stop(test_host)
    wiped = test_host.run(f"rm -rf {operational}/application/* {operational}/attachments/* "
                          f"{operational}/database/* {operational}/database-dumps")
    assert wiped.returncode == 0
    mariadb_host.start(test_host, datadir)
    assert mariadb_host.sql(test_host, "SHOW DATABASES LIKE 'daktela'") == ""

    run_step(test_host, "pause-backups", variables)
    restored = restore_as_documented(test_host, tmp_path, target)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"laid out as on the host: {target}{operational}/" in restored.stdout
    run_step(test_host, "files", variables)
    run_step(test_host, "database", variables)
    run_step(test_host, "dump-user", variables)
    verified = run_step(test_host, "verify-and-back-up", variables)

    assert mariadb_host.checksums(test_host, variables["DATABASE"]) == source
    assert mariadb_host.routines(test_host, variables["DATABASE"]) == objects
    # issue 25.7: the runbook's CREATE DATABASE gave the server's default, utf8mb4_general_ci
    assert mariadb_host.sql(test_host, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
                            f"information_schema.SCHEMATA WHERE SCHEMA_NAME = '{variables['DATABASE']}'") \
        == "utf8mb4\tutf8mb4_unicode_ci\n"
    checksum_lines = {line.split("\t")[0].split(".", 1)[1]: int(line.split("\t")[1])
                      for line in verified.stdout.splitlines() if line.startswith(variables["DATABASE"] + ".")}
    assert checksum_lines == source  # what the runbook's own check printed
    assert "location 2 (eu-west-1): snapshot" in verified.stdout  # the next backup ran, dump user and all
    for path, digest in hashes.items():
        if path.split("/")[0] in ("application", "attachments"):
            line = test_host.run(f"sha256sum {operational}/{path}").stdout.split()
            assert line and line[0] == digest, path

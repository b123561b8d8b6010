"""Preparing the throwaway test host for real: loop-device drives, fstab, mounts, over SSH."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from components.host.layout import DesiredDrive, DesiredLayout
from components.host.planner import PlanRefused
from components.host.prepare import StalePlan, StepFailed, apply, prepare, read_plan
from components.host.ssh import Connection, HostError


def layout_for(host, allow_wipe: bool = False, **changes) -> DesiredLayout:
    drives = []
    for role, drive in host.drives.items():
        desired = DesiredDrive(role, drive.identity, drive.size_bytes,
                               "ext4" if role == "operational" else "xfs", host.mount_point(role), allow_wipe)
        drives.append(desired.__class__(**{**desired.__dict__, **changes.get(role, {})}))
    return DesiredLayout(tuple(drives))


def image_digest(host, role: str) -> str:
    return hashlib.sha256(host.drives[role].backing_file.read_bytes()).hexdigest()


def assert_prepared(host, layout: DesiredLayout) -> None:
    for drive in layout.drives:
        found = host.run(f"findmnt -n -o SOURCE,FSTYPE --mountpoint {drive.mount_point}").stdout.split()
        assert found == [f"{host.drives[drive.role].device}p1", drive.filesystem], drive.role
        uuid = host.run(f"blkid -p -o value -s UUID {found[0]}").stdout.strip()
        assert uuid == drive.filesystem_uuid
        assert drive.fstab_line() in host.fstab().splitlines()
        for directory in drive.directories:
            stat = host.run(f"stat -c '%U %G %a' {directory.path}").stdout.split()
            assert stat == [directory.owner, directory.group, f"{directory.mode:o}"], directory.path
    verify = host.run("findmnt --verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_fresh_drives_are_prepared_and_a_second_run_changes_nothing(test_host):
    layout = layout_for(test_host)
    lines = []
    with Connection(test_host.access()) as connection:
        result = prepare(connection, layout, progress=lines.append)
    assert result.applied and len(result.steps) == 10
    assert lines[0].startswith("[1/10] operational: create a GPT partition table on /dev/loop")
    assert_prepared(test_host, layout)
    backups = list((test_host.root / "etc").glob("fstab.daktela-backup-*"))
    assert len(backups) == 1 and "daktela-toolkit" not in backups[0].read_text()
    assert '"prepared_by": "daktela-installation-toolkit"' in (
        test_host.root / "etc" / "daktela-toolkit" / "host.json").read_text()

    fstab_before = test_host.fstab()
    with Connection(test_host.access()) as connection:
        again = prepare(connection, layout)
        assert again.steps == [] and not again.applied
        assert connection.commands_run == 1  # one round trip for a prepared host
    assert test_host.fstab() == fstab_before


def test_dry_run_changes_nothing(test_host):
    layout = layout_for(test_host)
    before = {role: image_digest(test_host, role) for role in test_host.drives}
    fstab = test_host.fstab()
    with Connection(test_host.access()) as connection:
        result = prepare(connection, layout, dry_run=True)
    assert len(result.steps) == 10 and not result.applied
    assert {role: image_digest(test_host, role) for role in test_host.drives} == before
    assert test_host.fstab() == fstab


def test_drive_with_files_is_refused_and_untouched_until_consent(test_host):
    device = test_host.drives["operational"].device
    stage = test_host.root / "stage-op"  # the test's own directory (the host's /tmp is this machine's)
    staged = test_host.run(f"mkfs.ext4 -q -L customer {device} && mkdir -p {stage} && "
                           f"mount {device} {stage} && echo precious > {stage}/data.txt && umount {stage}")
    assert staged.returncode == 0, staged.stderr
    before = image_digest(test_host, "operational")
    with Connection(test_host.access()) as connection:
        with pytest.raises(PlanRefused) as caught:
            prepare(connection, layout_for(test_host))
    assert "holds a ext4 signature on the whole disk" in str(caught.value)
    assert image_digest(test_host, "operational") == before
    assert "daktela-toolkit" not in test_host.fstab()

    consent = layout_for(test_host, operational={"allow_wipe": True})
    with Connection(test_host.access()) as connection:
        result = prepare(connection, consent)
    assert type(result.steps[0]).__name__ == "WipeSignatures"
    assert_prepared(test_host, consent)


def test_identity_or_size_mismatch_is_refused(test_host):
    with Connection(test_host.access()) as connection:
        with pytest.raises(PlanRefused, match="is not on this host"):
            prepare(connection, layout_for(test_host, operational={"identity": "serial:NOSUCHDISK"}))
        with pytest.raises(PlanRefused, match="config says"):
            prepare(connection, layout_for(test_host, archive={"size_bytes": 1 << 30}))
    assert "daktela-toolkit" not in test_host.fstab()


@pytest.mark.parametrize("cut_after", [1, 2, 5, 6, 9])
def test_connection_cut_during_apply_then_a_rerun_converges(test_host, cut_after):
    layout = layout_for(test_host)
    connection = Connection(test_host.access())

    def progress(line: str) -> None:
        if line == f"[{cut_after}/10] done":
            connection.close()  # the network goes away between two steps

    with pytest.raises((StepFailed, HostError)):
        prepare(connection, layout, progress=progress)
    with Connection(test_host.access()) as again:
        result = prepare(again, layout)
    assert result.applied and len(result.steps) == 10 - cut_after
    assert_prepared(test_host, layout)


def test_apply_aborts_when_the_host_changed_since_the_plan(test_host):
    layout = layout_for(test_host)
    with Connection(test_host.access()) as connection:
        facts, steps = read_plan(connection, layout)
        test_host.run(f"mkfs.ext4 -q {test_host.drives['archive'].device}")  # someone else was quicker
        before = image_digest(test_host, "operational")
        with pytest.raises(StalePlan, match="changed since the plan was made; nothing was applied"):
            apply(connection, layout, facts, steps)
    assert image_digest(test_host, "operational") == before


def test_preparing_again_keeps_the_database_servers_data_directory(test_host):
    """Issue 23.5: preparation made /srv/daktela/database root:root 0700 on every run, taking it from
    Debian's MariaDB (which runs as mysql) and so stopping it at its next new file. The server runs
    from the prepared drive as mysql; preparation and the PreparedHost update run again; the same
    server process still creates tables there."""
    layout = layout_for(test_host)
    with Connection(test_host.access()) as connection:
        prepare(connection, layout)
    datadir = f"{test_host.mount_point('operational')}/database"
    # A real host's /srv is traversable by everyone; the test's temporary directories are not (pytest
    # makes them 0700): let the server's user through them for the test, as /srv would.
    ancestors = [p for p in Path(datadir).parents if p != Path("/")][1:]
    modes = {p: p.stat().st_mode & 0o7777 for p in ancestors}
    for path, mode in modes.items():
        path.chmod(mode | 0o001)
    try:
        _run_the_database_through_preparation(test_host, datadir)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def _run_the_database_through_preparation(test_host, datadir: str) -> None:
    from components.prepared_host import PreparedHostProvider
    from tests import mariadb_host
    from tests.test_prepared_host import props_for

    layout = layout_for(test_host)
    mariadb_host.start(test_host, datadir, user="mysql")  # the operator gives the server its directory
    mariadb_host.fill(test_host, "daktela", rows=20)
    server = test_host.run("cat /run/mysqld/mysqld.pid").stdout.strip()
    owner = test_host.run(f"stat -c '%U %G %a' {datadir}").stdout.split()
    assert owner[:2] == ["mysql", "mysql"]

    with Connection(test_host.access()) as connection:
        again = prepare(connection, layout)
    assert again.steps == []  # nothing to "fix": the directory is the application's now
    provider = PreparedHostProvider()
    props = props_for(test_host)
    created = provider.create(props)
    updated = provider.update(created.id, created.outs, props)
    assert created.outs["host"]["pending_steps"] == [] == updated.outs["host"]["pending_steps"]

    assert test_host.run(f"stat -c '%U %G %a' {datadir}").stdout.split() == owner
    assert test_host.run("cat /run/mysqld/mysqld.pid").stdout.strip() == server
    mariadb_host.sql(test_host, "CREATE TABLE after_preparation (id INT PRIMARY KEY); "
                                "INSERT INTO after_preparation VALUES (1)", "daktela")  # a new file in the directory
    assert mariadb_host.sql(test_host, "SELECT COUNT(*) FROM after_preparation", "daktela").strip() == "1"
    assert test_host.run(f"stat -c %U {datadir}/daktela/after_preparation.ibd").stdout.strip() == "mysql"
    mariadb_host.stop(test_host)


def test_a_directory_created_for_the_database_server_is_its_users(test_host):
    """on_premise.directory_owners: a directory the toolkit creates gets the configured owner."""
    layout = layout_for(test_host, operational={"owners": (("database", "mysql:mysql"),)})
    with Connection(test_host.access()) as connection:
        prepare(connection, layout)
    assert_prepared(test_host, layout)
    stat = test_host.run(f"stat -c '%U %G %a' {test_host.mount_point('operational')}/database").stdout.split()
    assert stat == ["mysql", "mysql", "700"]


def test_the_documented_commands_give_the_database_server_its_data_directory_on_the_drive(test_host):
    """Issue 25.7: docs/operate.md did not say how the database server gets its data directory on the
    operational drive. Its block runs here as written (the host's /etc and /var/lib are private
    copies), then Debian's server starts with Debian's own configuration and serves from the drive."""
    import re
    import shlex

    from tests import mariadb_host
    from tests.conftest import REPO

    mariadb_host.need_mariadb(test_host)
    with Connection(test_host.access()) as connection:
        prepare(connection, layout_for(test_host))
    operational = test_host.mount_point("operational")
    documented = re.search(r"<!-- datadir-step -->\n```sh\n(.*?)```", (REPO / "docs" / "operate.md").read_text(), re.S)
    assert documented, "docs/operate.md lost its datadir-step"
    script = documented.group(1).replace("OPERATIONAL=/srv/daktela", f"OPERATIONAL={shlex.quote(operational)}", 1)
    assert f"OPERATIONAL={operational}" in script
    ancestors = [p for p in Path(operational).parents if p != Path("/")][1:]  # /srv is traversable; pytest's dirs are not
    modes = {p: p.stat().st_mode & 0o7777 for p in ancestors}
    for path, mode in modes.items():
        path.chmod(mode | 0o001)
    try:
        ran = test_host.run(f"bash -euc {shlex.quote(script)}")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        started = test_host.run(
            f"mkdir -p {mariadb_host.TMPDIR} && chown mysql:mysql /run/mysqld {mariadb_host.TMPDIR} && "
            f"nohup mariadbd --user=mysql --skip-networking --socket={mariadb_host.SOCKET} "
            f"--tmpdir={mariadb_host.TMPDIR} --pid-file=/run/mysqld/mysqld.pid --log-error=/run/mysqld/error.log "
            ">/dev/null 2>&1 &")  # Debian's /etc/mysql/my.cnf and its conf.d files: the datadir is the block's
        assert started.returncode == 0, started.stderr
        import time

        deadline = time.monotonic() + 60
        while test_host.run(f"{mariadb_host.CLIENT} -e 'SELECT 1'").returncode != 0:
            assert time.monotonic() < deadline, test_host.run("cat /run/mysqld/error.log").stdout[-2000:]
            time.sleep(0.2)
        assert mariadb_host.sql(test_host, "SELECT @@datadir").strip() == f"{operational}/database/mysql/"
        mariadb_host.sql(test_host, "CREATE DATABASE daktela")
        assert test_host.run(f"stat -c %U {operational}/database/mysql/daktela").stdout.strip() == "mysql"
        mariadb_host.stop(test_host)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)

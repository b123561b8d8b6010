"""The on-premise job files checked by the tools that run them: systemd's verifier and calendar,
bash and shellcheck, Python's compiler."""

from __future__ import annotations

import os
import py_compile
import re
import subprocess

import pytest

from components.host.backup_job import BackupJob, BackupLocation, env_file, job_files
from tests.test_cloud_templates import need, systemd_verify

JOB = BackupJob(
    installation_id="acme-onprem", operational_mount="/srv/daktela", archive_mount="/srv/daktela-archive",
    archive_filesystem_uuid="0e2b2020-2ae5-54b1-9a23-37709803c699", times=("01:00", "13:00"),
    timezone="Europe/Prague", window_minutes=120, archive_after_days=90, database_engine="mariadb",
    database_name="daktela", database_user="daktela_backup",
    locations=(BackupLocation("eu-central-1", "bucket-1"), BackupLocation("eu-west-1", "bucket-2")),
)


@pytest.fixture(scope="module")
def files():
    return {f.path: f for f in job_files(JOB)}


def test_units_pass_systemd_analyze_verify(files, tmp_path):
    units = systemd_verify({p: (f.content, f.mode) for p, f in files.items()}, tmp_path / "root")
    assert sorted(units) == sorted([
        "daktela-backup.service", "daktela-backup.timer", "daktela-backup-check.service",
        "daktela-backup-check.timer", "daktela-archive.service", "daktela-archive.timer",
        "daktela-storage-meter.service", "daktela-storage-meter.timer",
        "daktela-restore-drill.service", "daktela-restore-drill.timer"])


def test_backup_timer_fires_twice_a_day_at_the_configured_host_times(files):
    need("systemd-analyze")
    timer = files["/etc/systemd/system/daktela-backup.timer"].content
    calendars = re.findall(r"^OnCalendar=(.+)$", timer, re.M)
    assert calendars == ["*-*-* 01:00:00 Europe/Prague", "*-*-* 13:00:00 Europe/Prague"]
    for calendar, expected in zip(calendars, ("01:00:00", "13:00:00")):
        result = subprocess.run(["systemd-analyze", "calendar", "--iterations=2", calendar],
                                capture_output=True, text=True, env={**os.environ, "TZ": "Europe/Prague"})
        assert result.returncode == 0, result.stderr
        elapses = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ \S+ (\S+) CE", result.stdout)
        assert elapses == [expected, expected], result.stdout


def test_backup_run_is_bounded_by_the_window(files):
    service = files["/etc/systemd/system/daktela-backup.service"].content
    assert "TimeoutStartSec=7200" in service and "RequiresMountsFor=/srv/daktela" in service


def test_scripts_pass_shellcheck_and_python_compiles(files, tmp_path):
    need("shellcheck")
    for name in ("daktela-backup", "daktela-share", "daktela-storage-meter"):
        script = tmp_path / name
        script.write_text(files[f"/usr/local/sbin/{name}"].content)
        lint = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, f"{name}:\n{lint.stdout}"
    for name in ("daktela-archive", "daktela-watchdog", "daktela-backup-check", "daktela-restore-drill"):
        program = tmp_path / f"{name}.py"
        program.write_text(files[f"/usr/local/sbin/{name}"].content)
        py_compile.compile(str(program), doraise=True)
    # the check and the drill are one program (it acts by the name it runs under)
    assert files["/usr/local/sbin/daktela-backup-check"].content == files["/usr/local/sbin/daktela-restore-drill"].content


def test_the_probes_run_over_ssh_pass_shellcheck(tmp_path):
    """The connectivity check's upload probe and its record, and the restore's download probe, are
    not job files: the toolkit sends them to the host when it runs them."""
    from components.host.connectivity import probe_script, record_script
    from components.host.restore import probe_script as download_probe

    need("shellcheck")
    record = record_script(JOB, "status/acme-onprem/connectivity/2026-12-02T21-00-00Z.json", {"time": "x"})
    for name, script in (("connectivity", probe_script(JOB)), ("download", download_probe(JOB, 2, 4 << 20)),
                         ("connectivity-record", record)):
        path = tmp_path / f"{name}.sh"
        path.write_text(script)
        lint = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, f"{name}:\n{lint.stdout}"
    download = download_probe(JOB, 2, 4 << 20)
    assert "aws:amz:eu-west-1:s3" in download and "https://s3.eu-west-1.amazonaws.com/bucket-2" in download
    assert "prefix=restic%2Facme-onprem%2Fdata%2F" in download and "--range 0-2097151" in download


def test_recordings_are_excluded_and_the_archive_drive_is_not_a_source(files):
    backup = files["/usr/local/sbin/daktela-backup"].content
    assert "--exclude /srv/daktela/recordings" in backup
    assert "/srv/daktela-archive" not in backup


def test_env_file_quotes_secrets_and_is_root_only():
    managed = env_file("AKIA1", "se'cret", "pass word", "db$pw")
    assert managed.mode == 0o600 and managed.secret
    assert "AWS_SECRET_ACCESS_KEY='se'\\''cret'" in managed.content
    script = f"set -a\n{managed.content}printf %s \"$AWS_SECRET_ACCESS_KEY|$RESTIC_PASSWORD|$DAKTELA_DATABASE_PASSWORD\"\n"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert result.stdout == "se'cret|pass word|db$pw"

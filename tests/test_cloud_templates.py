"""The rendered cloud files checked by the tools that run them: cloud-init's schema, systemd's own
verifier and calendar, bash and shellcheck; and the volume script run for real on loop devices."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.cloud.instance import PACKAGES
from components.templates import render
from tests.conftest import IN_CI, cloud_instance_files, example_installation, plan_of


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is not installed (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture(scope="module")
def plan():
    return plan_of(example_installation("cloud"))


@pytest.fixture(scope="module")
def user_data(plan) -> str:
    return next(r for r in plan.resources if r.type == "aws:ec2/instance:Instance").inputs["userData"]


@pytest.fixture(scope="module")
def files(plan) -> dict[str, dict]:
    """Cloud-init's files and the job files from S3, {path: {mode, content}}."""
    return cloud_instance_files(plan)


def test_cloud_init_schema_accepts_the_user_data(user_data, tmp_path):
    need("cloud-init")
    path = tmp_path / "user-data"
    path.write_text(user_data)
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_would_catch_a_broken_file(tmp_path):
    need("cloud-init")
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\npackages: restic\nwrite_files:\n  - path: /x\n    permissions: 755\n")
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


def test_user_data_installs_packages_and_starts_the_converger(user_data, files):
    """The first boot writes only the volume script and the converger; the converger installs the
    jobs (and enables their timers: test_backups_against_aws)."""
    document = yaml.safe_load(user_data)
    assert user_data.startswith("#cloud-config\n")
    assert document["packages"] == list(PACKAGES)
    assert sorted(f["path"] for f in document["write_files"]) == [
        "/etc/systemd/system/daktela-converge.service", "/etc/systemd/system/daktela-converge.timer",
        "/usr/local/sbin/daktela-converge", "/usr/local/sbin/daktela-volumes"]
    assert document["runcmd"] == [
        ["/usr/local/sbin/daktela-volumes"], ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "daktela-converge.timer"], ["systemctl", "start", "daktela-converge.service"],
        ["systemctl", "start", "daktela-converge.timer"]]
    assert all(f["content"].endswith("\n") for f in files.values())


def systemd_verify(files: dict[str, tuple[str, int]], root: Path) -> list[str]:
    """Write files ({path: (content, mode)}) under a root holding systemd's own units, run
    `systemd-analyze verify` on the units among them, assert it is clean; return the units."""
    need("systemd-analyze")
    shutil.copytree("/lib/systemd/system", root / "lib" / "systemd" / "system", symlinks=True)
    units = []
    for path, (content, mode) in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
        if path.startswith("/etc/systemd/system/"):
            units.append(Path(path).name)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *units],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # not even a warning
    return units


def test_systemd_units_pass_systemd_analyze_verify(files, tmp_path):
    units = systemd_verify({p: (f["content"], int(f["mode"], 8)) for p, f in files.items()}, tmp_path / "root")
    assert len(units) == 12  # two backup jobs, the meter, the drill, the deep check and the converger


@pytest.mark.parametrize("timer,expected", [
    ("daktela-db-dump.timer", "10:00:00 UTC"),
    ("daktela-restic-backup.timer", "18:00:00 UTC"),
    ("daktela-restore-drill.timer", "04:00:00 UTC"),
])
def test_timers_fire_at_the_configured_times(files, timer, expected):
    need("systemd-analyze")
    calendar = re.search(r"^OnCalendar=(.+)$", files[f"/etc/systemd/system/{timer}"]["content"], re.M).group(1)
    result = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", calendar],
                            capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+ \S+)", result.stdout)
    assert len(elapses) == 3 and all(e.endswith(expected) for e in elapses), result.stdout


def test_scripts_parse_and_pass_shellcheck(files, tmp_path):
    need("shellcheck")
    python = ("daktela-restore-drill", "daktela-backup-check", "daktela-watchdog")  # ruff and mypy check them
    scripts = {p: f for p, f in files.items() if p.startswith("/usr/local/sbin/") and not p.endswith(python)}
    assert len(scripts) == 6
    for path, entry in scripts.items():
        script = tmp_path / Path(path).name
        script.write_text(entry["content"])
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{path}: {syntax.stderr}"
        lint = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, f"{path}:\n{lint.stdout}"


def test_volume_script_formats_once_mounts_by_uuid_and_is_idempotent(test_host, tmp_path):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    volumes = []
    for volume_id, role in (("vol-0aaa1111bbbb2222c", "operational"), ("vol-0ddd3333eeee4444f", "archive")):
        (by_id / f"nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}").symlink_to(
            test_host.drives[role].device)
        volumes.append({"volume_id": volume_id, "mount_point": test_host.mount_point(role), "label": f"dk-{role}"})
    database_dir = f"{test_host.mount_point('operational')}/database"
    script = tmp_path / "daktela-volumes"
    script.write_text(render("cloud/daktela-volumes.sh.j2", installation_id="test", volumes=volumes,
                             directories=[{"path": database_dir, "mode": "0700"}]))
    script.chmod(0o755)
    run = f"DAKTELA_BY_ID_DIR={by_id} {script}"

    first = test_host.run(run)
    assert first.returncode == 0, first.stderr
    fstab = test_host.fstab()
    for volume, role in zip(volumes, ("operational", "archive")):
        device = test_host.drives[role].device
        uuid = test_host.run(f"blkid -p -o value -s UUID {device}").stdout.strip()
        assert f"UUID={uuid} {volume['mount_point']} ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2" in fstab
        assert test_host.run(f"findmnt -n -o SOURCE --mountpoint {volume['mount_point']}").stdout.strip() == device
    assert test_host.run(f"stat -c %a {database_dir}").stdout.strip() == "700"
    test_host.run(f"echo call-data > {test_host.mount_point('operational')}/keep.txt")

    # A reboot: mounts gone, the script runs again; nothing is formatted, fstab is unchanged.
    for role in ("operational", "archive"):
        test_host.run(f"umount {test_host.mount_point(role)}")
    second = test_host.run(run)
    assert second.returncode == 0, second.stderr
    assert test_host.fstab() == fstab
    assert test_host.run(f"cat {test_host.mount_point('operational')}/keep.txt").stdout == "call-data\n"
    third = test_host.run(run)  # and again while mounted
    assert third.returncode == 0 and test_host.fstab() == fstab


def test_storage_meter_publishes_catalogue_gb_of_10_to_the_9_bytes(files, tmp_path):
    """Issue 10.8: dividing by 2^30 let the "100 GB" alarm fire only at 107.4 GB. Issue 14: the
    apparent size of the files is counted (a sparse 99.5 GB file is 99.5 GB to the customer), in
    subdirectories too, and nothing beside the attachments volume."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'aws-args'}\n")
    (bin_dir / "aws").chmod(0o755)
    attachments = tmp_path / "srv" / "attachments"
    (attachments / "2027" / "03").mkdir(parents=True)
    subprocess.run(["truncate", "-s", "99500000000", str(attachments / "big.eml")], check=True)
    subprocess.run(["truncate", "-s", "500000000", str(attachments / "2027" / "03" / "note.txt")], check=True)
    (tmp_path / "srv" / "recordings").mkdir()
    subprocess.run(["truncate", "-s", "7000000000", str(tmp_path / "srv" / "recordings" / "call.wav")], check=True)
    script = tmp_path / "meter"
    script.write_text(files["/usr/local/sbin/daktela-attachments-meter"]["content"]
                      .replace("/srv/daktela/attachments", str(attachments)))
    try:
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                                env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    finally:
        shutil.rmtree(tmp_path / "srv")  # sparse, but 107 GB to anything that reads sizes
    assert result.returncode == 0, result.stderr
    assert result.stdout == "comments and email attachments: 100.000 GB (100000000000 bytes)\n"
    arguments = (tmp_path / "aws-args").read_text().split()
    assert arguments[arguments.index("--value") + 1] == "100.000"
    assert arguments[arguments.index("--metric-name") + 1] == "AttachmentsUsedGB"

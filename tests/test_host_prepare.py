"""Preparing the throwaway test host for real: loop-device drives, fstab, mounts, over SSH."""

from __future__ import annotations

import hashlib

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
    staged = test_host.run(f"mkfs.ext4 -q -L customer {device} && mkdir -p /tmp/stage-op && "
                           f"mount {device} /tmp/stage-op && echo precious > /tmp/stage-op/data.txt && "
                           "umount /tmp/stage-op")
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

"""The planner from recorded facts (tests/fixtures/facts/*.facts.txt): no host needed.

The loop-device fixtures were recorded from the throwaway test host by
tests/fixtures/facts/record.py; nvme, lvm-and-raid-members and swap were written from them by hand
for hardware a loop device cannot imitate.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from components.host.facts import parse_facts
from components.host.layout import DesiredDrive, DesiredLayout
from components.host.planner import PlanRefused, partition_node, plan, resolve_drive
from components.host.steps import (
    CreatePartition, EnsureDirectories, MakeFilesystem, RereadPartitions, WipeSignatures, WriteFstab,
)

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
OP_SIZE, ARCHIVE_SIZE = 268435456, 335544320


def facts(name: str):
    return parse_facts((FIXTURES / f"{name}.facts.txt").read_text())


def layout(operational_identity: str = "loop:/testhost/operational.img",
           archive_identity: str = "loop:/testhost/archive.img",
           allow_wipe: bool = False, **changes) -> DesiredLayout:
    """The layout the fixtures were recorded for; `operational={...}` changes one drive's fields."""
    drives = (
        DesiredDrive("operational", operational_identity, OP_SIZE, "ext4", "/testhost/srv/operational", allow_wipe),
        DesiredDrive("archive", archive_identity, ARCHIVE_SIZE, "xfs", "/testhost/srv/archive", allow_wipe),
    )
    return DesiredLayout(tuple(dataclasses.replace(d, **changes.get(d.role, {})) for d in drives))


def kinds(steps) -> list[tuple[str, str]]:
    return [(type(s).__name__, s.role or "") for s in steps]


def refusal(name: str, desired: DesiredLayout) -> str:
    with pytest.raises(PlanRefused) as caught:
        plan(facts(name), desired)
    return str(caught.value)


FULL_PREPARATION = [
    ("CreatePartition", "operational"), ("MakeFilesystem", "operational"),
    ("CreatePartition", "archive"), ("MakeFilesystem", "archive"),
    ("WriteFstab", ""), ("MountFilesystem", "operational"), ("MountFilesystem", "archive"),
    ("EnsureDirectories", "operational"), ("EnsureDirectories", "archive"), ("RecordState", ""),
]


def test_fresh_drives_get_the_whole_preparation_in_order():
    steps = plan(facts("fresh"), layout())
    assert kinds(steps) == FULL_PREPARATION
    create, make_fs = steps[0], steps[1]
    assert isinstance(create, CreatePartition) and create.disk == "/dev/loop0" and create.node == "/dev/loop0p1"
    assert isinstance(make_fs, MakeFilesystem) and make_fs.filesystem == "ext4"
    assert make_fs.uuid == layout().drive("operational").filesystem_uuid
    assert steps[3].filesystem == "xfs" and steps[3].label == "daktela-arch"
    fstab = steps[4]
    assert isinstance(fstab, WriteFstab)
    assert fstab.content.startswith("# /etc/fstab of the throwaway test host\nproc /proc proc defaults 0 0\n")
    op = layout().drive("operational")
    assert (f"UUID={op.filesystem_uuid} /testhost/srv/operational ext4 "
            "defaults,nofail,x-systemd.device-timeout=30s 0 2") in fstab.content.splitlines()
    directories = steps[7]
    assert isinstance(directories, EnsureDirectories)
    assert [d[0].rsplit("/", 1)[1] for d in directories.directories] == [
        "application", "database", "attachments", "recordings"]
    assert [d[0].rsplit("/", 1)[1] for d in steps[8].directories] == ["attachments", "recordings"]


def test_every_step_describes_itself_for_people():
    for step in plan(facts("fresh"), layout()):
        assert str(step) and step.script().strip()


def test_prepared_host_plans_zero_steps():
    assert plan(facts("prepared"), layout()) == []


def test_partition_made_but_not_formatted_continues_from_there():
    steps = plan(facts("partition-only"), layout())
    assert kinds(steps)[:1] == [("MakeFilesystem", "operational")]
    assert ("CreatePartition", "operational") not in kinds(steps)


def test_filesystem_made_but_not_in_fstab_continues_from_there():
    steps = plan(facts("filesystem-without-fstab"), layout())
    assert kinds(steps)[:2] == [("CreatePartition", "archive"), ("MakeFilesystem", "archive")]
    assert ("MakeFilesystem", "operational") not in kinds(steps)
    assert ("WriteFstab", "") in kinds(steps) and ("MountFilesystem", "operational") in kinds(steps)


def test_our_table_the_kernel_has_not_read_is_reread_not_refused():
    recorded = facts("partition-only")
    # As right after a cut between sfdisk and partx: the table is on disk, no node in the kernel.
    disk = recorded.devices[0]
    recorded.devices = (dataclasses.replace(disk, children=()),) + recorded.devices[1:]
    steps = plan(recorded, layout())
    assert kinds(steps)[:2] == [("RereadPartitions", "operational"), ("MakeFilesystem", "operational")]
    assert isinstance(steps[0], RereadPartitions)


def test_drive_with_data_is_refused_naming_what_it_holds_and_how_to_consent():
    message = refusal("foreign", layout())
    assert "drive operational (loop:/testhost/operational.img): /dev/loop0 holds a ext4 signature" in message
    assert "drive archive (loop:/testhost/archive.img): /dev/loop1 holds a dos partition table with 2 partition(s)" in message
    assert 'allow_wipe to "loop:/testhost/operational.img"' in message
    assert "Nothing was changed" in message


def test_consent_to_wipe_plans_the_erase_first():
    steps = plan(facts("foreign"), layout(allow_wipe=True))
    assert kinds(steps)[:3] == [
        ("WipeSignatures", "operational"), ("CreatePartition", "operational"), ("MakeFilesystem", "operational")]
    wipe_archive = steps[3]
    assert isinstance(wipe_archive, WipeSignatures)
    assert wipe_archive.nodes == ("/dev/loop1p1", "/dev/loop1p2")
    assert "ERASE" in wipe_archive.describe()


def test_consent_does_not_cover_a_mounted_drive():
    message = refusal("mounted-elsewhere", layout(allow_wipe=True))
    assert "/dev/loop0 is mounted at /testhost/elsewhere; unmount it first" in message


def test_lvm_and_raid_members_are_refused_even_with_consent():
    message = refusal("lvm-and-raid-members", layout("serial:PV0001", "serial:MD0001", allow_wipe=True))
    assert "/dev/sdb1 is in use by dm-0" in message
    assert "/dev/sdc1 is in use by md127" in message
    assert "never takes a drive out of a volume group or array" in message


def test_active_swap_is_refused_even_with_consent():
    message = refusal("swap", layout("serial:OP0001", "serial:SW0001", allow_wipe=True))
    assert "/dev/sdc1 is active swap" in message


def test_nvme_and_by_id_and_wwn_identities():
    desired = layout("/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_250GB_S4EWNX0R123456",
                     "wwn:0x5000C500A1B2C3E5")
    steps = plan(facts("nvme"), desired)
    assert kinds(steps) == FULL_PREPARATION
    assert steps[0].disk == "/dev/nvme0n1" and steps[0].node == "/dev/nvme0n1p1"
    assert steps[2].disk == "/dev/sdb" and steps[2].node == "/dev/sdb1"


def test_unknown_identity_is_refused_listing_what_the_host_has():
    message = refusal("nvme", layout("serial:NOPE", "wwn:0x5000c500a1b2c3e5"))
    assert "drive operational (serial:NOPE): serial:NOPE is not on this host (drives seen: " in message
    assert "/dev/nvme0n1 268435456 bytes serial S4EWNX0R123456" in message


def test_size_mismatch_is_refused():
    desired = layout(operational={"size_bytes": OP_SIZE * 2})
    message = refusal("fresh", desired)
    assert f"/dev/loop0 is {OP_SIZE} bytes, config says {OP_SIZE * 2}" in message


def test_changing_the_filesystem_type_of_a_prepared_drive_needs_consent():
    message = refusal("prepared", layout(archive={"filesystem": "ext4"}))
    assert "drive archive" in message and "holds" in message
    assert "xfs labelled 'daktela-arch' on /dev/loop1p1" in message
    assert "never reformats a mounted drive" in message


def test_missing_tools_are_named():
    recorded = facts("fresh")
    recorded.tools = frozenset({"lsblk", "findmnt", "wipefs", "partx", "mkfs.ext4"})
    message = refusal_from(recorded, layout())
    assert "the host lacks sfdisk, mkfs.xfs" in message


def refusal_from(recorded, desired) -> str:
    with pytest.raises(PlanRefused) as caught:
        plan(recorded, desired)
    return str(caught.value)


def test_someone_elses_fstab_line_for_the_mount_point_is_refused():
    recorded = facts("fresh")
    recorded.fstab += "/dev/sdz1 /testhost/srv/archive ext4 defaults 0 2\n"
    message = refusal_from(recorded, layout())
    assert "drive archive: /etc/fstab line 3 (/dev/sdz1 /testhost/srv/archive ext4 defaults 0 2) already uses" in message


def test_non_empty_mount_point_directory_is_refused():
    recorded = facts("fresh")
    recorded.paths["/testhost/srv/operational"] = dataclasses.replace(
        recorded.paths.get("/testhost/srv/operational") or _dir(), nonempty=True)
    assert "mounting the drive there would hide its files" in refusal_from(recorded, layout())


def _dir():
    from components.host.facts import PathState
    return PathState("root", "root", 0o755, False)


def test_a_directory_the_application_took_over_is_kept_as_it_is():
    """Issue 23.5: the database server's user owns its data directory (and may change its mode);
    preparation never takes it back, so re-running it cannot stop the database."""
    recorded = facts("prepared")
    path = "/testhost/srv/operational/database"
    recorded.paths[path] = dataclasses.replace(recorded.paths[path], owner="mysql", group="mysql", mode=0o750)
    assert plan(recorded, layout()) == []


def test_a_missing_directory_is_created_alone_with_its_configured_owner():
    recorded = facts("prepared")
    path = "/testhost/srv/operational/database"
    recorded.paths[path] = None
    owned = dataclasses.replace(layout(), drives=tuple(
        dataclasses.replace(d, owners=(("database", "mysql:mysql"),)) for d in layout().drives))
    steps = plan(recorded, owned)
    assert kinds(steps) == [("EnsureDirectories", "operational"), ("RecordState", "")]  # the owners recorded
    assert steps[0].directories == ((path, "mysql", "mysql", 0o700),)
    assert "create missing directories" in str(steps[0])


def test_an_owner_the_host_does_not_have_is_refused_before_anything_changes():
    from components.host.facts import Accounts

    recorded = facts("fresh")
    recorded.accounts = Accounts(frozenset({"root"}), frozenset({"root"}))
    owned = dataclasses.replace(layout(), drives=tuple(
        dataclasses.replace(d, owners=(("database", "mysql:mysql"),)) for d in layout().drives))
    refusal = refusal_from(recorded, owned)
    assert "operational/database is to be created for mysql:mysql, but the host has no user mysql and no " \
           "group mysql" in refusal and "on_premise.directory_owners.database" in refusal


def test_recorded_fstab_is_read_exactly():
    recorded = facts("prepared")
    raw = base64.b64decode(recorded.raw_sections["fstab"]).decode()
    assert recorded.fstab == raw and raw.count("# daktela-toolkit:") == 2


def test_partition_node_names():
    assert partition_node("/dev/sdb") == "/dev/sdb1"
    assert partition_node("/dev/nvme0n1") == "/dev/nvme0n1p1"
    assert partition_node("/dev/loop3") == "/dev/loop3p1"


def test_both_identities_naming_one_disk_is_refused():
    recorded = facts("nvme")
    recorded.by_id["/dev/disk/by-id/wwn-0x5000c500a1b2c3e5-alias"] = "/dev/sdb"
    message = refusal_from(recorded, layout("wwn:0x5000c500a1b2c3e5", "/dev/disk/by-id/wwn-0x5000c500a1b2c3e5-alias"))
    assert "both drive identities name the same disk" in message


def test_resolve_reports_ambiguity():
    recorded = facts("nvme")
    recorded.devices = recorded.devices + (dataclasses.replace(recorded.devices[1], name="sdx", path="/dev/sdx"),)
    disk, problem = resolve_drive(recorded, "wwn:0x5000c500a1b2c3e5")
    assert disk is None and "matches 2 drives" in problem


def test_backup_jobs_need_restic_curl_and_python_on_the_host():
    from components.host.backup_job import ManagedFile

    recorded = facts("prepared")
    recorded.tools = recorded.tools - {"restic", "curl"}
    desired = dataclasses.replace(layout(), files=(ManagedFile("/usr/local/sbin/daktela-backup", 0o755, "#!/bin/bash\n"),))
    assert "the host lacks restic, curl" in refusal_from(recorded, desired)


def test_installed_files_are_compared_by_digest_and_mode():
    from components.host.backup_job import ManagedFile

    recorded = facts("prepared")
    recorded.tools = recorded.tools | {"restic", "curl", "python3", "flock"}
    managed = ManagedFile("/etc/daktela-toolkit/archive.json", 0o644, "{}\n")
    desired = dataclasses.replace(layout(), files=(managed,), timers=("daktela-archive.timer",))
    steps = plan(recorded, desired)
    assert kinds(steps) == [("InstallFile", "")] and "content" not in steps[0].describe()
    recorded.files[managed.path] = (managed.sha256, 0o644, "root:root")
    assert plan(recorded, desired) == []  # no systemd on the recorded host: timers are not enabled
    recorded.init = "systemd"
    assert kinds(plan(recorded, desired)) == [("ActivateTimers", "")]


def test_preflight_and_planner_agree_on_a_drive_with_only_a_backup_gpt():
    """Issue 12: the preflight called this drive blank while the plan refused it as holding data."""
    from components.host.facts import Signature
    from components.host.planner import describe_content, resolve_drive
    from components.host.report import preflight_lines

    recorded = facts("fresh")
    disk, _ = resolve_drive(recorded, "loop:/testhost/archive.img")
    recorded.signatures[disk.path] = (Signature("gpt", "0x13fffe00"),)  # the backup header at the end
    found = describe_content(recorded, disk)
    assert found and "partition-table signature" in found[0]
    report = "\n".join(preflight_lines(recorded, layout(), "test host", "SHA256:x"))
    assert "nothing (blank)" not in report.split("archive drive:")[1]
    assert found[0] in report
    assert found[0] in refusal_from(recorded, layout())  # the refusal names the same thing


class _AnsweringConnection:
    """Stands in for the SSH runner: every command gets the same answer."""

    def __init__(self, stdout: str):
        from components.host.ssh import HostAccess

        self.stdout = stdout
        self.access = HostAccess(address="host.example", port=22, user="root", private_key="k",
                                 host_key_fingerprint="SHA256:" + "A" * 43)

    def run(self, script: str, **_: object):
        from components.host.ssh import CommandResult

        return CommandResult(script, 0, self.stdout, "")


def test_an_answer_that_is_not_the_facts_is_a_host_error_that_says_what_came_back():
    """Issue 15: gather raised a bare ValueError, which the host CLI showed as a traceback."""
    from components.host.facts import FactsUnreadable, gather
    from components.host.prepare import VerifyFailed, verify
    from components.host.ssh import HostError

    connection = _AnsweringConnection("Welcome to ACME's server!\nLast login: yesterday\n")
    with pytest.raises(FactsUnreadable) as caught:
        gather(connection)
    assert isinstance(caught.value, HostError)
    message = str(caught.value)
    assert "root@host.example:22: cannot read the host's facts" in message and "Welcome to ACME" in message
    assert "Nothing was changed" in message
    with pytest.raises(VerifyFailed, match="while verifying, after the steps ran"):
        verify(connection, layout())


def test_restic_output_that_is_not_json_is_reported_not_taken_for_no_snapshot():
    from components.host.restore import survey
    from tests.onprem_fixtures import BackupJob, BackupLocation

    job = BackupJob("acme", "/srv/daktela", "/srv/archive", "u", ("01:00", "13:00"), "UTC", 120, 90,
                    "mariadb", "daktela", "daktela_backup", (BackupLocation("eu-central-1", "b1"),))
    [state] = survey(_AnsweringConnection("this is not json"), job)
    assert state.snapshot_id is None and "snapshot list could not be read" in state.error


def test_directory_owners_from_the_config_reach_the_layout_of_each_drive_that_has_the_directory():
    from components.config import parse_installation
    from components.host.layout import layout_from_config
    from tests.conftest import example_installation

    raw = example_installation("on-premise")
    raw["on_premise"]["directory_owners"] = {"database": "mysql:mysql", "attachments": "daktela:www-data"}
    layout = layout_from_config(parse_installation(raw).on_premise)
    owners = {(d.role, directory.path.rsplit("/", 1)[-1]): (directory.owner, directory.group)
              for d in layout.drives for directory in d.directories}
    assert owners[("operational", "database")] == ("mysql", "mysql")
    assert owners[("operational", "attachments")] == owners[("archive", "attachments")] == ("daktela", "www-data")
    assert owners[("operational", "application")] == owners[("archive", "recordings")] == ("root", "root")
    again = type(layout).from_dict(json.loads(json.dumps(layout.to_dict())))  # as the resource's inputs carry it
    assert again.drives == layout.drives
    assert "owners" not in json.dumps(layout_from_config(parse_installation(example_installation("on-premise"))
                                                         .on_premise).to_dict())

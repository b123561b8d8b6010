"""Each host fact (components/host/facts.py, FACTS): its parser against its section as a host
prints it (tests/fixtures/facts/, recorded by tests/fixtures/facts/record.py from the throwaway
host), and the `file` fact's command and parser together on this machine.

Most sections are recorded (`prepared`); three hosts were written by hand from recorded output,
as docs/development.md says: `nvme` (the by-id section), `lvm-and-raid-members` (mdstat, holders)
and `swap` (swaps), since the throwaway host has no /dev/disk/by-id, RAID or swap of its own.
`accounts.section.txt` was recorded from the accounts fact's command over SSH on the throwaway
host, as root, after Debian's mariadb-server was installed on this machine (its /etc is the host's
copy). `timers.section.txt` was recorded from the timers fact's own pipeline with `systemctl --root` over
a directory holding two enabled daktela timers (systemd is not PID 1 here, and the fact reads
nothing without it): the same `list-unit-files --state=enabled --no-legend | cut` output a booted
host prints.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from components.host.facts import FACTS, Mount, PartitionTable, PathState, Signature, parse_facts, split_sections

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
BY_NAME = {fact.name: fact for fact in FACTS}
OPERATIONAL_UUID = "d62d8cc7-7548-5c09-b989-f9c4ad054f8b"


def section(fixture: str, name: str) -> str:
    if fixture.endswith(".section.txt"):
        return (FIXTURES / fixture).read_text()
    return split_sections((FIXTURES / f"{fixture}.facts.txt").read_text())[name]


# fact -> (recorded host, section, what its parser must make of it)
EXPECTED = {
    "os-release": ("prepared", "os-release",
                   lambda v: v["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)" and v["ID"] == "debian"),
    "init": ("prepared", "init", lambda v: v == "process_api"),
    "tools": ("prepared", "tools", lambda v: v == frozenset(
        {"sfdisk", "partx", "wipefs", "mkfs.ext4", "mkfs.xfs", "findmnt", "lsblk", "losetup"})),
    "lsblk": ("prepared", "lsblk", lambda v: [(d.path, d.size, d.type) for d in v] == [
        ("/dev/loop0", 268435456, "loop"), ("/dev/loop1", 335544320, "loop")]
        and v[0].children[0].mountpoints == ("/testhost/srv/operational",)),
    "findmnt": ("prepared", "findmnt", lambda v: Mount("/testhost/srv/operational", "/dev/loop0p1", "ext4",
                                                       "rw,relatime") in v),
    "fstab": ("prepared", "fstab", lambda v: f"UUID={OPERATIONAL_UUID} /testhost/srv/operational ext4 " in v),
    "swaps": ("swap", "swaps", lambda v: v == ("/dev/sdc1",)),
    "mdstat": ("lvm-and-raid-members", "mdstat", lambda v: "md127 : active raid1 sdc1[0] sdd1[1]" in v),
    "losetup": ("prepared", "losetup", lambda v: v == {"/dev/loop0": "/testhost/operational.img",
                                                      "/dev/loop1": "/testhost/archive.img"}),
    "by-id": ("nvme", "by-id", lambda v: v["/dev/disk/by-id/wwn-0x5000c500a1b2c3e5"] == "/dev/sdb"
              and len(v) == 2),
    "state": ("prepared", "state", lambda v: v["drives"][0]["filesystem_uuid"] == OPERATIONAL_UUID),
    "sfdisk": ("prepared", "sfdisk /dev/loop0", lambda v: isinstance(v, PartitionTable) and v.label == "gpt"
               and [(p.node, p.start, p.name) for p in v.partitions] == [("/dev/loop0p1", 2048, "daktela-operational")]),
    "wipefs": ("prepared", "wipefs /dev/loop0p1", lambda v: v == (
        Signature("ext4", "0x438", OPERATIONAL_UUID, "daktela-op"),)),
    "holders": ("lvm-and-raid-members", "holders /dev/sdc1", lambda v: v == ("md127",)),
    "path": ("prepared", "path /testhost/srv/operational/database",
             lambda v: v == PathState("root", "root", 0o700, False)),
    "timers": ("timers.section.txt", "", lambda v: v == {"daktela-backup.timer", "daktela-restore-drill.timer"}),
    "accounts": ("accounts.section.txt", "", lambda v: {"root", "mysql", "dkhost"} <= v.users
                 and {"root", "mysql", "dkhost"} <= v.groups and "daemon" in v.users),
}


def test_every_fact_has_a_recorded_section():
    assert set(EXPECTED) | {"file"} == set(BY_NAME), "a new fact needs a recorded section and an expectation here"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fact_parses_its_recorded_section(name):
    fixture, section_name, holds = EXPECTED[name]
    assert holds(BY_NAME[name].parse(section(fixture, section_name)))


def test_the_file_fact_reads_digest_mode_and_owner_on_this_machine(tmp_path):
    """Command and parser together: what the fact prints for a file and for a missing one."""
    present, missing = tmp_path / "daktela-backup.sh", tmp_path / "missing"
    present.write_bytes(b"#!/bin/sh\necho backup\n")
    present.chmod(0o750)
    fact = BY_NAME["file"]
    for path, expected in ((present, (hashlib.sha256(present.read_bytes()).hexdigest(), 0o750, "root:root")),
                           (missing, None)):
        output = subprocess.run(["bash", "-c", fact.command], capture_output=True, text=True, check=True,
                                env={**os.environ, "file": str(path)}).stdout
        assert fact.parse(output) == expected


def test_a_section_the_host_did_not_print_reads_as_empty():
    facts = parse_facts("\n@@daktela init\nsystemd\n@@daktela end\n")
    assert facts.init == "systemd" and facts.devices == () and facts.state is None and facts.paths == {}
    assert facts.fstab == "" and facts.enabled_timers == frozenset()


def test_the_script_reads_every_fact_in_its_own_section():
    from components.host.facts import facts_script

    script = facts_script(["/srv/daktela"], ["/usr/local/sbin/daktela-backup"])
    for fact in FACTS:
        opening = f'sec "{fact.name} ${fact.per}"' if fact.per else f"sec {fact.name};"
        assert opening in script and fact.command in script, fact.name

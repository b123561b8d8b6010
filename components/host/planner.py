"""The planner: facts + desired layout -> the ordered steps that make the host so, or a refusal.

Pure: no I/O, so it is tested from recorded facts. It refuses (PlanRefused, listing every reason)
rather than plan anything that could lose data: a drive that cannot be identified or has the wrong
size, one in use (mounted elsewhere, swap, LVM or RAID member, read-only), one holding anything
that is not the toolkit's own work unless config consents to wiping that exact drive, an fstab line
or a mount that is someone else's. A prepared host plans zero steps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from components.host.facts import STATE_FILE, BlockDevice, HostFacts
from components.host.layout import DesiredDrive, DesiredLayout, Directory
from components.host.steps import (
    ActivateTimers,
    CreatePartition,
    EnsureDirectories,
    InstallFile,
    MakeFilesystem,
    MountFilesystem,
    RecordState,
    RereadPartitions,
    Step,
    WipeSignatures,
    WriteFstab,
)

FSTAB_MARKER = "# daktela-toolkit: {role} drive (managed; see the toolkit's README)"
PARTITION_TABLE_SIGNATURES = {"gpt", "PMBR", "dos"}
TOOLS_NEEDED = ("sfdisk", "partx", "wipefs", "findmnt", "lsblk")
JOB_TOOLS = ("restic", "curl", "python3", "flock")  # for the backup and archival jobs


class PlanRefused(Exception):
    """The host cannot be prepared as configured; nothing was or will be changed."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("\n".join(f"- {r}" for r in reasons))


def partition_node(disk: str) -> str:
    """The first partition's device node: /dev/sdb -> /dev/sdb1, /dev/nvme0n1 -> /dev/nvme0n1p1."""
    return f"{disk}p1" if disk[-1].isdigit() else f"{disk}1"


def resolve_drive(facts: HostFacts, identity: str) -> tuple[Optional[BlockDevice], Optional[str]]:
    """Find the whole disk an identity names. Returns (disk, None) or (None, why not)."""
    disks = facts.disks()
    if identity.startswith("/dev/disk/by-id/"):
        target = facts.by_id.get(identity)
        matches = [d for d in disks if d.path == target] if target else []
    elif identity.startswith("wwn:"):
        wanted = identity[4:].lower()
        matches = [d for d in disks if (d.wwn or "").lower() == wanted]
    elif identity.startswith("serial:"):
        matches = [d for d in disks if d.serial == identity[7:]]
    elif identity.startswith("loop:"):
        matches = [d for d in disks if d.type == "loop" and facts.loop_backing.get(d.path) == identity[5:]]
    else:
        return None, f"{identity!r} is not a drive identity the toolkit knows"
    if len(matches) > 1:
        return None, f"{identity} matches {len(matches)} drives ({', '.join(d.path for d in matches)})"
    if not matches:
        present = ", ".join(
            f"{d.path} {d.size} bytes{f' serial {d.serial}' if d.serial else ''}{f' wwn {d.wwn}' if d.wwn else ''}"
            for d in disks
        ) or "none"
        return None, f"{identity} is not on this host (drives seen: {present})"
    return matches[0], None


@dataclass
class _DriveState:
    drive: DesiredDrive
    disk: Optional[BlockDevice] = None
    node: str = ""
    steps: list[Step] = field(default_factory=list)
    mounted: bool = False  # already mounted at its mount point


def _directories_to_create(facts: HostFacts, state: _DriveState) -> tuple[Directory, ...]:
    """The layout's directories that are not there: all of them on a drive about to be mounted (its
    step script creates only those missing then), those the facts do not show otherwise. One that
    exists is the application's: its owner and mode are never changed (a database server's data
    directory must stay the server's user's)."""
    remount = not state.mounted or bool(state.steps)
    return tuple(d for d in state.drive.directories if remount or facts.paths.get(d.path) is None)


def _unknown_owners(facts: HostFacts, to_create: dict[str, tuple[Directory, ...]]) -> list[str]:
    if facts.accounts is None:  # a host recorded before the accounts fact; the step itself fails then
        return []
    reasons = []
    for role, directories in to_create.items():
        for directory in directories:
            lacking = []
            if directory.owner not in facts.accounts.users:
                lacking.append(f"no user {directory.owner}")
            if directory.group not in facts.accounts.groups:
                lacking.append(f"no group {directory.group}")
            if lacking:
                name = directory.path.rsplit("/", 1)[-1]
                reasons.append(
                    f"drive {role}: {directory.path} is to be created for {directory.owner}:{directory.group}, "
                    f"but the host has {' and '.join(lacking)}; install what owns it first (the database "
                    f"server creates its user), or change on_premise.directory_owners.{name}")
    return reasons


def _as_dict(value: Any) -> Optional[dict]:
    return asdict(value) if value is not None else None


def describe_content(facts: HostFacts, disk: BlockDevice) -> list[str]:
    """What is on a disk, for people. Empty means blank: the one definition the preflight report
    and the planner share."""
    found = []
    table = facts.partition_tables.get(disk.path)
    if table is not None:
        names = ", ".join(p.name or "unnamed" for p in table.partitions)
        found.append(f"a {table.label} partition table with {len(table.partitions)} partition(s)"
                     + (f" ({names})" if names else ""))
    for signature in facts.signatures.get(disk.path, ()):
        if signature.type not in PARTITION_TABLE_SIGNATURES:
            found.append(f"a {signature.type} signature on the whole disk")
        elif table is None:  # e.g. only the backup GPT at the end of the disk survived
            found.append(f"a {signature.type} partition-table signature that no table could be read from "
                         "(a damaged or backup-only table)")
    for child in disk.walk():
        if child is disk:
            continue
        signatures = facts.signatures.get(child.path, ())
        for signature in signatures:
            label = f" labelled '{signature.label}'" if signature.label else ""
            found.append(f"{signature.type}{label} on {child.path}")
        if not signatures and child.type == "part" and (table is None or not any(
                p.node == child.path for p in table.partitions)):
            found.append(f"partition {child.path}, known to the kernel but in no partition table on the disk")
    return found


def _plan_drive(facts: HostFacts, drive: DesiredDrive, reasons: list[str]) -> _DriveState:
    state = _DriveState(drive)
    where = f"drive {drive.role} ({drive.identity})"
    disk, problem = resolve_drive(facts, drive.identity)
    if disk is None:
        reasons.append(f"{where}: {problem}")
        return state
    state.disk, state.node = disk, partition_node(disk.path)
    if drive.size_bytes is None:
        reasons.append(f"{where}: its size is not known, the host is not checked yet; run scripts/check_host.py "
                       "first (docs/operate.md, \"Onboarding before the host is reachable\")")
        return state
    if disk.size != drive.size_bytes:
        reasons.append(
            f"{where}: {disk.path} is {disk.size} bytes, config says {drive.size_bytes}; check that "
            "this is the right drive, then correct size_bytes"
        )
        return state
    if disk.read_only:
        reasons.append(f"{where}: {disk.path} is read-only")
        return state

    nodes = [d for d in disk.walk()]
    blocking = []
    for node in nodes:
        holders = facts.holders.get(node.path, ())
        if holders or (node is not disk and node.type not in ("part",)):
            users = ", ".join(holders) or f"{node.type} {node.name}"
            blocking.append(f"{node.path} is in use by {users} (LVM, RAID or device mapper); "
                            "the toolkit never takes a drive out of a volume group or array")
        if node.path in facts.swaps:
            blocking.append(f"{node.path} is active swap; swapoff it and remove it from /etc/fstab first")
        for mount in facts.mounts_of(node.path):
            if mount.target != drive.mount_point:
                blocking.append(f"{node.path} is mounted at {mount.target}; unmount it first")
    if blocking:
        reasons += [f"{where}: {b}" for b in dict.fromkeys(blocking)]
        return state

    table = facts.partition_tables.get(disk.path)
    disk_signatures = [s for s in facts.signatures.get(disk.path, ())]
    kernel_partitions = [c for c in disk.children if c.type == "part"]
    node_visible = any(c.path == state.node for c in kernel_partitions)
    ours_table = (
        table is not None and table.label == "gpt" and len(table.partitions) == 1
        and table.partitions[0].name == drive.partition_name
        and table.partitions[0].node == state.node
        and all(s.type in PARTITION_TABLE_SIGNATURES for s in disk_signatures)
        and len(kernel_partitions) <= 1
    )
    blank = not describe_content(facts, disk)  # the same test the preflight report uses
    make_fs = MakeFilesystem(drive.role, state.node, drive.filesystem, drive.label, drive.filesystem_uuid)

    if blank:
        state.steps = [CreatePartition(drive.role, disk.path, state.node, drive.partition_name), make_fs]
    elif ours_table and not node_visible:
        # The table is ours but the kernel has not read it (cut short, or no udev): re-read, then
        # format only if the partition turns out empty (the mkfs script re-checks on the host).
        state.steps = [RereadPartitions(drive.role, disk.path, state.node), make_fs]
    elif ours_table:
        signatures = facts.signatures.get(state.node, ())
        if not signatures:
            state.steps = [make_fs]
        elif (len(signatures) == 1 and signatures[0].type == drive.filesystem
              and signatures[0].uuid == drive.filesystem_uuid):
            state.steps = []
        else:
            _foreign(facts, state, disk, reasons)
    else:
        _foreign(facts, state, disk, reasons)
    return state


def _foreign(facts: HostFacts, state: _DriveState, disk: BlockDevice, reasons: list[str]) -> None:
    drive = state.drive
    content = describe_content(facts, disk)
    if any(m.target == drive.mount_point for n in disk.walk() for m in facts.mounts_of(n.path)):
        reasons.append(
            f"drive {drive.role} ({drive.identity}): {disk.path} is mounted at {drive.mount_point} and "
            f"holds {'; '.join(content) or 'data'}, not the {drive.filesystem} filesystem the toolkit "
            "makes. The toolkit never reformats a mounted drive: unmount it, and consent with "
            "allow_wipe only if its content may be destroyed"
        )
        return
    if not drive.allow_wipe:
        reasons.append(
            f"drive {drive.role} ({drive.identity}): {disk.path} holds {'; '.join(content) or 'data'}. "
            "Nothing was changed. If that content may be destroyed, consent by setting "
            f"installation.on_premise.drives.{drive.role}.allow_wipe to \"{drive.identity}\""
        )
        return
    nodes = tuple(sorted(c.path for c in disk.children if c.type == "part"))
    state.steps = [
        WipeSignatures(drive.role, disk.path, nodes, drive.identity),
        CreatePartition(drive.role, disk.path, state.node, drive.partition_name),
        MakeFilesystem(drive.role, state.node, drive.filesystem, drive.label, drive.filesystem_uuid),
    ]


def _fstab(facts: HostFacts, states: list[_DriveState], reasons: list[str]) -> Optional[WriteFstab]:
    lines = facts.fstab.splitlines()
    markers = {FSTAB_MARKER.format(role=s.drive.role) for s in states}
    wanted = {s.drive.mount_point: s for s in states}
    sources = {f"UUID={s.drive.filesystem_uuid}": s for s in states}
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip() in markers:
            index += 2  # our marker and the line it marks
            continue
        fields = line.split()
        if fields and not fields[0].startswith("#") and len(fields) >= 2:
            owner = wanted.get(fields[1]) or sources.get(fields[0])
            if owner is not None:
                if line.strip() == owner.drive.fstab_line():
                    index += 1  # the same line written by hand: replaced by the managed one
                    continue
                reasons.append(
                    f"drive {owner.drive.role}: /etc/fstab line {index + 1} ({line.strip()}) already "
                    f"uses {owner.drive.mount_point} or its filesystem; remove that line or choose "
                    "another mount_point"
                )
        kept.append(line)
        index += 1
    managed = []
    for state in states:
        managed += [FSTAB_MARKER.format(role=state.drive.role), state.drive.fstab_line()]
    content = "\n".join(kept + managed) + "\n"
    if content == facts.fstab:
        return None
    summary = ", ".join(f"{s.drive.mount_point} by UUID" for s in states)
    return WriteFstab(
        None, content, tuple(l for l in managed if not l.startswith("#")),
        tuple(s.drive.mount_point for s in states), summary,
    )


def state_document(layout: DesiredLayout) -> str:
    """What the toolkit records on the host: the layout it prepared (no secrets, no consent)."""
    drives = []
    for drive in layout.drives:
        entry = asdict(drive)
        entry.pop("allow_wipe")
        if not entry["owners"]:  # a host prepared before directory owners reads as it did
            entry.pop("owners")
        entry["filesystem_uuid"] = drive.filesystem_uuid
        drives.append(entry)
    return json.dumps({"prepared_by": "daktela-installation-toolkit", "drives": drives},
                      indent=2, sort_keys=True) + "\n"


def plan(facts: HostFacts, layout: DesiredLayout) -> list[Step]:
    """The ordered steps, or PlanRefused with every reason at once."""
    reasons: list[str] = []
    missing = [t for t in TOOLS_NEEDED if t not in facts.tools]
    missing += sorted({f"mkfs.{d.filesystem}" for d in layout.drives} - facts.tools)
    if layout.files:
        missing += [t for t in JOB_TOOLS if t not in facts.tools]
    if missing:
        reasons.append(f"the host lacks {', '.join(missing)}; install them (Debian: fdisk, util-linux, "
                       "e2fsprogs, xfsprogs, restic, curl, python3) and run again")

    states = [_plan_drive(facts, drive, reasons) for drive in layout.drives]
    resolved = [s.disk.path for s in states if s.disk is not None]
    if len(resolved) != len(set(resolved)):
        reasons.append("both drive identities name the same disk; the archive needs a drive of its own")

    for state in states:
        mount_point = state.drive.mount_point
        mounted = facts.mounts_at(mount_point)
        if mounted:
            if any(m.source == state.node for m in mounted):
                state.mounted = True
            elif state.disk is not None and not any(
                    m.source == n.path for m in mounted for n in state.disk.walk()):
                reasons.append(
                    f"drive {state.drive.role}: {mount_point} already has {mounted[0].source} "
                    "mounted; choose another mount_point or unmount it"
                )
        else:
            path = facts.paths.get(mount_point)
            if path is not None and path.nonempty:
                reasons.append(
                    f"drive {state.drive.role}: {mount_point} is a non-empty directory; mounting the "
                    "drive there would hide its files. Move them away first"
                )
    fstab = _fstab(facts, states, reasons)
    to_create = {state.drive.role: _directories_to_create(facts, state) for state in states}
    reasons += _unknown_owners(facts, to_create)
    if reasons:
        raise PlanRefused(reasons)

    steps: list[Step] = [step for state in states for step in state.steps]
    if fstab is not None:
        steps.append(fstab)
    for state in states:
        if not state.mounted or state.steps:
            steps.append(MountFilesystem(state.drive.role, state.drive.mount_point, state.node))
    for state in states:
        creating = to_create[state.drive.role]
        if creating:
            steps.append(EnsureDirectories(state.drive.role, tuple((d.path, d.owner, d.group, d.mode) for d in creating)))
    unit_changed = False
    for managed in layout.files:
        if facts.files.get(managed.path) != (managed.sha256, managed.mode, "root:root"):
            steps.append(InstallFile(None, managed.path, managed.mode, managed.content))
            unit_changed |= managed.path.startswith("/etc/systemd/")
    # Timers are enabled where systemd runs the host (not in containers or the test host).
    if layout.timers and facts.has_systemd and (unit_changed or not set(layout.timers) <= facts.enabled_timers):
        steps.append(ActivateTimers(None, tuple(layout.timers)))
    document = state_document(layout)
    if facts.raw_sections.get("state", "").strip() != document.strip():
        steps.append(RecordState(None, STATE_FILE, document))
    return steps


def relevant_facts(facts: HostFacts, layout: DesiredLayout) -> str:
    """The part of the facts a plan depends on, as a stable string: if it changes between planning
    and applying, the plan is stale and apply aborts."""
    subject: dict[str, Any] = {"fstab": facts.fstab, "swaps": facts.swaps}
    for drive in layout.drives:
        disk, _ = resolve_drive(facts, drive.identity)
        nodes = [n.path for n in disk.walk()] if disk else []
        subject[drive.role] = {
            "disk": asdict(disk) if disk else None,
            "table": _as_dict(facts.partition_tables.get(disk.path)) if disk else None,
            "signatures": {n: [asdict(s) for s in facts.signatures.get(n, ())] for n in nodes},
            "holders": {n: facts.holders.get(n, ()) for n in nodes},
            "mounts": [asdict(m) for m in facts.mounts if m.target == drive.mount_point or m.source in nodes],
        }
    return json.dumps(subject, sort_keys=True, default=str)

"""The preflight report a person reads before a host is prepared: what is there, what it risks."""

from __future__ import annotations

import re

from components.host.facts import BlockDevice, HostFacts
from components.host.layout import DesiredLayout
from components.host.planner import describe_content, resolve_drive

_HARDWARE_RAID = re.compile(r"PERC|MegaRAID|MR9\d|LOGICAL VOLUME|Smart Array|RAID|ServeRAID|H7\d0", re.I)


def redundancy(facts: HostFacts, disk: BlockDevice) -> str:
    """What the host shows about the redundancy under a drive, in words."""
    if disk.type.startswith("raid"):
        return f"{disk.type} (Linux software RAID {disk.name})"
    if disk.model and _HARDWARE_RAID.search(disk.model):
        return f"probably a hardware RAID volume (model {disk.model})"
    if any(part in facts.mdstat for part in (disk.name,)):
        return "member of a Linux software RAID array (see /proc/mdstat)"
    return "none the host shows (a single drive or a virtual disk): ask the customer what protects it"


def _size(size: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def preflight_lines(facts: HostFacts, layout: DesiredLayout, host_name: str, fingerprint: str) -> list[str]:
    lines = [
        f"host:         {host_name}",
        f"host key:     {fingerprint}",
        f"system:       {facts.os_name} (init: {facts.init or 'unknown'})",
    ]
    for drive in layout.drives:
        disk, problem = resolve_drive(facts, drive.identity)
        lines.append(f"{drive.role} drive: {drive.identity}")
        if disk is None:
            lines.append(f"    NOT FOUND: {problem}")
            continue
        details = ", ".join(x for x in (
            disk.path, f"{disk.size} bytes ({_size(disk.size)})",
            f"model {disk.model}" if disk.model else "", f"serial {disk.serial}" if disk.serial else "",
        ) if x)
        lines.append(f"    {details}")
        content = describe_content(facts, disk)
        lines.append(f"    holds: {'; '.join(content) if content else 'nothing (blank)'}")
        lines.append(f"    redundancy: {redundancy(facts, disk)}")
    lines.append(
        "WARNING: the archive drive is never backed up by Daktela: it is the only copy of the old "
        "attachments and recordings it will hold. The customer's own technology must protect it."
    )
    return lines

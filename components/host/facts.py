"""Facts: what a host looks like, read in one SSH command and parsed into typed data.

Read-only: the facts script runs `lsblk`, `sfdisk -J` (the partition table as it is on the disk,
whatever the kernel has re-read), `wipefs -n` (every signature, without erasing), `findmnt`,
`losetup`, and reads /etc/fstab, /proc/swaps, /proc/mdstat, the holders in /sys, os-release and
the state file the toolkit leaves. Parsing is separate from reading so that the planner is tested
from recorded facts (tests/fixtures/facts/).
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from components.host.errors import FactsUnreadable

SECTION = "@@daktela "
STATE_FILE = "/etc/daktela-toolkit/host.json"
TOOLS = ("sfdisk", "partx", "wipefs", "mkfs.ext4", "mkfs.xfs", "findmnt", "lsblk", "losetup", "udevadm",
         "restic", "curl", "python3", "flock")
LSBLK_COLUMNS = "NAME,KNAME,PATH,SIZE,TYPE,MODEL,SERIAL,WWN,RO,MOUNTPOINTS,PKNAME"


def facts_script(paths: Iterable[str] = (), files: Iterable[str] = ()) -> str:
    """The one command that reads everything the planner needs. `paths` are the directories of
    the desired layout, whose owner, group and mode are read too; `files` are the files the
    toolkit installs, whose digest and mode are read (never their content)."""
    quoted = " ".join(shlex.quote(p) for p in sorted(set(paths)))
    quoted_files = " ".join(shlex.quote(f) for f in sorted(set(files)))
    return f"""
sec() {{ printf '\\n{SECTION}%s\\n' "$1"; }}
sec os-release; cat /etc/os-release 2>/dev/null
sec init; cat /proc/1/comm 2>/dev/null
sec tools; for t in {' '.join(TOOLS)}; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done
sec lsblk; lsblk -J -b -o {LSBLK_COLUMNS}
sec findmnt; findmnt -J -o TARGET,SOURCE,FSTYPE,OPTIONS
sec fstab; base64 -w0 /etc/fstab 2>/dev/null; echo
sec swaps; cat /proc/swaps 2>/dev/null
sec mdstat; cat /proc/mdstat 2>/dev/null
sec losetup; losetup -J -l 2>/dev/null
sec by-id; for f in /dev/disk/by-id/*; do [ -e "$f" ] && printf '%s %s\\n' "$f" "$(readlink -f "$f")"; done
sec state; cat {STATE_FILE} 2>/dev/null
for node in $(lsblk -ln -b -o PATH,TYPE,SIZE | awk '$3 > 0 && ($2 == "disk" || $2 == "loop" || $2 == "part") {{print $1}}'); do
  case "$(lsblk -dn -o TYPE "$node")" in disk|loop) sec "sfdisk $node"; sfdisk -J "$node" 2>/dev/null;; esac
  sec "wipefs $node"; wipefs -n -J "$node" 2>/dev/null
  sec "holders $node"; ls "/sys/class/block/$(basename "$node")/holders" 2>/dev/null
done
for p in {quoted}; do
  sec "path $p"; if [ -d "$p" ]; then stat -c '%U %G %a' "$p"; [ -n "$(ls -A "$p" 2>/dev/null)" ] && echo nonempty; fi
done
for f in {quoted_files}; do
  sec "file $f"; if [ -f "$f" ]; then sha256sum "$f" | cut -c1-64; stat -c '%a %U %G' "$f"; fi
done
sec timers; if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then systemctl list-unit-files --state=enabled --no-legend 'daktela-*.timer' 2>/dev/null | cut -d' ' -f1; fi
sec end
"""


@dataclass(frozen=True)
class Signature:
    type: str
    offset: str
    uuid: Optional[str] = None
    label: Optional[str] = None


@dataclass(frozen=True)
class Partition:
    node: str
    start: int
    size: int  # sectors
    type: str
    name: Optional[str]  # GPT partition name (PARTLABEL)
    uuid: Optional[str]


@dataclass(frozen=True)
class PartitionTable:
    label: str  # gpt, dos
    partitions: tuple[Partition, ...]


@dataclass(frozen=True)
class BlockDevice:
    name: str
    path: str
    size: int
    type: str  # disk, loop, part, lvm, raid1, ...
    model: Optional[str]
    serial: Optional[str]
    wwn: Optional[str]
    read_only: bool
    mountpoints: tuple[str, ...]
    children: tuple["BlockDevice", ...] = ()

    def walk(self) -> Iterable["BlockDevice"]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Mount:
    target: str
    source: str
    fstype: str
    options: str


@dataclass(frozen=True)
class PathState:
    owner: str
    group: str
    mode: int
    nonempty: bool


@dataclass
class HostFacts:
    os_release: dict[str, str]
    init: str
    tools: frozenset[str]
    devices: tuple[BlockDevice, ...]
    mounts: tuple[Mount, ...]
    fstab: str
    swaps: tuple[str, ...]
    mdstat: str
    loop_backing: dict[str, str]  # device path -> backing file
    by_id: dict[str, str]  # /dev/disk/by-id/... -> device path
    partition_tables: dict[str, Optional[PartitionTable]]
    signatures: dict[str, tuple[Signature, ...]]
    holders: dict[str, tuple[str, ...]]
    paths: dict[str, Optional[PathState]]
    state: Optional[dict[str, Any]] = None
    files: dict[str, Optional[tuple[str, int, str]]] = field(default_factory=dict)  # sha256, mode, owner
    enabled_timers: frozenset[str] = frozenset()
    raw_sections: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def os_name(self) -> str:
        return self.os_release.get("PRETTY_NAME", "unknown OS")

    @property
    def has_systemd(self) -> bool:
        return self.init == "systemd"

    def disks(self) -> list[BlockDevice]:
        return [d for d in self.devices
                if (d.type in ("disk", "loop") or d.type.startswith("raid")) and d.size > 0]

    def mounts_at(self, target: str) -> list[Mount]:
        return [m for m in self.mounts if m.target == target]

    def mounts_of(self, node: str) -> list[Mount]:
        return [m for m in self.mounts if m.source == node]


def split_sections(output: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    current: Optional[str] = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(SECTION):
            if current is not None:
                sections[current] = "\n".join(lines).strip("\n")
            current, lines = line[len(SECTION):].strip(), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip("\n")
    if "end" not in sections:
        raise ValueError("the facts output is cut short (no end marker)")
    return sections


def _json(text: str) -> Any:
    return json.loads(text) if text.strip() else None


def _device(raw: dict) -> BlockDevice:
    return BlockDevice(
        name=raw["name"],
        path=raw.get("path") or f"/dev/{raw['name']}",
        size=int(raw.get("size") or 0),
        type=raw.get("type") or "",
        model=(raw.get("model") or "").strip() or None,
        serial=(raw.get("serial") or "").strip() or None,
        wwn=(raw.get("wwn") or "").strip() or None,
        read_only=bool(raw.get("ro")),
        mountpoints=tuple(sorted(m for m in raw.get("mountpoints") or [] if m)),
        children=tuple(_device(c) for c in raw.get("children") or []),
    )


def _partition_table(raw: Any) -> Optional[PartitionTable]:
    if not raw or "partitiontable" not in raw:
        return None
    table = raw["partitiontable"]
    return PartitionTable(
        label=table.get("label", ""),
        partitions=tuple(
            Partition(node=p["node"], start=int(p["start"]), size=int(p["size"]), type=p.get("type", ""),
                      name=p.get("name"), uuid=p.get("uuid"))
            for p in table.get("partitions", [])
        ),
    )


def parse_facts(output: str) -> HostFacts:
    """Parse the facts script's output; raise ValueError on output that is not the script's."""
    sections = split_sections(output)
    os_release = {}
    for line in sections.get("os-release", "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            os_release[key] = value.strip().strip('"')
    devices = tuple(_device(d) for d in (_json(sections.get("lsblk", "")) or {}).get("blockdevices", []))
    mounts: list[Mount] = []

    def add_mounts(entries: list[dict]) -> None:
        for entry in entries:
            mounts.append(Mount(entry["target"], entry.get("source") or "", entry.get("fstype") or "",
                                entry.get("options") or ""))
            add_mounts(entry.get("children") or [])

    add_mounts((_json(sections.get("findmnt", "")) or {}).get("filesystems", []))
    swaps = tuple(line.split()[0] for line in sections.get("swaps", "").splitlines()[1:] if line.strip())
    loop_backing = {
        d["name"]: d.get("back-file") or ""
        for d in (_json(sections.get("losetup", "")) or {}).get("loopdevices", [])
    }
    by_id = {}
    for line in sections.get("by-id", "").splitlines():
        if " " in line:
            link, target = line.split(" ", 1)
            by_id[link] = target
    tables: dict[str, Optional[PartitionTable]] = {}
    signatures: dict[str, tuple[Signature, ...]] = {}
    holders: dict[str, tuple[str, ...]] = {}
    paths: dict[str, Optional[PathState]] = {}
    files: dict[str, Optional[tuple[str, int, str]]] = {}
    for name, text in sections.items():
        kind, _, subject = name.partition(" ")
        if kind == "sfdisk":
            tables[subject] = _partition_table(_json(text))
        elif kind == "wipefs":
            signatures[subject] = tuple(
                Signature(s.get("type", ""), s.get("offset", ""), s.get("uuid"), s.get("label"))
                for s in (_json(text) or {}).get("signatures", [])
            )
        elif kind == "holders":
            holders[subject] = tuple(text.split())
        elif kind == "file":
            lines = text.splitlines()
            if len(lines) >= 2:
                mode, owner, group = lines[1].split()
                files[subject] = (lines[0].strip(), int(mode, 8), f"{owner}:{group}")
            else:
                files[subject] = None
        elif kind == "path":
            lines = text.splitlines()
            if lines:
                owner, group, mode = lines[0].split()
                paths[subject] = PathState(owner, group, int(mode, 8), "nonempty" in lines[1:])
            else:
                paths[subject] = None
    state_text = sections.get("state", "")
    try:
        state = json.loads(state_text) if state_text.strip() else None
    except ValueError:
        state = {"unreadable": state_text[:200]}
    return HostFacts(
        os_release=os_release,
        init=sections.get("init", "").strip(),
        tools=frozenset(sections.get("tools", "").split()),
        devices=devices,
        mounts=tuple(mounts),
        fstab=base64.b64decode(sections.get("fstab", "").strip()).decode(errors="replace"),
        swaps=swaps,
        mdstat=sections.get("mdstat", ""),
        loop_backing=loop_backing,
        by_id=by_id,
        partition_tables=tables,
        signatures=signatures,
        holders=holders,
        paths=paths,
        state=state,
        files=files,
        enabled_timers=frozenset(sections.get("timers", "").split()),
        raw_sections=sections,
    )


def gather(connection: Any, paths: Iterable[str] = (), files: Iterable[str] = ()) -> HostFacts:
    """Read the host's facts in one round trip."""
    result = connection.run(facts_script(paths, files), timeout=120)
    try:
        return parse_facts(result.stdout)
    except (ValueError, KeyError) as error:
        start = result.stdout.strip()[:120].replace("\n", " | ")
        raise FactsUnreadable(f"{connection.access.name}: cannot read the host's facts ({error}); its answer "
                              f"began {start!r}. Nothing was changed. Is it a Linux host with a POSIX shell, "
                              "and does nothing print text at login (a profile script) for this user?") from error

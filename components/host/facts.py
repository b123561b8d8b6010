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
from typing import Any, Callable, Iterable, Optional

from components.host.errors import FactsUnreadable

SECTION = "@@daktela "
STATE_FILE = "/etc/daktela-toolkit/host.json"
TOOLS = ("sfdisk", "partx", "wipefs", "mkfs.ext4", "mkfs.xfs", "findmnt", "lsblk", "losetup", "udevadm",
         "restic", "curl", "python3", "flock")
LSBLK_COLUMNS = "NAME,KNAME,PATH,SIZE,TYPE,MODEL,SERIAL,WWN,RO,MOUNTPOINTS,PKNAME"


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


@dataclass(frozen=True)
class Accounts:
    users: frozenset[str]
    groups: frozenset[str]


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
    accounts: Optional[Accounts] = None  # None: not read (a host recorded before the fact)
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


# ---------------------------------------------------------------------------------------------
# Each fact: the command that prints it and the parser of what it printed, side by side. A new
# fact is one entry here, one field of HostFacts, and a recorded section in tests/fixtures/facts/
# (tests/test_host_facts.py parses each fact's section of a recorded host).


@dataclass(frozen=True)
class Fact:
    """One thing read from the host: its section, the HostFacts field it fills, the shell that
    prints it and the parser of that text. A per-subject fact (`per` = "node", "path" or "file")
    runs once per block device, layout directory or installed file, reading "$<per>"; its field is
    a dict keyed by that subject."""

    name: str
    field: str
    command: str
    parse: Callable[[str], Any]
    per: str = ""
    when: str = ""  # a shell test: per-node facts read only where it holds


def _os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value.strip().strip('"')
    return values


def _devices(text: str) -> tuple[BlockDevice, ...]:
    return tuple(_device(d) for d in (_json(text) or {}).get("blockdevices", []))


def _mounts(text: str) -> tuple[Mount, ...]:
    mounts: list[Mount] = []

    def add(entries: list[dict]) -> None:
        for entry in entries:
            mounts.append(Mount(entry["target"], entry.get("source") or "", entry.get("fstype") or "",
                                entry.get("options") or ""))
            add(entry.get("children") or [])

    add((_json(text) or {}).get("filesystems", []))
    return tuple(mounts)


def _loop_backing(text: str) -> dict[str, str]:
    return {d["name"]: d.get("back-file") or "" for d in (_json(text) or {}).get("loopdevices", [])}


def _by_id(text: str) -> dict[str, str]:
    links = {}
    for line in text.splitlines():
        if " " in line:
            link, target = line.split(" ", 1)
            links[link] = target
    return links


def _state(text: str) -> Optional[dict[str, Any]]:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return {"unreadable": text[:200]}


def _signatures(text: str) -> tuple[Signature, ...]:
    return tuple(Signature(s.get("type", ""), s.get("offset", ""), s.get("uuid"), s.get("label"))
                 for s in (_json(text) or {}).get("signatures", []))


def _path_state(text: str) -> Optional[PathState]:
    lines = text.splitlines()
    if not lines:
        return None
    owner, group, mode = lines[0].split()
    return PathState(owner, group, int(mode, 8), "nonempty" in lines[1:])


def _file_state(text: str) -> Optional[tuple[str, int, str]]:
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    mode, owner, group = lines[1].split()
    return (lines[0].strip(), int(mode, 8), f"{owner}:{group}")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _accounts(text: str) -> Optional[Accounts]:
    lines = text.splitlines()
    if len(lines) < 2 or not lines[0].startswith("users:") or not lines[1].startswith("groups:"):
        return None
    return Accounts(_words(lines[0][len("users:"):]), _words(lines[1][len("groups:"):]))


FACTS: tuple[Fact, ...] = (
    Fact("os-release", "os_release", "cat /etc/os-release 2>/dev/null", _os_release),
    Fact("init", "init", "cat /proc/1/comm 2>/dev/null", str.strip),
    Fact("tools", "tools", f'for t in {" ".join(TOOLS)}; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done',
         _words),
    Fact("lsblk", "devices", f"lsblk -J -b -o {LSBLK_COLUMNS}", _devices),
    Fact("findmnt", "mounts", "findmnt -J -o TARGET,SOURCE,FSTYPE,OPTIONS", _mounts),
    Fact("fstab", "fstab", "base64 -w0 /etc/fstab 2>/dev/null; echo",
         lambda text: base64.b64decode(text.strip()).decode(errors="replace")),
    Fact("swaps", "swaps", "cat /proc/swaps 2>/dev/null",
         lambda text: tuple(line.split()[0] for line in text.splitlines()[1:] if line.strip())),
    Fact("mdstat", "mdstat", "cat /proc/mdstat 2>/dev/null", lambda text: text),
    Fact("losetup", "loop_backing", "losetup -J -l 2>/dev/null", _loop_backing),
    Fact("by-id", "by_id",
         """for f in /dev/disk/by-id/*; do [ -e "$f" ] && printf '%s %s\\n' "$f" "$(readlink -f "$f")"; done""", _by_id),
    Fact("state", "state", f"cat {STATE_FILE} 2>/dev/null", _state),
    Fact("sfdisk", "partition_tables", 'sfdisk -J "$node" 2>/dev/null', lambda text: _partition_table(_json(text)),
         per="node", when='case "$(lsblk -dn -o TYPE "$node")" in disk|loop) true;; *) false;; esac'),
    Fact("wipefs", "signatures", 'wipefs -n -J "$node" 2>/dev/null', _signatures, per="node"),
    Fact("holders", "holders", 'ls "/sys/class/block/$(basename "$node")/holders" 2>/dev/null',
         lambda text: tuple(text.split()), per="node"),
    Fact("path", "paths",
         """if [ -d "$path" ]; then stat -c '%U %G %a' "$path"; [ -n "$(ls -A "$path" 2>/dev/null)" ] && echo nonempty; fi""",
         _path_state, per="path"),
    Fact("file", "files",
         """if [ -f "$file" ]; then sha256sum "$file" | cut -c1-64; stat -c '%a %U %G' "$file"; fi""",
         _file_state, per="file"),
    Fact("timers", "enabled_timers",
         "if [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; then systemctl list-unit-files --state=enabled "
         "--no-legend 'daktela-*.timer' 2>/dev/null | cut -d' ' -f1; fi", _words),
    # who may own a directory the toolkit creates (on_premise.directory_owners)
    Fact("accounts", "accounts",
         "printf 'users: %s\\ngroups: %s\\n' \"$(getent passwd | cut -d: -f1 | tr '\\n' ' ')\" "
         "\"$(getent group | cut -d: -f1 | tr '\\n' ' ')\"", _accounts),
)

# Block devices with a size: disks, loop devices, partitions (the per-node facts read each).
NODES = ("$(lsblk -ln -b -o PATH,TYPE,SIZE | awk '$3 > 0 && ($2 == \"disk\" || $2 == \"loop\" || "
         "$2 == \"part\") {print $1}')")


def facts_script(paths: Iterable[str] = (), files: Iterable[str] = ()) -> str:
    """The one command that reads everything the planner needs (templates/host/facts.sh.j2): every
    fact of FACTS, each in its own section. `paths` are the directories of the desired layout
    (owner, group and mode read), `files` the files the toolkit installs (digest and mode read,
    never their content)."""
    from components.templates import render

    loops = (("node", NODES), ("path", " ".join(shlex.quote(p) for p in sorted(set(paths)))),
             ("file", " ".join(shlex.quote(f) for f in sorted(set(files)))))
    return render("host/facts.sh.j2", section=SECTION, facts=FACTS, loops=loops)


def parse_facts(output: str) -> HostFacts:
    """Parse the facts script's output, each section by its fact's parser; raise ValueError on
    output that is not the script's."""
    sections = split_sections(output)
    values: dict[str, Any] = {fact.field: {} for fact in FACTS if fact.per}
    by_name = {fact.name: fact for fact in FACTS}
    for name, text in sections.items():
        kind, _, subject = name.partition(" ")
        fact = by_name.get(kind)
        if fact is not None and bool(fact.per) == bool(subject):
            if subject:
                values[fact.field][subject] = fact.parse(text)
            else:
                values[fact.field] = fact.parse(text)
    for fact in FACTS:  # a section the host did not print reads as empty text
        if not fact.per and fact.field not in values:
            values[fact.field] = fact.parse("")
    return HostFacts(**values, raw_sections=sections)


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

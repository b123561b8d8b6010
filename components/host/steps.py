"""The steps a plan is made of: each says what it does for people and carries its shell script.

Scripts are written to be safe on their own as well: one that formats a partition re-checks on
the host, at the moment it runs, that the partition carries no signature, so a stale plan can
never format data. `apply` runs these scripts and nothing else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional

from components.host.ssh import atomic_write_script

# Linux filesystem data partition type (GPT).
LINUX_DATA_PARTITION = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def q(value: str) -> str:
    return shlex.quote(value)


_WAIT_FOR_NODE = """
i=0
while [ ! -b {node} ]; do
  i=$((i + 1)); [ "$i" -le 50 ] || {{ echo "partition {node} did not appear" >&2; exit 1; }}
  sleep 0.1
done
"""


def _reread(disk: str, node: str) -> str:
    # Without udev (containers, minimal hosts) the kernel does not add partition nodes by itself.
    return (
        f"partx -u {q(disk)} 2>/dev/null || true\n"
        f"[ -b {q(node)} ] || partx -a {q(disk)} 2>/dev/null || true\n"
        "command -v udevadm >/dev/null 2>&1 && udevadm settle 2>/dev/null || true\n"
        + _WAIT_FOR_NODE.format(node=q(node))
    )


@dataclass(frozen=True)
class Step:
    role: Optional[str]  # which drive, or None for host-wide steps

    def describe(self) -> str:
        raise NotImplementedError

    def script(self) -> str:
        raise NotImplementedError

    def stdin(self) -> Optional[bytes]:
        return None

    def __str__(self) -> str:
        return f"{self.role}: {self.describe()}" if self.role else self.describe()


@dataclass(frozen=True)
class WipeSignatures(Step):
    disk: str
    nodes: tuple[str, ...]  # partitions the kernel shows, wiped before the disk
    identity: str

    def describe(self) -> str:
        return f"ERASE every signature on {self.disk} ({self.identity}), as allow_wipe consents"

    def script(self) -> str:
        lines = ["set -eu"]
        lines += [f"[ -b {q(n)} ] && wipefs -a -q {q(n)}" for n in self.nodes]
        lines += [f"wipefs -a -q {q(self.disk)}", f"partx -d {q(self.disk)} 2>/dev/null || true"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CreatePartition(Step):
    disk: str
    node: str
    partition_name: str

    def describe(self) -> str:
        return f"create a GPT partition table on {self.disk} with one partition '{self.partition_name}'"

    def script(self) -> str:
        layout = f'label: gpt\nstart=2048, type={LINUX_DATA_PARTITION}, name="{self.partition_name}"\n'
        return (
            "set -eu\n"
            f"signatures=$(wipefs -n --noheadings -O TYPE {q(self.disk)})\n"  # a failing wipefs stops here
            'if [ -n "$signatures" ]; then\n'
            f'  echo "refusing to partition {self.disk}: it carries a signature" >&2; exit 3\n'
            "fi\n"
            # sfdisk writes the whole table in one go at the end: no half-written table.
            f"printf %s {q(layout)} | sfdisk -q --wipe never {q(self.disk)}\n"
            + _reread(self.disk, self.node)
        )


@dataclass(frozen=True)
class RereadPartitions(Step):
    disk: str
    node: str

    def describe(self) -> str:
        return f"make the kernel read the partition table of {self.disk} ({self.node} is missing)"

    def script(self) -> str:
        return "set -eu\n" + _reread(self.disk, self.node)


@dataclass(frozen=True)
class MakeFilesystem(Step):
    node: str
    filesystem: str
    label: str
    uuid: str

    def describe(self) -> str:
        return f"create {self.filesystem} filesystem '{self.label}' (UUID {self.uuid}) on {self.node}"

    def script(self) -> str:
        if self.filesystem == "ext4":
            mkfs = f"mkfs.ext4 -q -L {q(self.label)} -U {q(self.uuid)} {q(self.node)}"
        else:
            mkfs = f"mkfs.xfs -q -L {q(self.label)} -m uuid={q(self.uuid)} {q(self.node)}"
        return (
            "set -eu\n"
            f"found=$(wipefs -n --noheadings -O TYPE,UUID {q(self.node)})\n"  # a failing wipefs stops here
            "types=$(printf '%s\\n' \"$found\" | awk 'NF { print $1 }' | tr '\\n' ' ' | sed 's/ *$//')\n"
            'if [ -n "$types" ]; then\n'
            "  uuid=$(printf '%s\\n' \"$found\" | awk 'NF { print $2; exit }')\n"
            f'  if [ "$types" = {q(self.filesystem)} ] && [ "$uuid" = {q(self.uuid)} ]; then\n'
            '    echo "already formatted by the toolkit"; exit 0\n'
            "  fi\n"
            f'  echo "refusing to format {self.node}: it holds $types" >&2; exit 3\n'
            "fi\n"
            f"{mkfs}\n"
        )


FSTAB_BACKUP_PATTERN = "/etc/fstab.daktela-backup-%Y%m%d%H%M%S"


@dataclass(frozen=True)
class WriteFstab(Step):
    content: str
    managed_lines: tuple[str, ...]
    mount_points: tuple[str, ...]
    summary: str

    def describe(self) -> str:
        return f"write /etc/fstab ({self.summary}), keeping a backup copy"

    def stdin(self) -> bytes:
        return self.content.encode()

    def script(self) -> str:
        ours = "".join(line + "\n" for line in self.managed_lines)
        mkdirs = " ".join(q(m) for m in self.mount_points)
        return (
            "set -eu\n"
            f"mkdir -p {mkdirs}\n"
            "tmp=$(mktemp /etc/.fstab.daktela.XXXXXX)\n"
            "ours=$(mktemp /etc/.fstab.daktela-ours.XXXXXX)\n"
            "trap 'rm -f \"$tmp\" \"$ours\"' EXIT\n"
            'cat > "$tmp"\n'
            f'printf %s {q(ours)} > "$ours"\n'
            # Our lines must verify cleanly; the whole new file must at least parse.
            'findmnt --verify --tab-file "$ours" >&2\n'
            'findmnt --verify --tab-file "$tmp" 2>&1 | grep -Eq "^(Success|0 parse errors)" '
            '|| { echo "the new /etc/fstab does not parse" >&2; exit 1; }\n'
            'chmod 644 "$tmp"; chown root:root "$tmp"\n'
            f'[ ! -e /etc/fstab ] || cp -p /etc/fstab "$(date +{FSTAB_BACKUP_PATTERN})"\n'
            'sync "$tmp"\n'
            'mv -f "$tmp" /etc/fstab\n'
            "sync /etc\n"
            "trap 'rm -f \"$ours\"' EXIT\n"
            'if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then systemctl daemon-reload; fi\n'
        )


@dataclass(frozen=True)
class MountFilesystem(Step):
    mount_point: str
    node: str

    def describe(self) -> str:
        return f"mount {self.node} at {self.mount_point} (from /etc/fstab)"

    def script(self) -> str:
        return (
            "set -eu\n"
            f"mkdir -p {q(self.mount_point)}\n"
            f"mount {q(self.mount_point)}\n"
            f"findmnt -n -o SOURCE --mountpoint {q(self.mount_point)}\n"
        )


@dataclass(frozen=True)
class EnsureDirectories(Step):
    directories: tuple[tuple[str, str, str, int], ...]  # path, owner, group, mode

    def describe(self) -> str:
        names = ", ".join(f"{p} ({o}:{g} {m:04o})" for p, o, g, m in self.directories)
        return f"create or fix directories {names}"

    def script(self) -> str:
        lines = ["set -eu"]
        for path, owner, group, mode in self.directories:
            lines.append(f"install -d -o {q(owner)} -g {q(group)} -m {mode:04o} {q(path)}")
            lines.append(f"chown {q(owner)}:{q(group)} {q(path)}; chmod {mode:04o} {q(path)}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RecordState(Step):
    path: str
    content: str

    def describe(self) -> str:
        return f"record the prepared layout in {self.path}"

    def stdin(self) -> bytes:
        return self.content.encode()

    def script(self) -> str:
        return atomic_write_script(self.path)


@dataclass(frozen=True)
class InstallFile(Step):
    path: str
    mode: int
    content: str

    def describe(self) -> str:
        return f"install {self.path} (mode {self.mode:04o})"  # never the content: it may be secret

    def stdin(self) -> bytes:
        return self.content.encode()

    def script(self) -> str:
        return atomic_write_script(self.path, self.mode)


@dataclass(frozen=True)
class ActivateTimers(Step):
    timers: tuple[str, ...]

    def describe(self) -> str:
        return f"reload systemd and enable {', '.join(self.timers)}"

    def script(self) -> str:
        return "set -eu\nsystemctl daemon-reload\nsystemctl enable --now " + " ".join(q(t) for t in self.timers) + "\n"

"""The steps a plan is made of: each says what it does for people and carries its shell script.

Scripts are written to be safe on their own as well: one that formats a partition re-checks on
the host, at the moment it runs, that the partition carries no signature, so a stale plan can
never format data. `apply` runs these scripts and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.host.ssh import atomic_write_script
from components.templates import render

# Linux filesystem data partition type (GPT).
LINUX_DATA_PARTITION = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


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
        return render("host/wipe-signatures.sh.j2", nodes=self.nodes, disk=self.disk)


@dataclass(frozen=True)
class CreatePartition(Step):
    disk: str
    node: str
    partition_name: str

    def describe(self) -> str:
        return f"create a GPT partition table on {self.disk} with one partition '{self.partition_name}'"

    def script(self) -> str:
        layout = f'label: gpt\nstart=2048, type={LINUX_DATA_PARTITION}, name="{self.partition_name}"\n'
        return render("host/create-partition.sh.j2", disk=self.disk, node=self.node, layout=layout)


@dataclass(frozen=True)
class RereadPartitions(Step):
    disk: str
    node: str

    def describe(self) -> str:
        return f"make the kernel read the partition table of {self.disk} ({self.node} is missing)"

    def script(self) -> str:
        return render("host/reread-partitions.sh.j2", disk=self.disk, node=self.node)


@dataclass(frozen=True)
class MakeFilesystem(Step):
    node: str
    filesystem: str
    label: str
    uuid: str

    def describe(self) -> str:
        return f"create {self.filesystem} filesystem '{self.label}' (UUID {self.uuid}) on {self.node}"

    def script(self) -> str:
        return render("host/make-filesystem.sh.j2", node=self.node, filesystem=self.filesystem, label=self.label,
                      uuid=self.uuid)


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
        return render("host/write-fstab.sh.j2", mount_points=self.mount_points, ours=ours,
                      backup_pattern=FSTAB_BACKUP_PATTERN)


@dataclass(frozen=True)
class MountFilesystem(Step):
    mount_point: str
    node: str

    def describe(self) -> str:
        return f"mount {self.node} at {self.mount_point} (from /etc/fstab)"

    def script(self) -> str:
        return render("host/mount-filesystem.sh.j2", mount_point=self.mount_point)


@dataclass(frozen=True)
class EnsureDirectories(Step):
    directories: tuple[tuple[str, str, str, int], ...]  # path, owner, group, mode

    def describe(self) -> str:
        names = ", ".join(f"{p} ({o}:{g} {m:04o})" for p, o, g, m in self.directories)
        return f"create missing directories {names}"

    def script(self) -> str:
        return render("host/ensure-directories.sh.j2", directories=self.directories)


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
        return render("host/activate-timers.sh.j2", timers=self.timers)

"""The desired layout of an on-premise host: two drives, how each is formatted, mounted and laid out.

Built from the validated config (components/config/) or directly in tests. Plain data, so that
the planner, the Pulumi resource's inputs and the onboarding script all speak of the same thing.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional

from components.config import OnPremSettings

if TYPE_CHECKING:
    from components.host.backup_job import ManagedFile

# Namespace for filesystem UUIDs: a drive's filesystem UUID follows from its identity and role,
# so a plan names it before mkfs runs, and a re-run recognises the filesystem as the toolkit's.
FILESYSTEM_UUID_NAMESPACE = uuid.UUID("6b0c1d2e-5d1f-4f0e-9a57-0da7e1a00000")

FILESYSTEM_LABELS = {"operational": "daktela-op", "archive": "daktela-arch"}  # xfs allows 12 chars
MOUNT_OPTIONS = "defaults,nofail,x-systemd.device-timeout=30s"

# Directory layout per drive: (relative path, owner, group, mode). The owner and group are what a
# directory the toolkit creates gets, unless on_premise.directory_owners names others (the database
# server's user for its data directory); a directory that exists is never changed: it belongs to the
# application from then on.
DIRECTORIES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "operational": (
        ("application", "root", "root", 0o755),
        ("database", "root", "root", 0o700),
        ("attachments", "root", "root", 0o750),
        ("recordings", "root", "root", 0o750),
    ),
    "archive": (
        ("attachments", "root", "root", 0o750),
        ("recordings", "root", "root", 0o750),
    ),
}


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str
    group: str
    mode: int


@dataclass(frozen=True)
class DesiredDrive:
    role: str  # "operational" | "archive"
    identity: str
    size_bytes: Optional[int]  # None only for a host not checked yet (config host_unchecked)
    filesystem: str
    mount_point: str
    allow_wipe: bool
    owners: tuple[tuple[str, str], ...] = ()  # (directory name, "user:group") from on_premise.directory_owners

    @property
    def partition_name(self) -> str:
        return f"daktela-{self.role}"

    @property
    def label(self) -> str:
        return FILESYSTEM_LABELS[self.role]

    @property
    def filesystem_uuid(self) -> str:
        return str(uuid.uuid5(FILESYSTEM_UUID_NAMESPACE, f"{self.identity}|{self.role}"))

    @property
    def directories(self) -> tuple[Directory, ...]:
        owners = dict(self.owners)
        directories = []
        for name, owner, group, mode in DIRECTORIES[self.role]:
            if name in owners:
                owner, group = owners[name].split(":", 1)
            directories.append(Directory(f"{self.mount_point}/{name}", owner, group, mode))
        return tuple(directories)

    def fstab_line(self) -> str:
        passno = 2 if self.filesystem == "ext4" else 0  # xfs checks itself at mount time
        return f"UUID={self.filesystem_uuid} {self.mount_point} {self.filesystem} {MOUNT_OPTIONS} 0 {passno}"


@dataclass(frozen=True)
class DesiredLayout:
    drives: tuple[DesiredDrive, ...]
    # Files the toolkit installs (backup jobs; secrets among them) and the timers to enable.
    # Never part of to_dict(): the dict travels as a plain resource input.
    files: tuple[ManagedFile, ...] = ()
    timers: tuple[str, ...] = ()

    def drive(self, role: str) -> DesiredDrive:
        return next(d for d in self.drives if d.role == role)

    def paths(self) -> list[str]:
        """Every path whose state the planner needs: mount points and directories."""
        out = []
        for drive in self.drives:
            out.append(drive.mount_point)
            out += [d.path for d in drive.directories]
        return out

    def file_paths(self) -> list[str]:
        return [f.path for f in self.files]

    def to_dict(self) -> dict[str, Any]:
        # no owners, no key: a stack without directory_owners keeps the inputs it had before them
        return {"drives": [{k: v for k, v in asdict(d).items() if k != "owners" or v} for d in self.drives]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], files: tuple[ManagedFile, ...] = (), timers: tuple[str, ...] = ()) -> "DesiredLayout":
        drives = tuple(DesiredDrive(**{**d, "owners": tuple(tuple(pair) for pair in d.get("owners", ()))})
                       for d in data["drives"])
        return cls(drives, files, timers)


def layout_from_config(settings: OnPremSettings) -> DesiredLayout:
    drives = []
    for role in ("operational", "archive"):
        drive = getattr(settings.drives, role)
        drives.append(DesiredDrive(
            role=role,
            identity=drive.identity,
            size_bytes=drive.size_bytes,
            filesystem=drive.filesystem,
            mount_point=settings.drives.mount_point(role),
            allow_wipe=drive.allow_wipe is not None and drive.allow_wipe == drive.identity,
            owners=tuple(sorted((name, owner) for name, owner in settings.directory_owners.items()
                                if name in {entry[0] for entry in DIRECTORIES[role]})),
        ))
    return DesiredLayout(tuple(drives))

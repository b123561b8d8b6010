"""The typed installation model (pydantic), its defaults, and the secret config keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from components.config.values import (
    DRIVE_IDENTITY_FORMS, AbsolutePath, AwsRegion, Cidr, DriveIdentity, Email, Fingerprint, HostAddress, Owner,
    Price, TimeOfDay, TimeZone,
)


CONFIG_NAMESPACE = "daktela"
INSTALLATION_KEY = "installation"
ROOT = "installation"

Hosting = Literal["cloud", "on-premise"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)




class Regions(_Model):
    primary: AwsRegion = Field(
        description="AWS region of the installation (cloud) or of backup location 1 (on-premise)"
    )
    secondary: AwsRegion = Field(
        description="a second AWS region: backup copies (cloud) or backup location 2 (on-premise)"
    )


class Prices(_Model):
    installation_monthly: Price = Field(
        description="9.03 Daktela CC Installation, monthly price per installation"
    )
    storage_per_gb: Price = Field(
        description="monthly price per GB of comments and email attachments above the included storage"
    )
    on_premise_monthly: Optional[Price] = Field(
        default=None, description="9.04 On-premise installation, monthly (on-premise only)"
    )
    on_premise_setup: Optional[Price] = Field(
        default=None, description="6.21 one-off setup fee of an on-premise installation (on-premise only)"
    )


class PriceChangePrices(_Model):
    installation_monthly: Optional[Price] = Field(default=None, description="new 9.03 monthly price")
    storage_per_gb: Optional[Price] = Field(default=None, description="new monthly price per GB above the included")
    on_premise_monthly: Optional[Price] = Field(default=None, description="new 9.04 monthly price (on-premise only)")


class PriceChange(_Model):
    effective_from: date = Field(description="first day (YYYY-MM-DD) the new prices apply")
    prices: PriceChangePrices = Field(description="the prices that change; the others stay as they were")


class Contract(_Model):
    currency: str = Field(description="ISO 4217 currency code of every price, e.g. EUR")
    start_date: date = Field(description="contract start (YYYY-MM-DD); fees take effect from it")
    end_date: Optional[date] = Field(
        default=None,
        description="last day billed (YYYY-MM-DD); set it and run `pulumi up` before `pulumi destroy`",
    )
    prices: Prices = Field(description="prices from the customer's contract")
    price_changes: list[PriceChange] = Field(
        default_factory=list,
        description="later prices, each from its effective date; a change adds ledger records and "
                    "never rewrites earlier ones",
    )
    included_storage_gb: int = Field(
        default=100, ge=0, description="GB of comments and email attachments included in 9.03"
    )


class Ledger(_Model):
    table: str = Field(
        default="daktela-fee-ledger",
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description="DynamoDB table of fee records, shared by all installations",
    )
    region: AwsRegion = Field(description="AWS region of the ledger table")


class Rollout(_Model):
    canary: bool = Field(
        default=False,
        description="roll every change out to this installation first, in the canary wave, before the "
                    "rest of the fleet (scripts/rollout.py; docs/operate.md, \"Rolling a change out\")",
    )


class Retention(_Model):
    keep_daily: int = Field(default=14, ge=1, le=3650, description="the newest snapshot of each of this many days is kept")
    keep_weekly: int = Field(default=8, ge=0, le=520, description="the newest snapshot of each of this many weeks is kept")
    keep_monthly: int = Field(default=12, ge=0, le=120, description="the newest snapshot of each of this many months is kept")
    runner_arn: Optional[str] = Field(
        default=None, pattern=r"^arn:aws:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$",
        description="the one principal that may assume the installation's prune role (the team's "
                    "designated runner); by default any principal of the account that is allowed to")


class Backup(_Model):
    times: Optional[list[TimeOfDay]] = Field(
        default=None,
        description=(
            "daily start times, HH:MM; cloud: three, one per technology in the order block-level, "
            "database dump, file-level (default 02:00, 10:00, 18:00 UTC); "
            "on-premise: two or more (default 01:00, 13:00)"
        ),
    )
    timezone: TimeZone = Field(
        default="UTC", description="time zone of `times`; cloud installations run on UTC"
    )
    reserve_hours: int = Field(
        default=4,
        ge=1,
        le=12,
        description="runtime reserve on top of 24 h before the newest backup counts as stale",
    )
    silence_minutes: int = Field(
        default=3,
        ge=1,
        le=5,
        description="a backup location (restic into it, a check, a drill's download) that makes no "
                    "progress for this long is given up and reported failed at once; a slow but "
                    "progressing one may use its whole window",
    )
    verify_cycle_days: int = Field(
        default=30,
        ge=1,
        le=256,
        description="every pack of every restic repository is read back and verified within this many "
                    "days: a daily `restic check` reads one part of each (at most 256: restic's limit)",
    )
    retention: Retention = Field(
        default_factory=Retention,
        description="what the weekly prune of the restic repositories keeps; every snapshot of the "
                    "last backup_lock_days (on-premise) or cloud.backup_retention_days (cloud) is kept too",
    )


class Notifications(_Model):
    ops: list[Email] = Field(min_length=1, description="addresses alerted when a backup is stale")
    billing: list[Email] = Field(
        default_factory=list,
        description="addresses told when storage passes the included GB (none: the ops addresses)"
    )


class Database(_Model):
    engine: Literal["mariadb", "mysql"] = Field(default="mariadb", description="database engine")
    name: str = Field(default="daktela", pattern=r"^[A-Za-z0-9_]{1,64}$", description="database name")
    user: str = Field(default="daktela_backup", pattern=r"^[A-Za-z0-9_]{1,32}$",
                      description="database user the dump runs as")


class RtpPorts(_Model):
    first: int = Field(default=10000, ge=1024, le=65535, description="first RTP UDP port")
    last: int = Field(default=20000, ge=1024, le=65535, description="last RTP UDP port")


class VolumeSizes(_Model):
    application: int = Field(default=50, ge=8, le=16384, description="GB for application files")
    database: int = Field(default=200, ge=8, le=16384, description="GB for database data")
    attachments: int = Field(
        default=100, ge=1, le=16384,
        description="GB for comments and email attachments (at least the included storage)",
    )
    recordings: int = Field(default=500, ge=8, le=16384, description="GB for call recordings")


# The directories the toolkit lays out on the drives (components/host/layout.py).
LayoutDirectory = Literal["application", "database", "attachments", "recordings"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class RestoreDrill(_Model):
    weekday: Weekday = Field(default="Sat", description="day of the weekly restore drill (on-premise: host time zone; cloud: UTC)")
    time: TimeOfDay = Field(default=time(4, 0), description="time of the restore drill (HH:MM; on-premise: host time zone; cloud: UTC)")
    alarm_after_days: int = Field(
        default=8, ge=2, le=60,
        description="days without a successful drill of a location (on-premise) or a technology "
                    "(cloud) before it alarms",
    )

    @property
    def alarm_after_hours(self) -> float:
        return float(self.alarm_after_days * 24)
    scratch_dir: AbsolutePath = Field(
        default="/var/tmp/daktela-drill",
        description="where the drill works (a fresh directory inside it each time, removed after); "
                    "files are restored there in batches that fit, each removed before the next: it "
                    "needs room for the database dump, the largest table and 256 MiB; more room, fewer "
                    "batches",
    )


class CloudRestoreDrill(RestoreDrill):
    scratch_gb: Optional[int] = Field(
        default=None, ge=0, le=16384,
        description="GB of the drill's scratch volume, mounted at scratch_dir (gp3, not backed up); "
                    "by default the database volume's size (its dump and largest table fit); 0: no "
                    "volume, the root volume's free space (small installations)",
    )


class CloudSettings(_Model):
    instance_type: str = Field(
        default="m6i.xlarge", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", description="EC2 instance type"
    )
    subnet_id: str = Field(pattern=r"^subnet-[0-9a-f]{8,17}$", description="subnet of the instance")
    admin_cidrs: list[Cidr] = Field(
        default_factory=list, description="networks allowed to SSH in; none by default"
    )
    rtp_ports: RtpPorts = Field(default_factory=RtpPorts, description="RTP media port range (UDP)")
    volumes_gb: VolumeSizes = Field(default_factory=VolumeSizes, description="EBS size per data class")

    @property
    def drill_scratch_gb(self) -> int:
        """The drill's scratch volume (0: none): restore_drill.scratch_gb, else the database volume's size."""
        chosen = self.restore_drill.scratch_gb
        return self.volumes_gb.database if chosen is None else chosen
    backup_retention_days: int = Field(
        default=35, ge=7, le=3650,
        description="days each backup is kept (AWS Backup recovery points, database dumps)",
    )
    vault_lock_days: Optional[int] = Field(
        default=None, ge=1, le=36500,
        description="lock the AWS Backup vaults: no recovery point can be deleted before this many "
                    "days (none by default; a lock cannot be removed after its grace period)",
    )
    restore_drill: CloudRestoreDrill = Field(
        default_factory=CloudRestoreDrill,
        description="the weekly restore drills: AWS Backup restore testing of the data volumes, and on "
                    "the instance the newest database dump and restic snapshot restored and verified",
    )


class Host(_Model):
    address: HostAddress = Field(description="host name or IP address of the customer's server")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port")
    user: str = Field(default="root", pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
                      description="SSH user (root, or a user with passwordless sudo)")
    host_key_fingerprint: Optional[Fingerprint] = Field(
        default=None, description="pinned SHA256 fingerprint of the host's SSH key"
    )
    known_hosts_file: Optional[AbsolutePath] = Field(
        default=None, description="known_hosts file to verify the host key against"
    )


class Drive(_Model):
    identity: DriveIdentity = Field(description=f"stable identity of the drive: {DRIVE_IDENTITY_FORMS}")
    size_bytes: Optional[int] = Field(
        default=None, gt=0,
        description="exact size in bytes (lsblk -b); a mismatch refuses. Required once the host is "
                    "checked (onboarding and scripts/check_host.py write it)")
    filesystem: Literal["ext4", "xfs"] = Field(default="ext4", description="filesystem to create")
    mount_point: Optional[AbsolutePath] = Field(
        default=None, description="where it is mounted (default /srv/daktela, /srv/daktela-archive)"
    )
    allow_wipe: Optional[str] = Field(
        default=None,
        description="consent to erase a drive that holds data: repeat its exact identity here",
    )


DEFAULT_MOUNT_POINTS = {"operational": "/srv/daktela", "archive": "/srv/daktela-archive"}


class Drives(_Model):
    operational: Drive = Field(description="drive for application, database and recent attachments")
    archive: Drive = Field(description="drive for attachments and recordings older than archive_after_days")

    def mount_point(self, role: str) -> str:
        drive: Drive = getattr(self, role)
        return drive.mount_point or DEFAULT_MOUNT_POINTS[role]


class OnPremSettings(_Model):
    host: Host = Field(description="how to reach the customer's server over SSH")
    drives: Drives = Field(description="the operational and the archive drive")
    host_unchecked: bool = Field(
        default=False,
        description="written by onboarding without a reachable host (--without-host): the host key, "
                    "the drives' sizes and the connectivity are not checked yet. The stack plans, the "
                    "guardrail onprem-host-checked fails and `pulumi up` refuses it; scripts/check_host.py "
                    "checks the host, writes what it found and removes this")
    archive_after_days: int = Field(
        default=90, ge=1, le=3650,
        description="attachments and recordings older than this move to the archive drive",
    )
    backup_lock_days: int = Field(
        default=30, ge=1, le=3650,
        description="days every backup object stays locked (S3 Object Lock, governance mode) in "
                    "both locations; old versions expire after it",
    )
    backup_window_minutes: int = Field(
        default=120, ge=15, le=720,
        description="how long one backup run (both locations) may take; the connectivity check "
                    "requires a run to fit in it with a margin",
    )
    second_location_after_minutes: int = Field(
        default=15, ge=1, le=720,
        description="location 2's backup starts when location 1's is done, or this many minutes after it "
                    "started, whichever comes first (then both run side by side): a location that "
                    "misbehaves never holds the other; less than backup_window_minutes",
    )
    directory_owners: dict[LayoutDirectory, Owner] = Field(
        default_factory=dict,
        description="owner:group the toolkit gives a layout directory when it creates it (default "
                    "root:root), e.g. database: mysql:mysql; a directory that exists is never changed",
    )
    restore_drill: RestoreDrill = Field(
        default_factory=RestoreDrill,
        description="the weekly restore drill of each location, verified and timed",
    )


# The longest id whose AWS names all fit (components/aws_limits.py; tests/test_aws_limits.py plans
# both hostings with ids of exactly this length).
MAX_ID_LENGTH = {"cloud": 30, "on-premise": 35}
ID_LIMITED_BY = {
    "cloud": "the AWS Backup plan daktela-<id>-block-level may have 50",
    "on-premise": "an S3 bucket name, <id>-offsite-location-1 and 8 characters the engine adds, may have 63",
}


class Installation(_Model):
    id: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$",
        description="installation id: lowercase letters, digits and dashes, 3-30 characters "
                    "(cloud) or 3-35 (on-premise), so that every AWS name made from it fits",
    )
    customer: str = Field(min_length=1, max_length=200, description="customer's name, for people")

    @field_validator("id")
    @classmethod
    def _bucket_names_aws_accepts(cls, value: str) -> str:
        # Bucket names are made from the id; S3 refuses these prefixes (its naming rules).
        for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
            if value.startswith(prefix):
                raise ValueError(f"must not start with {prefix!r}: S3 refuses bucket names that do, and the "
                                 "installation's buckets are named after its id; choose another id")
        return value
    hosting: Hosting = Field(description="cloud (Daktela Cloud on AWS) or on-premise")
    regions: Regions = Field(description="AWS regions")
    contract: Contract = Field(description="contract data: currency, start date, prices")
    ledger: Ledger = Field(description="where fee records are written")
    backup: Backup = Field(default_factory=Backup, description="backup schedule and freshness reserve")
    notifications: Notifications = Field(description="who is told about backups and storage")
    database: Database = Field(default_factory=Database, description="the database that is dumped")
    rollout: Rollout = Field(default_factory=Rollout, description="where this installation goes in a rollout")
    cloud: Optional[CloudSettings] = Field(default=None, description="cloud installation settings")
    on_premise: Optional[OnPremSettings] = Field(
        default=None, description="on-premise installation settings"
    )

    @property
    def backup_times(self) -> list[time]:
        """The configured backup times, or the hosting's defaults."""
        if self.backup.times is not None:
            return list(self.backup.times)
        return list(DEFAULT_BACKUP_TIMES[self.hosting])

    @property
    def backup_max_age_hours(self) -> int:
        """The catalogue's freshness promise: newest backup at most 24 h old plus the reserve."""
        return 24 + self.backup.reserve_hours


class CloudConfig(Installation):
    """A cloud installation's config: `cloud` is there (parse_installation returns this type for
    hosting `cloud`), so a component that takes a CloudConfig needs no check of its own."""

    cloud: CloudSettings


class OnPremConfig(Installation):
    """An on-premise installation's config: `on_premise` is there."""

    on_premise: OnPremSettings


def narrowed(installation: Installation) -> Installation:
    """The installation as its hosting's own type (CloudConfig or OnPremConfig), once the rules
    have checked that its hosting's section is there; values are not validated again."""
    kind = CloudConfig if installation.hosting == "cloud" else OnPremConfig
    return kind.model_construct(**{key: getattr(installation, key) for key in Installation.model_fields},
                                _fields_set=installation.model_fields_set)


DEFAULT_BACKUP_TIMES: dict[str, tuple[time, ...]] = {
    "cloud": (time(2, 0), time(10, 0), time(18, 0)),
    "on-premise": (time(1, 0), time(13, 0)),
}
# Cloud runs need room between them: AWS Backup's start window alone is 60 minutes, and each
# technology's window ends where the next one starts (components/schedule.py).
MIN_MINUTES_BETWEEN_BACKUPS = {"cloud": 120, "on-premise": 60}



# Secrets: separate secret config keys, never part of the plain model



@dataclass(frozen=True)
class SecretKey:
    key: str  # without the namespace
    meaning: str
    hostings: tuple[str, ...]
    how_to_set: str

    @property
    def full_key(self) -> str:
        return f"{CONFIG_NAMESPACE}:{self.key}"


SECRET_KEYS: tuple[SecretKey, ...] = (
    SecretKey(
        "databasePassword", "password of the database user the dump runs as",
        ("cloud", "on-premise"), "pulumi config set --secret daktela:databasePassword",
    ),
    SecretKey(
        "backupRepositoryPassword", "password that encrypts the restic backup repositories",
        ("cloud", "on-premise"), "pulumi config set --secret daktela:backupRepositoryPassword",
    ),
    SecretKey(
        "hostSshPrivateKey", "private SSH key the toolkit logs in to the customer's host with",
        ("on-premise",), "pulumi config set --secret daktela:hostSshPrivateKey < KEY_FILE",
    ),
)


"""The stack config model: one structured key, validated once, every error naming its config path.

A stack file (`Pulumi.<stack>.yaml`) carries the installation under `daktela:installation` and its
secrets under separate secret keys (see `SECRET_KEYS`). `parse_installation` turns the plain part
into a typed `Installation` or raises `ConfigError` listing *every* problem found, each with its
path (`installation.backup.times[1]`) and what to do. `load_stack_config` is what the Pulumi
program calls; it reads the config through the SDK and registers nothing.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Iterable, Literal, Optional, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from components import names
from components.names import TECHNOLOGIES

CONFIG_NAMESPACE = "daktela"
INSTALLATION_KEY = "installation"
ROOT = "installation"

Hosting = Literal["cloud", "on-premise"]


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack config: where, and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The stack config is invalid; `problems` lists every problem found, in a stable order."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        lines = [f"The stack config has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  {problem}" for problem in problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Value types with messages for people


def _time_of_day(value: Any) -> time:
    if isinstance(value, time):
        return value
    text = value if isinstance(value, str) else repr(value)
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'"{text}" is not a time of day (HH:MM, 24-hour clock, e.g. "02:00")')
    return time(int(match.group(1)), int(match.group(2)))


@functools.lru_cache(maxsize=1)
def known_regions() -> tuple[str, ...]:
    """The regions botocore's own endpoint data lists for every service the toolkit uses."""
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    services = ("s3", "ec2", "backup", "lambda", "ssm", "iam", "sns", "events", "cloudwatch")
    regions = set(session.get_available_regions("s3"))
    for service in services[1:]:
        available = set(session.get_available_regions(service))
        regions &= available if available else regions  # global services (iam) list none
    return tuple(sorted(regions))


def _aws_region(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", value):
        raise ValueError(f'"{value}" is not an AWS region name (e.g. "eu-central-1")')
    regions = known_regions()
    if value not in regions:
        import botocore
        close = difflib.get_close_matches(value, regions, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise ValueError(f'"{value}" is not an AWS region where every service the toolkit uses runs, per '
                         f"botocore {botocore.__version__}{hint} (a region launched after that needs a newer "
                         "boto3 pin)")
    return value


MAX_PRICE = Decimal(10) ** 12  # far above any contract; keeps prices exact in DynamoDB's 38 digits


def _price(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a price; write a number such as 450.00")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f'"{value}" is not a price; write a number such as 450.00') from None
    if not price.is_finite() or price < 0:
        raise ValueError(f'"{value}" is not a price: it must be a number of 0 or more')
    if price >= MAX_PRICE:
        raise ValueError(f'"{value}" is not a plausible price: it must be less than {MAX_PRICE:,}')
    if -price.as_tuple().exponent > 4:  # type: ignore[operator]
        raise ValueError(f'"{value}" has more than 4 decimal places; round it as the contract does')
    # Money reads with at least two decimals (450.00), whether YAML gave 450, 450.0 or "450.00".
    return price.quantize(Decimal("0.01")) if -price.as_tuple().exponent < 2 else price  # type: ignore[operator]


def _email(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", value):
        raise ValueError(f'"{value}" is not an e-mail address')
    return value


def _timezone(value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{value}" is not an IANA time zone (e.g. "UTC", "Europe/Prague")') from None
    return str(value)


def _cidr(value: Any) -> str:
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise ValueError(
            f'"{value}" is not a network in CIDR form (e.g. "203.0.113.10/32", host bits zero)'
        ) from None
    if network.prefixlen == 0:
        raise ValueError(
            f'"{value}" opens SSH to the whole internet; list the admin networks instead'
        )
    return str(network)


DRIVE_IDENTITY_FORMS = (
    "/dev/disk/by-id/<name>, wwn:<0x…>, serial:<serial> "
    "(or loop:<backing file> on test hosts)"
)


def _drive_identity(value: Any) -> str:
    text = str(value)
    if re.fullmatch(r"/dev/disk/by-id/[^/\s]+", text):
        return text
    if re.fullmatch(r"wwn:0x[0-9a-fA-F]{8,32}", text):
        return text
    if re.fullmatch(r"serial:[A-Za-z0-9_.:-]{3,64}", text):
        return text
    if re.fullmatch(r"loop:/[^\s]+", text):
        return text
    if re.fullmatch(r"/dev/[a-z]+\d*(p?\d+)?", text):
        raise ValueError(
            f'"{text}" is a kernel device name, which can change between boots; '
            f"name the drive by {DRIVE_IDENTITY_FORMS}"
        )
    raise ValueError(f'"{text}" is not a drive identity; use {DRIVE_IDENTITY_FORMS}')


_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _host_address(value: Any) -> str:
    text = str(value)
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(text):
        return text
    raise ValueError(f'"{text}" is neither a host name nor an IP address')


def _fingerprint(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", text):
        raise ValueError(
            f'"{text}" is not an SSH host key fingerprint; write it as ssh-keygen -lf prints it '
            '("SHA256:" and 43 base64 characters)'
        )
    return text


def _absolute_path(value: Any) -> str:
    text = str(value)
    if not text.startswith("/") or "//" in text or "/../" in f"{text}/" or text != text.rstrip("/"):
        raise ValueError(f'"{text}" is not a clean absolute path (e.g. "/srv/daktela")')
    return text


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
AwsRegion = Annotated[str, BeforeValidator(_aws_region)]
Price = Annotated[Decimal, BeforeValidator(_price)]
Email = Annotated[str, BeforeValidator(_email)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
Cidr = Annotated[str, BeforeValidator(_cidr)]
DriveIdentity = Annotated[str, BeforeValidator(_drive_identity)]
HostAddress = Annotated[str, BeforeValidator(_host_address)]
Fingerprint = Annotated[str, BeforeValidator(_fingerprint)]
AbsolutePath = Annotated[str, BeforeValidator(_absolute_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# The model


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
        description="where the drill restores (a fresh directory inside it each time, removed after); "
                    "needs room for twice the restored data plus the snapshot",
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
    backup_retention_days: int = Field(
        default=35, ge=7, le=3650,
        description="days each backup is kept (AWS Backup recovery points, database dumps)",
    )
    vault_lock_days: Optional[int] = Field(
        default=None, ge=1, le=36500,
        description="lock the AWS Backup vaults: no recovery point can be deleted before this many "
                    "days (none by default; a lock cannot be removed after its grace period)",
    )
    restore_drill: RestoreDrill = Field(
        default_factory=RestoreDrill,
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
    size_bytes: int = Field(gt=0, description="exact size in bytes (lsblk -b); a mismatch refuses")
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
    hosting: Hosting = Field(description="cloud (Daktela Cloud on AWS) or on-premise")
    regions: Regions = Field(description="AWS regions")
    contract: Contract = Field(description="contract data: currency, start date, prices")
    ledger: Ledger = Field(description="where fee records are written")
    backup: Backup = Field(default_factory=Backup, description="backup schedule and freshness reserve")
    notifications: Notifications = Field(description="who is told about backups and storage")
    database: Database = Field(default_factory=Database, description="the database that is dumped")
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


DEFAULT_BACKUP_TIMES: dict[str, tuple[time, ...]] = {
    "cloud": (time(2, 0), time(10, 0), time(18, 0)),
    "on-premise": (time(1, 0), time(13, 0)),
}
# Cloud runs need room between them: AWS Backup's start window alone is 60 minutes, and each
# technology's window ends where the next one starts (components/schedule.py).
MIN_MINUTES_BETWEEN_BACKUPS = {"cloud": 120, "on-premise": 60}


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Parsing


def parse_installation(raw: Any) -> Installation:
    """Validate the plain installation config; raise ConfigError with every problem found."""
    if not isinstance(raw, dict):
        raise ConfigError([Problem(
            ROOT,
            f"is missing or not a mapping; set {CONFIG_NAMESPACE}:{INSTALLATION_KEY} "
            "in the stack file (see docs/reference.md)",
        )])
    try:
        installation = Installation.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_problems_from_pydantic(error)) from None
    problems = _cross_field_problems(installation)
    if problems:
        raise ConfigError(problems)
    return installation


def _cross_field_problems(inst: Installation) -> list[Problem]:
    """Rules that relate several settings; run only on an otherwise valid model."""
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(f"{ROOT}.{path}", message))

    if inst.regions.primary == inst.regions.secondary:
        add("regions.secondary", (
            f'"{inst.regions.secondary}" is the same region as regions.primary; backups need a '
            "second region so that one region's outage cannot take both copies"
        ))

    prices = inst.contract.prices
    if inst.hosting == "on-premise":
        for field, code in (("on_premise_monthly", "9.04"), ("on_premise_setup", "6.21")):
            if getattr(prices, field) is None:
                add(f"contract.prices.{field}", (
                    f"is required for an on-premise installation (fee {code}); "
                    "take it from the customer's contract"
                ))
    else:
        for field, code in (("on_premise_monthly", "9.04"), ("on_premise_setup", "6.21")):
            if getattr(prices, field) is not None:
                add(f"contract.prices.{field}", (
                    f"fee {code} applies only to on-premise installations; remove it or set hosting"
                ))
    problems += _contract_problems(inst)
    longest = MAX_ID_LENGTH[inst.hosting]
    if len(inst.id) > longest:
        add("id", (
            f'"{inst.id}" has {len(inst.id)} characters; a {inst.hosting} installation\'s id may have '
            f"{longest}, so that every AWS name made from it fits ({ID_LIMITED_BY[inst.hosting]}). "
            "Choose a shorter id"
        ))
    if not re.fullmatch(r"[A-Z]{3}", inst.contract.currency):
        add("contract.currency", f'"{inst.contract.currency}" is not an ISO 4217 code such as "EUR"')

    problems += _backup_problems(inst)

    for section, hosting in (("cloud", "cloud"), ("on_premise", "on-premise")):
        present = getattr(inst, section) is not None
        if inst.hosting == hosting and not present:
            add(section, f"is required when hosting is {hosting!r}; see docs/reference.md")
        if inst.hosting != hosting and present:
            add(section, f"applies only when hosting is {hosting!r}; remove it or change hosting")

    if inst.cloud is not None:
        lock = inst.cloud.vault_lock_days
        if lock is not None and lock > inst.cloud.backup_retention_days:
            add("cloud.vault_lock_days", (
                f"{lock} days is longer than cloud.backup_retention_days "
                f"({inst.cloud.backup_retention_days}); recovery points could never expire. "
                "Lock for at most the retention"
            ))
        ports = inst.cloud.rtp_ports
        if ports.first > ports.last:
            add("cloud.rtp_ports.last", f"{ports.last} is below rtp_ports.first ({ports.first})")
        scratch = inst.cloud.restore_drill.scratch_dir.rstrip("/") or "/"
        if scratch == names.CLOUD_DATA_ROOT or scratch.startswith(names.CLOUD_DATA_ROOT + "/") \
                or names.CLOUD_DATA_ROOT.startswith(scratch + "/") or scratch == "/":
            add("cloud.restore_drill.scratch_dir", (
                f'"{inst.cloud.restore_drill.scratch_dir}" holds or is on the data volumes ({names.CLOUD_DATA_ROOT}), '
                "which are backed up; choose a directory of its own elsewhere, e.g. /var/tmp/daktela-drill"))
        if inst.cloud.volumes_gb.attachments < inst.contract.included_storage_gb:
            add("cloud.volumes_gb.attachments", (
                f"{inst.cloud.volumes_gb.attachments} GB is less than the included storage "
                f"({inst.contract.included_storage_gb} GB); make it at least that"
            ))

    if inst.on_premise is not None:
        problems += _on_premise_problems(inst.on_premise)
    return problems


def _contract_problems(inst: Installation) -> list[Problem]:
    """Dates of the contract and its price changes: one order, inside the contract."""
    problems: list[Problem] = []
    contract = inst.contract
    if contract.end_date is not None and contract.end_date < contract.start_date:
        problems.append(Problem(f"{ROOT}.contract.end_date", (
            f"{contract.end_date} is before contract.start_date ({contract.start_date}); the last "
            "day billed cannot come before the first")))
    previous = contract.start_date
    for index, change in enumerate(contract.price_changes):
        path = f"{ROOT}.contract.price_changes[{index}]"
        day = change.effective_from
        if day <= previous:
            after = "contract.start_date" if index == 0 else f"price_changes[{index - 1}]"
            problems.append(Problem(f"{path}.effective_from", (
                f"{day} is not after {after} ({previous}); list price changes in date order, each on "
                "a later day")))
        if contract.end_date is not None and day > contract.end_date:
            problems.append(Problem(f"{path}.effective_from", (
                f"{day} is after contract.end_date ({contract.end_date}); nothing is billed then")))
        if all(value is None for value in change.prices.model_dump().values()):
            problems.append(Problem(f"{path}.prices", "names no price; give the prices that change"))
        if inst.hosting != "on-premise" and change.prices.on_premise_monthly is not None:
            problems.append(Problem(f"{path}.prices.on_premise_monthly", (
                "fee 9.04 applies only to on-premise installations; remove it")))
        previous = max(previous, day)
    return problems


def _backup_problems(inst: Installation) -> list[Problem]:
    problems: list[Problem] = []
    times = inst.backup_times
    path = f"{ROOT}.backup.times"
    minutes = [t.hour * 60 + t.minute for t in times]
    if inst.hosting == "cloud":
        if len(times) != 3:
            problems.append(Problem(path, (
                f"has {len(times)} time(s); a cloud installation is backed up three times a day, "
                f"one time per technology ({', '.join(TECHNOLOGIES)})"
            )))
        if inst.backup.timezone != "UTC":
            problems.append(Problem(f"{ROOT}.backup.timezone", (
                f'"{inst.backup.timezone}" is not allowed for cloud installations; '
                "AWS schedules run on UTC, so write the times in UTC"
            )))
    elif len(times) < 2:
        problems.append(Problem(path, (
            f"has {len(times)} time(s); the operational drive is backed up at least twice a day"
        )))
    for index, minute in enumerate(minutes):
        for earlier in range(index):
            gap = abs(minute - minutes[earlier])
            gap = min(gap, 24 * 60 - gap)
            minimum = MIN_MINUTES_BETWEEN_BACKUPS[inst.hosting]
            if gap < minimum:
                same = "is the same time as" if gap == 0 else f"is only {gap} minutes from"
                problems.append(Problem(f"{path}[{index}]", (
                    f'"{times[index]:%H:%M}" {same} times[{earlier}]; backups must run at '
                    f"different times, at least {minimum} minutes apart"
                )))
    return problems


_SYSTEM_DIRECTORIES = {
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
}


def _on_premise_problems(onprem: OnPremSettings) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(f"{ROOT}.on_premise.{path}", message))

    host = onprem.host
    if host.host_key_fingerprint is None and host.known_hosts_file is None:
        add("host.host_key_fingerprint", (
            "is required (or host.known_hosts_file): the host key must be verified before any "
            "command runs; get it with ssh-keyscan HOST | ssh-keygen -lf -"
        ))

    drives = onprem.drives
    for role in ("operational", "archive"):
        drive: Drive = getattr(drives, role)
        if drive.allow_wipe is not None and drive.allow_wipe != drive.identity:
            add(f"drives.{role}.allow_wipe", (
                f'"{drive.allow_wipe}" does not match drives.{role}.identity ("{drive.identity}"); '
                "consent to erase a drive must repeat its exact identity"
            ))
        mount_point = drives.mount_point(role)
        if mount_point in _SYSTEM_DIRECTORIES:
            add(f"drives.{role}.mount_point", (
                f'"{mount_point}" is a system directory; mount the drive below it, e.g. /srv/daktela'
            ))
    scratch = onprem.restore_drill.scratch_dir.rstrip("/") or "/"
    for role in ("operational", "archive"):
        mount_point = drives.mount_point(role)
        if mount_point in _SYSTEM_DIRECTORIES:
            continue  # reported above; scratch space below it is not the question yet
        if scratch == mount_point or scratch.startswith(mount_point.rstrip("/") + "/"):
            add("restore_drill.scratch_dir", (
                f'"{onprem.restore_drill.scratch_dir}" is on the {role} drive ({mount_point}); '
                + ("a drill's scratch data there would be backed up" if role == "operational"
                   else "the archive drive is the customer's archive, not scratch space")
                + "; choose a directory elsewhere, e.g. /var/tmp/daktela-drill"))
    if drives.operational.identity == drives.archive.identity:
        add("drives.archive.identity", (
            f'"{drives.archive.identity}" is the operational drive too; the archive needs a drive '
            "of its own"
        ))
    operational, archive = drives.mount_point("operational"), drives.mount_point("archive")
    if operational == archive or archive.startswith(operational + "/") or operational.startswith(archive + "/"):
        add("drives.archive.mount_point", (
            f'"{archive}" overlaps the operational mount point "{operational}"; '
            "give each drive its own directory, neither inside the other"
        ))
    return problems


def _problems_from_pydantic(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        path = ROOT + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
        problems.append(Problem(path, _message(dict(item), loc)))
    return problems


def _message(item: dict, loc: tuple) -> str:
    kind, given = item["type"], item.get("input")
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if kind == "missing":
        return f"is required: {_describe(loc) or 'see docs/reference.md'}"
    if kind == "extra_forbidden" and loc[-2:] == ("prices", "on_premise_setup") and "price_changes" in loc:
        return ("6.21 is a one-off fee, billed once in the month the contract starts; it has no later "
                "price. Remove it from the price change")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"is not a known setting; {hint}"
    if kind == "literal_error":
        return f"{given!r} is not one of {item['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{given!r} is not valid here: {_describe(loc)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of settings, got {given!r}"
    if kind == "too_short":
        count = item["ctx"]["min_length"]
        return f"needs at least {count} entr{'y' if count == 1 else 'ies'}: {_describe(loc)}"
    text = item["msg"].replace("Input should be", "must be")
    description = _describe(loc)
    return f"{text}, got {given!r}" + (f" ({description})" if description else "")


def _field_at(loc: tuple):
    """The pydantic FieldInfo a location points to, walking from Installation."""
    model: Any = Installation
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return field


def _inner_model(annotation: Any) -> Any:
    while get_origin(annotation) in (Union, list, Annotated) or str(get_origin(annotation)) == "typing.Union":
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def _describe(loc: tuple) -> str:
    field = _field_at(loc)
    return field.description if field is not None and field.description else ""


def _known_keys(loc: tuple) -> list[str]:
    model = Installation if not loc else _inner_model(getattr(_field_at(loc), "annotation", None))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


# --------------------------------------------------------------------------------------------
# Reading a stack's config through the Pulumi SDK


@dataclass(frozen=True)
class StackConfig:
    """What the program builds from: the validated installation and its secrets (Outputs)."""

    installation: Installation
    secrets: dict[str, Any]  # SecretKey.key -> pulumi.Output[str], always secret


def installation_value(text: Optional[str]) -> Any:
    """`daktela:installation` as the SDK hands it over (an object arrives as JSON text)."""
    import json

    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text


def _all_config_keys() -> list[str]:
    """Every config key the engine handed the program (the SDK keeps them in a context variable,
    or the process environment)."""
    from pulumi.runtime import config as runtime_config

    return sorted({*runtime_config.get_config_env(), *runtime_config.CONFIG.get()})


def unknown_key_problems(keys: Iterable[str]) -> list[Problem]:
    """Keys of this project's namespace that the toolkit does not read, and keys whose namespace
    looks like a typo of it: each named, with the key it probably meant."""
    known = [f"{CONFIG_NAMESPACE}:{INSTALLATION_KEY}", *(s.full_key for s in SECRET_KEYS)]
    problems = []
    for key in keys:
        namespace, _, name = key.partition(":")
        near_namespace = namespace != CONFIG_NAMESPACE and difflib.SequenceMatcher(
            None, namespace, CONFIG_NAMESPACE).ratio() >= 0.75
        if key in known or (namespace != CONFIG_NAMESPACE and not near_namespace):
            continue
        meant = difflib.get_close_matches(f"{CONFIG_NAMESPACE}:{name}", known, n=1, cutoff=0.6)
        hint = f'did you mean "{meant[0]}"? ' if meant else ""
        what = (f'namespace "{namespace}" is not "{CONFIG_NAMESPACE}"' if near_namespace
                else "is not a key the toolkit reads")
        problems.append(Problem(key, f"{what}; {hint}known keys: {', '.join(known)}"))
    return problems


def load_stack_config() -> StackConfig:
    """Read `daktela:installation` and the secret keys; raise ConfigError listing every problem.

    Registers no resource, so a bad stack stops before anything is planned.
    """

    import pulumi
    from pulumi.runtime.config import get_config, is_config_secret

    config = pulumi.Config(CONFIG_NAMESPACE)
    problems: list[Problem] = unknown_key_problems(_all_config_keys())
    raw_text = config.get(INSTALLATION_KEY)
    raw = installation_value(raw_text)
    installation: Optional[Installation] = None
    try:
        installation = parse_installation(raw)
    except ConfigError as error:
        problems += error.problems

    secrets: dict[str, Any] = {}
    # Secrets are checked even when the plain part is invalid, so one run lists every problem.
    hosting = installation.hosting if installation else (raw.get("hosting") if isinstance(raw, dict) else None)
    for secret in SECRET_KEYS:
        if hosting not in secret.hostings:
            continue
        if get_config(secret.full_key) is None:
            problems.append(Problem(secret.full_key, (
                f"is required for {hosting} installations ({secret.meaning}); set it with: "
                f"{secret.how_to_set}"
            )))
        elif not is_config_secret(secret.full_key):
            problems.append(Problem(secret.full_key, (
                f"is stored in plain text; remove it from the stack file and set it as a secret: "
                f"{secret.how_to_set}"
            )))
        else:
            secrets[secret.key] = config.require_secret(secret.key)
    if problems or installation is None:
        raise ConfigError(problems)
    return StackConfig(installation=installation, secrets=secrets)


# --------------------------------------------------------------------------------------------
# The config reference (docs/reference.md) is generated from this model, so it cannot drift from it.


_TYPE_NAMES = {
    _time_of_day: "HH:MM", _aws_region: "AWS region", _price: "price", _email: "e-mail",
    _timezone: "time zone", _cidr: "CIDR", _drive_identity: "drive identity",
    _host_address: "host or IP", _fingerprint: "SHA256 fingerprint", _absolute_path: "absolute path",
}


def _type_name(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    for item in metadata:
        if getattr(item, "func", None) in _TYPE_NAMES:
            return _TYPE_NAMES[item.func]
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _type_name(base, extra)
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is Union:
        return _type_name([a for a in get_args(annotation) if a is not type(None)][0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if annotation is date:
        return "YYYY-MM-DD"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, getattr(annotation, "__name__", "?"))


def _default_text(name: str, info: Any) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value}`" if value != [] else "`[]`"
    if info.default is None:
        return "(see meaning)" if name in ("times", "mount_point") else "none"
    return f"`{info.default}`"


def config_reference() -> str:
    """Markdown table of every key of `daktela:installation`, then the secret keys."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}.{name}"
            meaning = (info.description or "").replace("<", "&lt;").replace(">", "&gt;")
            rows.append(f"| `{path}` | {_type_name(info.annotation, info.metadata)} "
                        f"| {_default_text(name, info)} | {meaning} |")
            inner = _inner_model(info.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                walk(inner, path)

    walk(Installation, ROOT)
    rows += ["", "| secret key | hostings | meaning | set it with |", "|---|---|---|---|"]
    for secret in SECRET_KEYS:
        rows.append(f"| `{secret.full_key}` | {', '.join(secret.hostings)} | {secret.meaning} "
                    f"| `{secret.how_to_set}` |")
    return "\n".join(rows) + "\n"

"""The on-premise backup and archival jobs: the files the toolkit installs on the host.

- `daktela-backup` (timer, twice a day or more): database dump onto the operational drive, then
  restic of the operational drive, recordings excluded, into location 1 and right after into
  location 2; status per location locally and in the cloud.
- `daktela-backup-check` (daily): one part of each location's repository read back and verified, so
  that every pack is read within `backup.verify_cycle_days` (templates/daktela-verify.py).
- `daktela-archive` (daily): moves attachments and recordings older than `archive_after_days` to
  the archive drive without any chance of loss.
- `daktela-restore-drill` (weekly): each location's newest snapshot restored into scratch space,
  verified (restic check, every file, the dump loaded into a throwaway database server) and timed.
Every restic command runs through `daktela-watchdog` (deadlines, the cause in one line).
- `daktela-storage-meter` (every 6 hours): the GB of comments and email attachments on both drives,
  into both locations, from where the installation's checker publishes it for billing.
The archive drive, call recordings and the virtualisation level are never backed up.
Secrets live only in /etc/daktela-toolkit/backup.env (0600, root), written at apply time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional

from components import names
from components.schedule import REPORT_GRACE_SECONDS, check_start
from components.templates import TEMPLATES, render, timer_job_units, verify_program, watchdog_program

if TYPE_CHECKING:
    from components.config import OnPremConfig
    from components.host.layout import DesiredLayout

ENV_FILE = "/etc/daktela-toolkit/backup.env"
ARCHIVE_CONFIG = "/etc/daktela-toolkit/archive.json"
JOB_FILE = "/etc/daktela-toolkit/backup-job.json"
DUMP_RELATIVE = "database-dumps/daktela.sql.gz"
ARCHIVE_CALENDAR = "*-*-* 03:30:00"
# restic is stopped this long before the window ends, so that the results are still recorded
# (four uploads of at most 30 s each) before systemd ends the run.
RECORD_MARGIN_SECONDS = 180
SHARE_MAX_SECONDS = 30
ARCHIVE_LOCK = "/run/daktela-archive.lock"  # held by the archival; the meter waits for it
METER_LOCK_WAIT_SECONDS = 3 * 3600
STATUS_DIR = "/var/lib/daktela-backup"
TIMERS = ("daktela-backup.timer", "daktela-backup-check.timer", "daktela-archive.timer",
          "daktela-storage-meter.timer", "daktela-restore-drill.timer")


@dataclass(frozen=True)
class ManagedFile:
    path: str
    mode: int
    content: str
    secret: bool = False  # never shown, never part of a digest that travels in plain inputs

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class BackupLocation:
    region: str
    bucket: str
    endpoint: str = ""  # S3 endpoint; empty means AWS in `region` (tests use a loopback server)

    @property
    def base_url(self) -> str:
        return self.endpoint.rstrip("/") or f"https://s3.{self.region}.amazonaws.com"

    def repository(self, installation_id: str) -> str:
        return f"s3:{self.base_url}/{self.bucket}/{names.repository_prefix(installation_id).rstrip('/')}"

    def object_url(self, key: str) -> str:
        return f"{self.base_url}/{self.bucket}/{key}"


@dataclass(frozen=True)
class BackupJob:
    installation_id: str
    operational_mount: str
    archive_mount: str
    archive_filesystem_uuid: str
    times: tuple[str, ...]  # HH:MM in `timezone`
    timezone: str
    window_minutes: int
    archive_after_days: int
    database_engine: str
    database_name: str
    database_user: str
    locations: tuple[BackupLocation, ...]
    drill_weekday: str = "Sat"  # config on_premise.restore_drill (defaults: state written before it)
    drill_time: str = "04:00"
    drill_scratch: str = "/var/tmp/daktela-drill"
    silence_seconds: int = 180  # backup.silence_minutes
    second_location_after_seconds: int = 900  # on_premise.second_location_after_minutes
    verify_cycle_days: int = 30  # backup.verify_cycle_days

    @property
    def window_seconds(self) -> int:
        return self.window_minutes * 60

    @property
    def record_margin_seconds(self) -> int:
        return min(RECORD_MARGIN_SECONDS, self.window_seconds // 4)

    @property
    def share_max_seconds(self) -> int:
        """How long one result upload may take (a few hundred bytes: longer is a location not answering)."""
        return min(SHARE_MAX_SECONDS, max(5, self.silence_seconds // 2))

    @property
    def dump_file(self) -> str:
        return f"{self.operational_mount}/{DUMP_RELATIVE}"

    @property
    def excludes(self) -> tuple[str, ...]:
        # Recordings are never backed up, even on the operational drive.
        return (f"{self.operational_mount}/recordings",)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BackupJob":
        values = dict(data)
        values["times"] = tuple(values["times"])
        values["locations"] = tuple(BackupLocation(**l) for l in values["locations"])
        return cls(**values)


def _unit(name: str, description: str, exec_start: str, requires: list[str], calendars: list[str],
          timeout_seconds: Optional[int]) -> list[ManagedFile]:
    units = timer_job_units(name, description, exec_start, requires, calendars, timeout_seconds)
    return [ManagedFile(path, 0o644, content) for path, content in units.items()]


def job_files(job: BackupJob) -> list[ManagedFile]:
    """Every non-secret file of the jobs, rendered."""
    locations = [
        {"repository": location.repository(job.installation_id), "region": location.region,
         "endpoint": location.base_url,
         # where each location's run result goes in this location's bucket
         "status_urls": [location.object_url(names.status_key(job.installation_id, n))
                         for n in range(1, len(job.locations) + 1)]}
        for location in job.locations
    ]
    backup = render(
        "onprem/daktela-backup.sh.j2", installation_id=job.installation_id,
        operational_mount=job.operational_mount, dump_file=job.dump_file, database_engine=job.database_engine,
        database_user=job.database_user, database_name=job.database_name,
        excludes=job.excludes, locations=locations, status_dir=STATUS_DIR, watchdog=names.WATCHDOG_PROGRAM,
        silence_seconds=job.silence_seconds, second_location_after_seconds=job.second_location_after_seconds,
        window_seconds=job.window_seconds, record_margin_seconds=job.record_margin_seconds,
        report_grace_seconds=REPORT_GRACE_SECONDS, times=job.times, timezone=job.timezone,
        share_max_seconds=job.share_max_seconds,
    )
    archive_config = json.dumps({
        "operational_mount": job.operational_mount, "archive_mount": job.archive_mount,
        "archive_filesystem_uuid": job.archive_filesystem_uuid,
        "directories": ["attachments", "recordings"], "archive_after_days": job.archive_after_days,
        "lock_file": ARCHIVE_LOCK,
    }, indent=2, sort_keys=True) + "\n"
    meter = render(
        "onprem/daktela-storage-meter.sh.j2", installation_id=job.installation_id,
        mounts=[job.operational_mount, job.archive_mount],
        recent_path=f"{job.operational_mount}/attachments", archived_path=f"{job.archive_mount}/attachments",
        archive_lock=ARCHIVE_LOCK, lock_wait_seconds=METER_LOCK_WAIT_SECONDS, status_dir=STATUS_DIR,
        bytes_per_gb=names.BYTES_PER_GB, metric=names.ATTACHMENTS_METRIC,
        reading_urls=[{"region": location.region, "url": location.object_url(names.storage_key(job.installation_id))}
                      for location in job.locations], share_max_seconds=job.share_max_seconds,
    )
    drill_config = json.dumps({
        "installation_id": job.installation_id, "database_name": job.database_name,
        "database_engine": job.database_engine, "scratch_dir": job.drill_scratch, "status_dir": STATUS_DIR,
        "env_file": ENV_FILE, "watchdog": names.WATCHDOG_PROGRAM, "silence_seconds": job.silence_seconds,
        "verify_cycle_days": job.verify_cycle_days, "backup_lock": names.BACKUP_LOCK,
        "backup_times": list(job.times), "timezone": job.timezone,
        "drills": [
            {"name": f"location-{n}", "repository": location.repository(job.installation_id),
             "region": location.region, "dump_file": job.dump_file,
             "result_urls": [{"region": other.region,
                              "url": other.object_url(names.drill_key(job.installation_id, f"location-{n}"))}
                             for other in job.locations],
             "check_result_urls": [{"region": other.region,
                                    "url": other.object_url(names.check_key(job.installation_id, f"location-{n}"))}
                                   for other in job.locations]}
            for n, location in enumerate(job.locations, 1)],
    }, indent=2, sort_keys=True) + "\n"
    files = [
        # What restores and checks read to find the repositories (no secrets).
        ManagedFile(JOB_FILE, 0o644, json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n"),
        ManagedFile("/usr/local/sbin/daktela-backup", 0o755, backup),
        ManagedFile(names.WATCHDOG_PROGRAM, 0o755, watchdog_program()),
        ManagedFile(names.CHECK_PROGRAM, 0o755, verify_program()),
        ManagedFile("/usr/local/sbin/daktela-archive", 0o755, (TEMPLATES / "onprem" / "daktela-archive.py").read_text()),
        ManagedFile(ARCHIVE_CONFIG, 0o644, archive_config),
        ManagedFile("/usr/local/sbin/daktela-storage-meter", 0o755, meter),
        ManagedFile("/usr/local/sbin/daktela-share", 0o755,
                    render("onprem/daktela-share.sh.j2", installation_id=job.installation_id,
                           share_max_seconds=job.share_max_seconds)),
        ManagedFile(names.DRILL_PROGRAM, 0o755, verify_program()),
        ManagedFile(names.DRILL_CONFIG, 0o644, drill_config),
    ]
    files += _unit("daktela-backup", f"Daktela {job.installation_id}: operational drive to two cloud locations",
                   "/usr/local/sbin/daktela-backup", [job.operational_mount],
                   [f"*-*-* {t}:00 {job.timezone}" for t in job.times], job.window_minutes * 60)
    files += _unit("daktela-backup-check", f"Daktela {job.installation_id}: daily deep check of the backup repositories",
                   names.CHECK_PROGRAM, [job.operational_mount],
                   [f"*-*-* {check_start(list(job.times), job.window_minutes)}:00 {job.timezone}"], None)
    files += _unit("daktela-archive", f"Daktela {job.installation_id}: move old files to the archive drive",
                   "/usr/local/sbin/daktela-archive",
                   [job.operational_mount, job.archive_mount], [f"{ARCHIVE_CALENDAR} {job.timezone}"], None)
    files += _unit("daktela-restore-drill", f"Daktela {job.installation_id}: weekly restore drill of each location",
                   names.DRILL_PROGRAM, [job.operational_mount],
                   [f"{job.drill_weekday} *-*-* {job.drill_time}:00 {job.timezone}"], names.DRILL_MAX_HOURS * 3600)
    files += _unit("daktela-storage-meter", f"Daktela {job.installation_id}: comments and email attachments, GB",
                   "/usr/local/sbin/daktela-storage-meter", [job.operational_mount, job.archive_mount],
                   [f"{names.METER_CALENDAR} {job.timezone}"], METER_LOCK_WAIT_SECONDS + 3600)
    return files


def env_file(access_key_id: str, secret_access_key: str, restic_password: str, database_password: str) -> ManagedFile:
    """The job's secrets: root-only, never in user data, plan output or logs."""
    def quote(value: str) -> str:
        return "'" + value.replace("'", "'\\''") + "'"

    content = "".join(f"{key}={quote(value)}\n" for key, value in (
        ("AWS_ACCESS_KEY_ID", access_key_id), ("AWS_SECRET_ACCESS_KEY", secret_access_key),
        ("RESTIC_PASSWORD", restic_password), ("DAKTELA_DATABASE_PASSWORD", database_password),
    ))
    return ManagedFile(ENV_FILE, 0o600, content, secret=True)


def files_digest(files: list[ManagedFile]) -> str:
    """One digest of the non-secret files, so a template change shows in a plan's diff."""
    digest = hashlib.sha256()
    for managed in sorted(files, key=lambda f: f.path):
        if not managed.secret:
            digest.update(f"{managed.path}\0{managed.mode:o}\0{managed.sha256}\n".encode())
    return digest.hexdigest()


def job_from_config(installation: OnPremConfig, layout: DesiredLayout, bucket_names: list[str], endpoint: str = "") -> BackupJob:
    """The on-premise installation's jobs from its validated config, drive layout and the two
    location buckets (location 1 in regions.primary, location 2 in regions.secondary)."""
    settings = installation.on_premise
    regions = (installation.regions.primary, installation.regions.secondary)
    return BackupJob(
        installation_id=installation.id,
        operational_mount=layout.drive("operational").mount_point,
        archive_mount=layout.drive("archive").mount_point,
        archive_filesystem_uuid=layout.drive("archive").filesystem_uuid,
        times=tuple(f"{t:%H:%M}" for t in installation.backup_times),
        timezone=installation.backup.timezone,
        window_minutes=settings.backup_window_minutes,
        archive_after_days=settings.archive_after_days,
        database_engine=installation.database.engine,
        database_name=installation.database.name,
        database_user=installation.database.user,
        locations=tuple(BackupLocation(region, bucket, endpoint) for region, bucket in zip(regions, bucket_names)),
        drill_weekday=settings.restore_drill.weekday,
        drill_time=f"{settings.restore_drill.time:%H:%M}",
        drill_scratch=settings.restore_drill.scratch_dir,
        silence_seconds=installation.backup.silence_minutes * 60,
        second_location_after_seconds=settings.second_location_after_minutes * 60,
        verify_cycle_days=installation.backup.verify_cycle_days,
    )


def job_from_outputs(installation: OnPremConfig, layout: DesiredLayout, outputs: dict, endpoint: str = "") -> tuple[BackupJob, str, str]:
    """The jobs and the key from a stack's outputs (`pulumi stack output --json --show-secrets`):
    what the connectivity check needs. Raises KeyError when the outputs lack them, ValueError when
    their locations are in other regions than the installation's."""
    buckets = [location["bucket"] for location in outputs["backup_locations"]]
    regions = [location.get("region") for location in outputs["backup_locations"]]
    wanted = [installation.regions.primary, installation.regions.secondary]
    if any(regions) and regions != wanted:  # a probe elsewhere measures another path, and signs for the wrong region
        raise ValueError(f"the outputs' locations are in {', '.join(map(str, regions))}, installation "
                         f"{installation.id}'s in {', '.join(wanted)}: give the outputs of a stack whose two "
                         "locations are in the same regions, in the same order")
    credentials = outputs["backup_credentials"]
    return (job_from_config(installation, layout, buckets, endpoint),
            credentials["access_key_id"], credentials["secret_access_key"])

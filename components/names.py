"""One home for every name the backups share: S3 key layout, technologies, locations, metrics.

IAM policies, the jobs on hosts and instances, the connectivity probe, the freshness checker and
the guardrails all take their names from here, so a policy and the job it allows cannot drift apart.
No imports from this repository: the freshness checker's Lambda ships this file beside itself.
"""

from __future__ import annotations

# Technologies of a cloud installation, in the order of config `backup.times`.
BLOCK, DATABASE, FILES = "block-level", "database-dump", "file-level"
TECHNOLOGIES = (BLOCK, DATABASE, FILES)
BLOCK_COPY = "block-level-copy"  # the block-level recovery points copied to the second region

# Where a cloud instance mounts its data volumes (one directory per data class).
CLOUD_DATA_ROOT = "/srv/daktela"

# On-premise backup locations: location 1 in regions.primary, location 2 in regions.secondary.
LOCATIONS = ("location-1", "location-2")

# Metrics (namespace per installation, so each role can be scoped to its own).
AGE_METRIC = "BackupAgeHours"
FAILED_METRIC = "BackupLastRunFailed"
ATTACHMENTS_METRIC = "AttachmentsUsedGB"
DRILL_AGE_METRIC = "RestoreDrillAgeHours"  # hours since the location's last successful restore drill
DRILL_FAILED_METRIC = "RestoreDrillFailed"
# hours since the part of a restic repository read back longest ago was last read (each part is read
# once per backup.verify_cycle_days when the daily checks succeed)
CHECK_AGE_METRIC = "RepositoryCheckAgeHours"
CHECK_FAILED_METRIC = "RepositoryCheckFailed"  # the last check failed, or damage found is not repaired


def drill_of(location: str) -> str:
    """The restore drill's name in status tables, metrics and alarms: drill-location-1."""
    return f"drill-{location}"


def check_of(repository: str) -> str:
    """The deep check's name in status tables, metrics and alarms: check-location-1, check-file-level."""
    return f"check-{repository}"

DUMP_SUFFIX = ".sql.gz"
DUMP_COMMANDS = {"mariadb": "mariadb-dump", "mysql": "mysqldump"}  # the dump tool per database engine

# The restore drill and the deep check on hosts and instances: one program (templates/daktela-verify.py)
# under two names, their config file, and how long a drill may take.
DRILL_PROGRAM = "/usr/local/sbin/daktela-restore-drill"
CHECK_PROGRAM = "/usr/local/sbin/daktela-backup-check"
DRILL_CONFIG = "/etc/daktela-toolkit/drill.json"
DRILL_MAX_HOURS = 12
# The runner of every restic command of the jobs, with deadlines and the cause line (templates/daktela-watchdog.py).
WATCHDOG_PROGRAM = "/usr/local/sbin/daktela-watchdog"
# Locks: a backup run, and the drill and the check of the same repositories (restic check locks a
# repository exclusively, so it waits for the other two and they never meet it).
BACKUP_LOCK = "/run/daktela-backup.lock"  # on-premise: daktela-backup
CLOUD_RESTIC_LOCK = "/run/daktela-restic.lock"  # cloud: daktela-restic-backup
VERIFY_LOCK = "/run/daktela-verify.lock"

# Both storage meters (cloud instance, on-premise host) read every 6 hours, at 45 past, away from
# the backups' full hours; billing takes each day's largest reading (components/billing.py).
METER_CALENDAR = "*-*-* 00/6:45:00"

# A catalogue GB is 10^9 bytes: the catalogue says GB, the SI unit, and the billing team can
# read it off any invoice; 2^30 (GiB) would let 7.4 % more through before billing starts.
BYTES_PER_GB = 1_000_000_000


def metrics_namespace(installation_id: str) -> str:
    return f"Daktela/{installation_id}"


def dump_prefix(installation_id: str) -> str:
    """Cloud database dumps: `<prefix><UTC stamp>.sql.gz`, present only once complete."""
    return f"dumps/{installation_id}/"


def repository_prefix(installation_id: str) -> str:
    """A restic repository (cloud file-level, and each on-premise location)."""
    return f"restic/{installation_id}/"


def snapshots_prefix(installation_id: str) -> str:
    return f"{repository_prefix(installation_id)}snapshots/"


def locks_prefix(installation_id: str) -> str:
    return f"{repository_prefix(installation_id)}locks/"


def status_prefix(installation_id: str) -> str:
    """On-premise run results, one object per location, written into every reachable location."""
    return f"status/{installation_id}/"


def status_key(installation_id: str, location_number: int) -> str:
    return f"{status_prefix(installation_id)}location-{location_number}.json"


def drill_key(installation_id: str, drill: str) -> str:
    """Restore drill results, one object per drill (on-premise: location-1, location-2, written into
    every location; cloud: database-dump, file-level, in the dumps bucket)."""
    return f"{status_prefix(installation_id)}drill-{drill}.json"


def run_key(installation_id: str, technology: str) -> str:
    """A cloud instance's backup runs (database-dump, file-level): the last run's result, in the
    dumps bucket, so that a failed run alarms at once and one that does not report when due too."""
    return f"{status_prefix(installation_id)}run-{technology}.json"


def retention_key(installation_id: str, repository: str) -> str:
    """The weekly prune's result per repository (its size after each prune: the trend), beside it."""
    return f"{status_prefix(installation_id)}retention-{repository}.json"


def check_key(installation_id: str, repository: str) -> str:
    """Deep check results, one object per repository (on-premise: location-1, location-2, written into
    every location; cloud: file-level, in the dumps bucket)."""
    return f"{status_prefix(installation_id)}check-{repository}.json"


def toolkit_prefix(installation_id: str) -> str:
    """The cloud instance's job files (scripts, units, configs; no secrets), in the dumps bucket."""
    return f"toolkit/{installation_id}/"


def job_files_key(installation_id: str, digest: str) -> str:
    """Named by the SHA-256 of its content: a new version is a new object, so an instance converging
    from the previous parameter still finds the files it names."""
    return f"{toolkit_prefix(installation_id)}job-files-{digest}.json"


def storage_key(installation_id: str) -> str:
    """On-premise storage readings (comments and email attachments), written into every location."""
    return f"{status_prefix(installation_id)}storage.json"


def connectivity_records_prefix(installation_id: str) -> str:
    """Each connectivity check's result (scripts/check_connectivity.py), one object per check, named
    by its UTC time so that a month's are one listing; written into every location it can reach."""
    return f"{status_prefix(installation_id)}connectivity/"


def connectivity_record_key(installation_id: str, checked: str) -> str:
    """`checked` is the check's UTC time as YYYY-MM-DDTHH:MM:SSZ (colons become dashes in the key)."""
    return f"{connectivity_records_prefix(installation_id)}{checked.replace(':', '-')}.json"


def connectivity_prefix(installation_id: str) -> str:
    """The connectivity probe's aborted multipart uploads (nothing stays)."""
    return f"connectivity/{installation_id}/"


def probe_key(installation_id: str) -> str:
    return f"{connectivity_prefix(installation_id)}probe"

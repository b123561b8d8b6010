"""Backup freshness: how old each protected thing's newest backup is, and whether it keeps the promise.

The catalogue promises that each technology's newest backup is at most 24 h old plus a reserve for
its runtime. This module finds the newest backup per target and, within a target, per protected
resource: every data volume's newest completed recovery point in the vault (and in the copy vault),
the newest finished database dump object, the newest restic snapshot of each repository. A target
is as old as its oldest resource, so one volume failing every night is not hidden by the others.
An on-premise location whose last run failed is "failed" at once, whatever the age says, and so is
one whose run has not reported by the time its host promised (`next_due`: the host is down, reaches
neither location, or its clock is off). A repository whose drill or deep check found damage stays
"failed" until a repair is recorded, however fresh its newest snapshot (`last_damage`,
`last_repair` in the results). Deep checks (kind "check") are as old as the part of the repository
read back longest ago.
Unknown is failure: whatever cannot be read (denied, undecryptable, unreachable, not JSON) makes the
target "unknown" with the cause, published as a failed run; a result object that does not exist is
told from one that cannot be read by listing its key first (S3 answers 403, not 404, for a missing
key to a caller who may not list it).
It publishes the age and the last-run result as metrics and formats a table for people.

One implementation for both users: the Lambda function the cloud installation deploys (`handler`)
and `scripts/backup_status.py`. It needs only boto3 (the Lambda runtime has it) and
components/names.py, which the Lambda ships beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from components.names import (AGE_METRIC, ATTACHMENTS_METRIC, BLOCK, CHECK_AGE_METRIC, CHECK_FAILED_METRIC, DATABASE,
                              DRILL_AGE_METRIC, DRILL_FAILED_METRIC, FAILED_METRIC, FILES, TECHNOLOGIES)

__all__ = ["AGE_METRIC", "BLOCK", "DATABASE", "FAILED_METRIC", "FILES", "TECHNOLOGIES"]
TARGETS_VARIABLE = "DAKTELA_FRESHNESS_TARGETS"


@dataclass(frozen=True)
class Target:
    """Where one technology's backups are."""

    technology: str
    region: str
    vault: Optional[str] = None  # AWS Backup vault name (block-level)
    bucket: Optional[str] = None  # S3 bucket (dumps, restic)
    prefix: str = ""
    suffix: str = ""  # only keys ending so count (".sql.gz": finished dumps)
    resources: tuple[str, ...] = ()  # vaults: each of these resources (ARNs) needs its own recovery point
    status_sources: tuple[tuple[str, str, str], ...] = ()  # (region, bucket, key) of last-run results
    kind: str = "backup"  # "drill": a restore drill, as old as its last success (from its result);
    #                       "restore-test": AWS Backup restore testing of `restore_testing_plan`;
    #                       "check": the deep check, as old as the part of the repository read longest ago
    limit_hours: Optional[float] = None  # a limit of its own (drills, checks); default the watch's
    restore_testing_plan: Optional[str] = None  # ARN (kind "restore-test")
    # (region, bucket, key) of the drill and check results of the same repository: damage they found
    # and no repair recorded since fails the target
    damage_sources: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Target":
        values = dict(data)
        values["resources"] = tuple(values.get("resources", ()))
        for sources in ("status_sources", "damage_sources"):
            values[sources] = tuple(tuple(s) for s in values.get(sources, ()))
        return cls(**values)


@dataclass(frozen=True)
class Finding:
    technology: str
    newest: Optional[datetime]
    age_hours: Optional[float]
    limit_hours: float
    error: Optional[str] = None
    failed: Optional[str] = None  # the last run failed (on-premise locations): why
    detail: Optional[str] = None  # which resource is the oldest or has no backup
    first_pending: str = ""  # a drill or check that has never run ("drill", "check"), dated by the first backup

    @property
    def status(self) -> str:
        if self.error:
            return "unknown"
        if self.failed:
            return "failed"
        if self.newest is None:
            return "missing"
        if self.age_hours is not None and self.age_hours <= self.limit_hours:
            return f"first {self.first_pending} due" if self.first_pending else "fresh"
        return "stale"

    @property
    def ok(self) -> bool:
        return self.status in ("fresh", "first drill due")


@dataclass(frozen=True)
class Watch:
    """Everything the check needs for one installation (the stack output `freshness_targets`)."""

    installation_id: str
    namespace: str
    metrics_region: str
    limit_hours: float
    targets: tuple[Target, ...]
    # (region, bucket, key) of the on-premise storage readings; the checker publishes the newest
    meter_sources: tuple[tuple[str, str, str], ...] = ()

    @property
    def location_buckets(self) -> tuple[tuple[str, str], ...]:
        """(region, bucket) of each on-premise backup location (the storage readings are written
        into every location); none for a cloud installation."""
        return tuple((region, bucket) for region, bucket, _ in self.meter_sources)

    @classmethod
    def from_document(cls, document: Any) -> "Watch":
        """The watch from the freshness_targets output (its JSON text or object), or from a stack's
        outputs, export or state file that hold it (components/stack_outputs.py)."""
        if isinstance(document, dict) and "targets" not in document:
            from components.stack_outputs import outputs_of, require

            document = require(outputs_of(document), "freshness_targets")
        return cls.from_json(document if isinstance(document, str) else json.dumps(document))

    @classmethod
    def from_json(cls, text: str) -> "Watch":
        data = json.loads(text)
        return cls(
            installation_id=data["installation_id"],
            namespace=data["namespace"],
            metrics_region=data["metrics_region"],
            limit_hours=float(data["limit_hours"]),
            targets=tuple(Target.from_dict(t) for t in data["targets"]),
            meter_sources=tuple(tuple(s) for s in data.get("meter_sources", ())),  # type: ignore[misc]
        )

    def to_json(self) -> str:
        document = {
            "installation_id": self.installation_id,
            "namespace": self.namespace,
            "metrics_region": self.metrics_region,
            "limit_hours": self.limit_hours,
            # a target's settings at their defaults are left out (stable and short: the Lambda's
            # environment has 4 KB)
            "targets": [{k: list(v) if isinstance(v, tuple) else v for k, v in t.__dict__.items()
                         if v != _TARGET_DEFAULTS[k]}
                        for t in self.targets],
        }
        if self.meter_sources:
            document["meter_sources"] = [list(s) for s in self.meter_sources]
        return json.dumps(document, sort_keys=True)


_TARGET_DEFAULTS = {name: field.default for name, field in Target.__dataclass_fields__.items()}
ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


class Unreadable(Exception):
    """A result or listing the checker needs but cannot read: denied, undecryptable, not JSON."""


def _recovery_points(target: Target, client_for: ClientFactory) -> dict[str, datetime]:
    """The newest completed recovery point of each resource in the target's vault."""
    newest: dict[str, datetime] = {}
    backup = client_for("backup", target.region)
    for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=target.vault):
        for point in page.get("RecoveryPoints", []):
            if point.get("Status") == "COMPLETED":
                resource, created = point.get("ResourceArn", ""), point["CreationDate"]
                if resource not in newest or created > newest[resource]:
                    newest[resource] = created
    return newest


def newest_backup(target: Target, client_for: ClientFactory) -> tuple[Optional[datetime], Optional[str]]:
    """(the creation time of the newest complete backup of `target`, a detail for people). For a
    vault with `resources`, the oldest of those resources' newest recovery points: a resource
    without any makes the whole target missing."""
    if target.vault:
        points = _recovery_points(target, client_for)
        if not target.resources:
            return (max(points.values()) if points else None), None
        lacking = [r for r in target.resources if r not in points]
        if lacking:
            return None, "no recovery point of " + ", ".join(r.rsplit("/", 1)[-1] for r in lacking)
        oldest = min(target.resources, key=lambda r: points[r])
        return points[oldest], f"oldest: {oldest.rsplit('/', 1)[-1]}"
    return max(_object_times(target, client_for), default=None), None


def _object_times(target: Target, client_for: ClientFactory) -> list[datetime]:
    """When each of the target's objects (under its prefix, with its suffix) was written."""
    s3 = client_for("s3", target.region)
    return [item["LastModified"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix)
            for item in page.get("Contents", []) if item["Key"].endswith(target.suffix)]


def last_run(target: Target, client_for: ClientFactory) -> Optional[dict]:
    """The newest last-run result among the target's status objects (each location's result is
    written into every location it can reach, so a location that is down still reports)."""
    return _newest_record(target.status_sources, client_for)


def _records(sources: tuple[tuple[str, str, str], ...], client_for: ClientFactory) -> list[dict]:
    """The JSON records at these (region, bucket, key) sources that exist. Each key is listed first:
    one that is not there is missing (skipped); one that is there but cannot be read (denied, its
    KMS key refused, not JSON) raises Unreadable naming the source, since S3 answers a missing key
    with 403 to a caller who may not list it and "missing" must never hide "denied"."""
    cache = client_for.records if isinstance(client_for, _ReadOnce) else None
    records = []
    for region, bucket, key in sources:
        if cache is not None and (region, bucket, key) in cache:
            records += cache[(region, bucket, key)]
            continue
        found = _record(region, bucket, key, client_for)
        if cache is not None:
            cache[(region, bucket, key)] = found
        records += found
    return records


class _ReadOnce:
    """The same clients, and the records one check run has read (each result object is read once,
    though a location's drill and check results serve its backup, drill and check targets)."""

    def __init__(self, client_for: ClientFactory):
        self.client_for = client_for
        self.records: dict[tuple[str, str, str], list[dict]] = {}

    def __call__(self, service: str, region: str) -> Any:
        return self.client_for(service, region)


def _record(region: str, bucket: str, key: str, client_for: ClientFactory) -> list[dict]:
    """The record at one source: [] when it is not there, [record] when it is; Unreadable otherwise."""
    s3 = client_for("s3", region)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == key for item in listed):
        return []
    try:
        record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ValueError as error:
        raise Unreadable(f"s3://{bucket}/{key} ({region}) is not a result: {error}") from None
    except Exception as error:  # noqa: BLE001  (botocore's ClientError and its kin)
        raise Unreadable(f"s3://{bucket}/{key} ({region}) cannot be read: {said(error)}") from None
    if not isinstance(record, dict):
        raise Unreadable(f"s3://{bucket}/{key} ({region}) is not a result: {str(record)[:80]}")
    return [record]


def said(error: Exception) -> str:
    """One line of what AWS (or the connection) said."""
    return " ".join(str(error).split()) or type(error).__name__


def _newest_record(sources: tuple[tuple[str, str, str], ...], client_for: ClientFactory) -> Optional[dict]:
    """The newest (by its "time") of the records at these sources (see `_records`)."""
    return max(_records(sources, client_for), key=lambda r: str(r.get("time", "")), default=None)


def damage(target: Target, client_for: ClientFactory) -> Optional[str]:
    """Damage a drill or check of the target's repository found, with no repair recorded since."""
    records = _records(target.damage_sources, client_for)
    found = max((r["last_damage"] for r in records if isinstance(r.get("last_damage"), dict)),
                key=lambda d: str(d.get("time", "")), default=None)
    repaired = max((str(r["last_repair"].get("time", "")) for r in records if isinstance(r.get("last_repair"), dict)),
                   default="")
    if found is None or repaired >= str(found.get("time", "")):
        return None
    return (f"repository damaged since {found.get('time')}, no repair recorded: {found.get('cause')} "
            "(docs/restore.md, Repairing a location)")


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


# An on-premise reading is published while it is at most this old (the meter reads every 6 hours;
# the checker runs every 15 minutes and may publish one reading many times: billing takes each
# day's maximum). An older one is not published, so the missing-readings alarm fires.
READING_PUBLISHED_HOURS = 7.0


def publish_storage_reading(watch: Watch, client_for: ClientFactory, now: Optional[datetime] = None) -> Optional[dict]:
    """Publish the newest on-premise storage reading as the installation's attachments metric, with
    the time it was taken. Returns the reading published, or None."""
    if not watch.meter_sources:
        return None
    now = now or datetime.now(timezone.utc)
    reading = _newest_record(watch.meter_sources, client_for)
    if reading is None:
        return None
    taken = _time(reading["time"])
    if (now - taken).total_seconds() > READING_PUBLISHED_HOURS * 3600:
        return None
    client_for("cloudwatch", watch.metrics_region).put_metric_data(Namespace=watch.namespace, MetricData=[{
        "MetricName": ATTACHMENTS_METRIC,
        "Dimensions": [{"Name": "Installation", "Value": watch.installation_id}],
        "Timestamp": taken, "Value": float(reading["gb"]), "Unit": "Gigabytes",
    }])
    return reading


def _never_run(target: Target, client_for: ClientFactory) -> tuple[Optional[datetime], str, None]:
    """A drill or check that never ran is as old as its repository's first backup, so a timer that
    never ran alarms once the backups are older than its limit (a new host is not judged before)."""
    oldest = min(_object_times(target, client_for), default=None) if target.bucket else None
    return oldest, (f"no {target.kind} since the first backup at {oldest:%Y-%m-%d %H:%M}" if oldest
                    else f"no {target.kind} has run"), None


def _drill(target: Target, client_for: ClientFactory) -> tuple[Optional[datetime], Optional[str], Optional[dict]]:
    """(the last successful drill's time, its measured times for people, the last result)."""
    run = last_run(target, client_for)
    if run is None:
        return _never_run(target, client_for)
    success = run.get("last_success")
    newest = _time(success) if success else None
    seconds = run.get("last_success_seconds") or {}
    detail = (f"restore took transfer {seconds['transfer']} s (connectivity) + {seconds['rest']} s"
              if seconds else "never succeeded")
    return newest, detail, run


def _check(target: Target, client_for: ClientFactory) -> tuple[Optional[datetime], Optional[str], Optional[dict]]:
    """(when the part of the repository read longest ago was read, a detail, the last result)."""
    run = last_run(target, client_for)
    if run is None:
        return _never_run(target, client_for)
    oldest_read = run.get("oldest_part_read")
    detail = f"last part {run.get('part', '?')} at {run.get('time', '?')}"
    return (_time(oldest_read) if oldest_read else None), detail, run


GiB = 1 << 30


def validate_restored_volume(job: dict, ec2: Any) -> tuple[str, str]:
    """(ValidationStatus, message) of a restore test's volume: it exists, is available and holds
    at least the backed-up size."""
    volume_id = str(job.get("CreatedResourceArn", "")).rsplit("/", 1)[-1]
    try:
        volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    except Exception as error:  # noqa: BLE001  (a volume that cannot be described failed the test)
        return "FAILED", f"restored volume {volume_id} cannot be described: {error}"
    if not volumes or volumes[0].get("State") != "available":
        return "FAILED", f"restored volume {volume_id} is {volumes[0].get('State') if volumes else 'missing'}"
    size = int(volumes[0].get("Size", 0)) * GiB
    if size < int(job.get("BackupSizeInBytes") or 0):
        return "FAILED", f"restored volume {volume_id} has {size} bytes, the backup {job.get('BackupSizeInBytes')}"
    return "SUCCESSFUL", f"restored volume {volume_id} is available with {size // GiB} GiB"


def _restore_tests(target: Target, client_for: ClientFactory,
                   validate: bool) -> tuple[Optional[datetime], Optional[str], Optional[dict]]:
    """(the newest restore test whose every volume restored and validated, a detail, a run-like
    result of the latest test of each volume). With `validate`, completed restores that wait for
    a validation get one, reported back to AWS Backup."""
    backup = client_for("backup", target.region)
    jobs: list[dict] = []
    for page in backup.get_paginator("list_restore_jobs").paginate(ByRestoreTestingPlanArn=target.restore_testing_plan):
        jobs += page.get("RestoreJobs", [])
    if validate:
        for job in jobs:
            if job.get("Status") == "COMPLETED" and job.get("ValidationStatus") in (None, "VALIDATING") \
                    and job.get("CreatedResourceArn"):
                status, message = validate_restored_volume(job, client_for("ec2", target.region))
                backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus=status,
                                                     ValidationStatusMessage=message)
                job.update(ValidationStatus=status, ValidationStatusMessage=message)
    if not jobs:
        return None, "no restore test has run", None
    latest: dict[str, dict] = {}
    for job in jobs:  # each volume's latest test
        source = str(job.get("SourceResourceArn", ""))
        if source not in latest or job["CreationDate"] > latest[source]["CreationDate"]:
            latest[source] = job
    successes: dict[str, datetime] = {}  # each volume's newest validated restore
    for job in jobs:
        if job.get("Status") == "COMPLETED" and job.get("ValidationStatus") == "SUCCESSFUL":
            source = str(job.get("SourceResourceArn", ""))
            successes[source] = max(successes.get(source, job["CreationDate"]), job["CreationDate"])
    lacking = [r for r in target.resources if r not in successes]
    # as old as the volume tested longest ago: one volume whose restores never work is not hidden
    newest = None if lacking or not successes else min(successes[r] for r in (target.resources or successes))
    bad = [j for j in latest.values() if j.get("Status") in ("FAILED", "ABORTED")
           or j.get("ValidationStatus") in ("FAILED", "TIMED_OUT")]
    run: dict[str, Any] = {"result": "success"}
    if bad:
        job = max(bad, key=lambda j: j["CreationDate"])
        run = {"result": "failed", "time": job["CreationDate"].isoformat(),
               "error": f"{str(job.get('SourceResourceArn', '')).rsplit('/', 1)[-1]}: "
                        f"{job.get('StatusMessage') or job.get('ValidationStatusMessage') or job.get('Status')}"}
    if lacking and successes:
        return None, "no validated restore of " + ", ".join(r.rsplit("/", 1)[-1] for r in lacking), run
    return newest, None if newest else "no restore test has validated yet", run


def check(watch: Watch, client_for: ClientFactory, now: Optional[datetime] = None,
          validate: bool = False) -> list[Finding]:
    """Each target's finding. `validate`: also validate and report back restore tests that wait
    for it (the Lambda does; a person's status query only reads)."""
    now = now or datetime.now(timezone.utc)
    client_for = _ReadOnce(client_for)
    findings = []
    for target in watch.targets:
        limit = target.limit_hours if target.limit_hours is not None else watch.limit_hours
        try:
            if target.kind == "restore-test":
                newest, detail, run = _restore_tests(target, client_for, validate)
            elif target.kind == "drill":
                newest, detail, run = _drill(target, client_for)
            elif target.kind == "check":
                newest, detail, run = _check(target, client_for)
            else:
                newest, detail = newest_backup(target, client_for)
                run = last_run(target, client_for) if target.status_sources else None
            damaged = damage(target, client_for) if target.damage_sources else None
        except Unreadable as error:  # reported as "unknown" with its cause, never hidden
            findings.append(Finding(target.technology, None, None, limit, error=str(error)))
            continue
        except Exception as error:  # noqa: BLE001
            findings.append(Finding(target.technology, None, None, limit, error=f"{type(error).__name__}: {said(error)}"))
            continue
        failed = damaged or _run_failed(target, run, now)
        age = None if newest is None else round((now - newest).total_seconds() / 3600, 2)
        pending = target.kind if target.kind in ("drill", "check") and run is None else ""
        findings.append(Finding(target.technology, newest, age, limit, failed=failed, detail=detail,
                                first_pending=pending))
    return findings


def _run_failed(target: Target, run: Optional[dict], now: datetime) -> Optional[str]:
    """Why the last run counts as failed: it failed, or (a backup run) the next one has not reported
    by the time the host said it would."""
    if run is None:
        return None
    if run.get("result") != "success":
        failure = run["failure"] if isinstance(run.get("failure"), dict) else {}
        return f"last run {run.get('time', '?')}: {run.get('error') or failure.get('cause') or run.get('result')}"
    due = run.get("next_due")
    if target.kind == "backup" and due and now > _time(due):
        return (f"silent: no run has reported since {run.get('time', '?')}; the next was due by {due} (the host is "
                "down, reaches neither location, or its clock is off)")
    return None


METRICS = {"backup": (AGE_METRIC, FAILED_METRIC), "drill": (DRILL_AGE_METRIC, DRILL_FAILED_METRIC),
           "check": (CHECK_AGE_METRIC, CHECK_FAILED_METRIC)}


def publish(watch: Watch, findings: list[Finding], client_for: ClientFactory) -> int:
    """Publish each known age, and 1/0 for a failed last run where a target reports runs (backups
    as BackupAgeHours / BackupLastRunFailed, restore drills as RestoreDrillAgeHours /
    RestoreDrillFailed, deep checks as RepositoryCheckAgeHours / RepositoryCheckFailed). Unknown is
    failure: a target that cannot be read publishes no age and a failed run. A missing backup
    publishes no age: its alarm treats missing data as breaching, exactly as it does when this
    checker itself stops running."""
    kinds = {t.technology: "drill" if t.kind == "restore-test" else t.kind for t in watch.targets}
    reports_runs = {t.technology for t in watch.targets if t.status_sources or t.kind in ("restore-test", "drill", "check")}

    def datum(finding: Finding, metrics: tuple[str, str], which: int, value: float) -> dict:
        return {
            "MetricName": metrics[which],
            "Dimensions": [
                {"Name": "Installation", "Value": watch.installation_id},
                {"Name": "Technology", "Value": finding.technology},
            ],
            "Value": value,
            "Unit": "Count",
        }

    data = []
    for finding in findings:
        metrics = METRICS[kinds.get(finding.technology, "backup")]
        if finding.age_hours is not None and not finding.error:
            data.append(datum(finding, metrics, 0, finding.age_hours))
        if finding.technology in reports_runs:
            data.append(datum(finding, metrics, 1, 1.0 if finding.failed or finding.error else 0.0))
    if data:
        client_for("cloudwatch", watch.metrics_region).put_metric_data(Namespace=watch.namespace, MetricData=data)
    return len(data)


def format_table(watch: Watch, findings: list[Finding]) -> str:
    rows = [("technology", "newest (UTC)", "age h", "limit h", "status")]
    for f in findings:
        rows.append((
            f.technology,
            f.newest.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if f.newest else "-",
            f"{f.age_hours:.1f}" if f.age_hours is not None else "-",
            f"{f.limit_hours:.0f}",
            f.status + "".join(f" ({text})" for text in (f.error, f.failed, f.detail) if text),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"Backups of {watch.installation_id}:"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    return "\n".join(lines) + "\n"


def boto3_clients(endpoint_url: Optional[str] = None, raw_timestamps: tuple[str, ...] = ()) -> ClientFactory:
    """Clients of a session of their own: its credentials are those of the environment now, not
    whatever boto3's process-wide default session resolved first. The services in `raw_timestamps`
    answer with timestamps as sent, not turned into datetimes by botocore (components/health.py)."""
    import boto3
    import botocore.session

    session = boto3.session.Session()
    raw_session = None
    cache: dict[tuple[str, str], Any] = {}

    def client_for(service: str, region: str) -> Any:
        nonlocal raw_session
        if (service, region) not in cache:
            chosen = session
            if service in raw_timestamps:
                if raw_session is None:
                    raw = botocore.session.get_session()
                    raw.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=lambda v: v)
                    raw_session = boto3.session.Session(botocore_session=raw)
                chosen = raw_session
            cache[(service, region)] = chosen.client(service, region_name=region, endpoint_url=endpoint_url)
        return cache[(service, region)]

    return client_for


def handler(event: Any, context: Any) -> dict:
    """Lambda entry point: check, publish, and return the findings (visible in the logs)."""
    watch = Watch.from_json(os.environ[TARGETS_VARIABLE])
    clients = boto3_clients()
    findings = check(watch, clients, validate=True)
    publish(watch, findings, clients)
    print(format_table(watch, findings))
    result: dict[str, Any] = {f.technology: {"status": f.status, "age_hours": f.age_hours} for f in findings}
    if watch.meter_sources:
        try:
            reading = publish_storage_reading(watch, clients)
        except Exception as error:  # noqa: BLE001  (the backups' findings are published already)
            print(f"storage reading not published: {type(error).__name__}: {error}")
            reading = None
        result["storage_reading"] = reading
        print(f"storage reading: {reading['gb']} GB at {reading['time']}" if reading
              else f"storage reading: none younger than {READING_PUBLISHED_HOURS} h")
    return result

"""Backup freshness: how old each technology's newest backup is, and whether it keeps the promise.

The catalogue promises that each technology's newest backup is at most 24 h old plus a reserve for
its runtime. This module finds the newest backup per technology (AWS Backup's newest completed
recovery point, the newest finished database dump object, the newest restic snapshot object),
computes its age, publishes it as a metric, and formats a table for people.

One implementation for both users: the Lambda function the cloud installation deploys (`handler`)
and `scripts/backup_status.py`. It needs only boto3 (the Lambda runtime has it): no other import
from this repo.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

BLOCK, DATABASE, FILES = "block-level", "database-dump", "file-level"
TECHNOLOGIES = (BLOCK, DATABASE, FILES)
AGE_METRIC = "BackupAgeHours"
TARGETS_VARIABLE = "DAKTELA_FRESHNESS_TARGETS"


@dataclass(frozen=True)
class Target:
    """Where one technology's backups are."""

    technology: str
    region: str
    vault: Optional[str] = None  # AWS Backup vault name (block-level)
    bucket: Optional[str] = None  # S3 bucket (dumps, restic)
    prefix: str = ""
    suffix: str = ""  # only keys ending so count (".sql.gz": finished dumps, not ".partial")


@dataclass(frozen=True)
class Finding:
    technology: str
    newest: Optional[datetime]
    age_hours: Optional[float]
    limit_hours: float
    error: Optional[str] = None

    @property
    def status(self) -> str:
        if self.error:
            return "unknown"
        if self.newest is None:
            return "missing"
        return "fresh" if self.age_hours is not None and self.age_hours <= self.limit_hours else "stale"

    @property
    def ok(self) -> bool:
        return self.status == "fresh"


@dataclass(frozen=True)
class Watch:
    """Everything the check needs for one installation (the stack output `freshness_targets`)."""

    installation_id: str
    namespace: str
    metrics_region: str
    limit_hours: float
    targets: tuple[Target, ...]

    @classmethod
    def from_json(cls, text: str) -> "Watch":
        data = json.loads(text)
        return cls(
            installation_id=data["installation_id"],
            namespace=data["namespace"],
            metrics_region=data["metrics_region"],
            limit_hours=float(data["limit_hours"]),
            targets=tuple(Target(**t) for t in data["targets"]),
        )

    def to_json(self) -> str:
        return json.dumps({
            "installation_id": self.installation_id,
            "namespace": self.namespace,
            "metrics_region": self.metrics_region,
            "limit_hours": self.limit_hours,
            "targets": [t.__dict__ for t in self.targets],
        }, sort_keys=True)


ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


def newest_backup(target: Target, client_for: ClientFactory) -> Optional[datetime]:
    """The creation time of the newest complete backup of `target`, or None when there is none."""
    newest: Optional[datetime] = None
    if target.vault:
        backup = client_for("backup", target.region)
        for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
                BackupVaultName=target.vault):
            for point in page.get("RecoveryPoints", []):
                if point.get("Status") == "COMPLETED":
                    created = point["CreationDate"]
                    newest = created if newest is None or created > newest else newest
        return newest
    s3 = client_for("s3", target.region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(target.suffix):
                modified = item["LastModified"]
                newest = modified if newest is None or modified > newest else newest
    return newest


def check(watch: Watch, client_for: ClientFactory, now: Optional[datetime] = None) -> list[Finding]:
    now = now or datetime.now(timezone.utc)
    findings = []
    for target in watch.targets:
        try:
            newest = newest_backup(target, client_for)
        except Exception as error:  # noqa: BLE001  (reported as "unknown", never hidden)
            findings.append(Finding(target.technology, None, None, watch.limit_hours,
                                    error=f"{type(error).__name__}: {error}"))
            continue
        age = None if newest is None else round((now - newest).total_seconds() / 3600, 2)
        findings.append(Finding(target.technology, newest, age, watch.limit_hours))
    return findings


def publish(watch: Watch, findings: list[Finding], client_for: ClientFactory) -> int:
    """Publish each known age. A missing backup publishes nothing: its alarm treats missing data
    as breaching, exactly as it does when this checker itself stops running."""
    data = [
        {
            "MetricName": AGE_METRIC,
            "Dimensions": [
                {"Name": "Installation", "Value": watch.installation_id},
                {"Name": "Technology", "Value": finding.technology},
            ],
            "Value": finding.age_hours,
            "Unit": "Count",
        }
        for finding in findings if finding.age_hours is not None
    ]
    if data:
        client_for("cloudwatch", watch.metrics_region).put_metric_data(Namespace=watch.namespace, MetricData=data)
    return len(data)


def format_table(watch: Watch, findings: list[Finding]) -> str:
    rows = [("technology", "newest backup (UTC)", "age h", "limit h", "status")]
    for f in findings:
        rows.append((
            f.technology,
            f.newest.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if f.newest else "-",
            f"{f.age_hours:.1f}" if f.age_hours is not None else "-",
            f"{f.limit_hours:.0f}",
            f.status + (f" ({f.error})" if f.error else ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"Backups of {watch.installation_id}:"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    return "\n".join(lines) + "\n"


def boto3_clients(endpoint_url: Optional[str] = None) -> ClientFactory:
    import boto3

    cache: dict[tuple[str, str], Any] = {}

    def client_for(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = boto3.client(service, region_name=region, endpoint_url=endpoint_url)
        return cache[(service, region)]

    return client_for


def handler(event: Any, context: Any) -> dict:
    """Lambda entry point: check, publish, and return the findings (visible in the logs)."""
    watch = Watch.from_json(os.environ[TARGETS_VARIABLE])
    clients = boto3_clients()
    findings = check(watch, clients)
    publish(watch, findings, clients)
    print(format_table(watch, findings))
    return {f.technology: {"status": f.status, "age_hours": f.age_hours} for f in findings}

"""The fleet's backup health at a glance, from what each installation's checker publishes.

Every installation's checker (components/freshness.py, every 15 minutes) publishes, per technology
or location, the newest backup's age (BackupAgeHours), its drills' and deep checks' ages
(RestoreDrillAgeHours, RepositoryCheckAgeHours) and, where a target reports runs, whether the last
one failed (…Failed: 1 or 0); on-premise and cloud, the attachments' storage (AttachmentsGb). Here
the last 30 days of those metrics are read for every installation with GetMetricData, up to 500
series a request (CloudWatch's limit), never a call per metric, and each target becomes a cell:

- fresh:   the newest age within the target's limit (24 h + reserve, or the drill's or check's own);
- stale:   older than the limit;
- failed:  the last run failed (or the checker could not read the target: unknown is failure);
- unknown: nothing published for the last SILENT_AFTER_HOURS: the checker is silent or the target
           unreadable. Never "fresh".
and an hourly strip of the same states over the 30 days, for the page (components/health_page.py).
A promise is kept when every cell is fresh: the exit code of scripts/fleet_health.py says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from components.freshness import ATTACHMENTS_METRIC, METRICS, Unreadable, Watch, boto3_clients, last_run

MAX_QUERIES = 500  # GetMetricData: series in one request
MAX_DATAPOINTS = 100_800  # GetMetricData: datapoints in one answer; more come with NextToken
DAYS = 30
SILENT_AFTER_HOURS = 2  # the checker publishes every 15 minutes: two hours without a value is silence
STATES = ("fresh", "stale", "failed", "unknown")
WORST_FIRST = {"failed": 0, "unknown": 1, "stale": 2, "fresh": 3}

ClientFactory = Callable[[str, str], Any]


@dataclass(frozen=True)
class Series:
    """One metric of one installation's target: what a GetMetricData query asks for."""

    installation: str
    technology: str  # "" for the installation's storage
    metric: str
    namespace: str
    region: str

    def query(self, query_id: str) -> dict:
        dimensions = [{"Name": "Installation", "Value": self.installation}]
        if self.technology:
            dimensions.append({"Name": "Technology", "Value": self.technology})
        return {"Id": query_id, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": self.metric, "Dimensions": dimensions},
            "Period": 3600, "Stat": "Maximum"}}


@dataclass
class Cell:
    technology: str
    kind: str  # backup, drill or check
    limit_hours: float
    state: str = "unknown"
    cause: str = ""
    age_hours: Optional[float] = None
    last_drill: str = ""  # a drill's last result, when asked for (health(drills=True))
    hours: list[str] = field(default_factory=list)  # the strip: one state per hour, oldest first
    first_hour: Optional[datetime] = None  # the strip's first hour
    ages: list[Optional[float]] = field(default_factory=list)  # the age published in each hour
    failed_metric: str = ""

    def cause_at(self, index: int) -> str:
        """Why the strip's hour `index` has its state, as the page shows it on hover (made when
        asked: the view of 300 installations has 2.5 million hours, the page shows runs of them)."""
        assert self.first_hour is not None
        hour = self.first_hour + timedelta(hours=index)
        age = self.ages[index]
        failed = 1.0 if self.hours[index] == "failed" else None
        _, cause = hour_state(age, failed, self.limit_hours, self.failed_metric)
        return f"{hour:%Y-%m-%d %H:00} UTC: {self.hours[index]}: {cause}"


@dataclass
class Row:
    installation: str
    cells: list[Cell]
    storage_gb: Optional[float] = None
    included_gb: Optional[float] = None
    error: str = ""

    @property
    def kept(self) -> bool:
        return not self.error and bool(self.cells) and all(c.state == "fresh" for c in self.cells)

    @property
    def worst(self) -> str:
        if self.error:
            return "unknown"
        return min((c.state for c in self.cells), key=WORST_FIRST.__getitem__, default="unknown")


def read_states(directory: Path) -> tuple[list[Watch], dict[str, float], list[tuple[str, str]]]:
    """Every <stack>.json of `directory` (stack output --json, export or state file): the watches,
    the included GB of storage by installation, and (file name, why) of those that cannot be read."""
    from components.stack_outputs import outputs_of

    watches, included, unreadable = [], {}, []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            watch = Watch.from_document(document)
        except (OSError, ValueError, KeyError) as error:  # OutputsError is a ValueError
            unreadable.append((path.name, str(error)))
            continue
        watches.append(watch)
        storage = outputs_of(document).get("storage")
        if isinstance(storage, dict) and storage.get("included_gb") is not None:
            included[watch.installation_id] = float(storage["included_gb"])
    return watches, included, unreadable


def series_of(watch: Watch) -> list[Series]:
    found = []
    for target in watch.targets:
        kind = "drill" if target.kind == "restore-test" else target.kind
        for metric in METRICS[kind]:
            found.append(Series(watch.installation_id, target.technology, metric, watch.namespace, watch.metrics_region))
    found.append(Series(watch.installation_id, "", ATTACHMENTS_METRIC, watch.namespace, watch.metrics_region))
    return found


def fetch(series: list[Series], client_for: ClientFactory, end: datetime, days: int = DAYS,
          start: Optional[datetime] = None) -> tuple[dict[Series, dict[datetime, float]], int]:
    """Hourly maxima of every series from `start` (default `days` before `end`) to `end`, grouped by
    region into requests of at most MAX_QUERIES series, each answer read to its last page. Returns
    the values and the number of requests made."""
    start = start or end - timedelta(days=days)
    values: dict[Series, dict[datetime, float]] = {s: {} for s in series}
    hours_seen: dict[int, datetime] = {}
    requests = 0
    by_region: dict[str, list[Series]] = {}
    for s in series:
        by_region.setdefault(s.region, []).append(s)
    for region, group in sorted(by_region.items()):
        cloudwatch = client_for("cloudwatch", region)
        for first in range(0, len(group), MAX_QUERIES):
            chunk = group[first:first + MAX_QUERIES]
            queries = [s.query(f"q{index}") for index, s in enumerate(chunk)]
            token: Optional[str] = None
            while True:
                arguments: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
                                             "ScanBy": "TimestampAscending"}
                if token:
                    arguments["NextToken"] = token
                answer = cloudwatch.get_metric_data(**arguments)
                requests += 1
                for result in answer["MetricDataResults"]:
                    target = values[chunk[int(result["Id"][1:])]]
                    for stamp, value in zip(result["Timestamps"], result["Values"]):
                        hour = hour_of(stamp, hours_seen)
                        target[hour] = max(value, target.get(hour, -math.inf))
                token = answer.get("NextToken")
                if not token:
                    break
    return values, requests


def hour_of(stamp: Any, seen: dict[int, datetime]) -> datetime:
    """The UTC hour a datapoint's timestamp falls in: a datetime (botocore's parsing), or epoch
    seconds as CloudWatch's JSON protocol sends them (raw_timestamp_clients), or ISO text; one
    datetime object per hour."""
    if isinstance(stamp, datetime):
        epoch = stamp.timestamp()
    elif isinstance(stamp, (int, float)):
        epoch = float(stamp)
    else:
        epoch = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    index = int(epoch // 3600)
    found = seen.get(index)
    if found is None:
        found = seen[index] = datetime.fromtimestamp(index * 3600, timezone.utc)
    return found


def raw_timestamp_clients(endpoint_url: Optional[str] = None) -> ClientFactory:
    """Clients as components.freshness.boto3_clients makes them, except that CloudWatch's answers
    keep their timestamps as sent: botocore turns each datapoint's into a datetime with dateutil's
    UTC, which took a third of the fleet view's time at 100,000s of datapoints (bench/fleet_health.py);
    hour_of reads them instead."""
    return boto3_clients(endpoint_url, raw_timestamps=("cloudwatch",))


def hour_state(age: Optional[float], failed: Optional[float], limit: float, metric: str) -> tuple[str, str]:
    if failed is not None and failed >= 1:
        return "failed", f"the last run failed or could not be read ({metric})"
    if age is None:
        return "unknown", "nothing published: the checker did not run or could not read it"
    if age > limit:
        return "stale", f"{age:.0f} h old, limit {limit:g} h"
    return "fresh", f"{age:.0f} h old, limit {limit:g} h"


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every whole hour from `start` (an hour's start) up to, not including, `end`."""
    return [start + timedelta(hours=n) for n in range(int((end - start).total_seconds() // 3600))]


def cell_of(watch: Watch, target: Any, values: dict[Series, dict[datetime, float]], hours: list[datetime]) -> Cell:
    kind = "drill" if target.kind == "restore-test" else target.kind
    age_metric, failed_metric = METRICS[kind]
    limit = float(target.limit_hours or watch.limit_hours)
    ages = values.get(Series(watch.installation_id, target.technology, age_metric, watch.namespace,
                             watch.metrics_region), {})
    fails = values.get(Series(watch.installation_id, target.technology, failed_metric, watch.namespace,
                              watch.metrics_region), {})
    cell = Cell(target.technology, kind, limit, first_hour=hours[0] if hours else None, failed_metric=failed_metric)
    cell.ages = [ages.get(hour) for hour in hours]
    for hour, age in zip(hours, cell.ages):  # hour_state's states, without its words: cause_at has them
        failed = fails.get(hour)
        cell.hours.append("failed" if failed is not None and failed >= 1 else "unknown" if age is None
                          else "stale" if age > limit else "fresh")
    recent = hours[-SILENT_AFTER_HOURS:]
    published = [h for h in recent if h in ages or h in fails]
    if not published:
        last = max(list(ages) + list(fails), default=None)
        cell.state = "unknown"
        cell.cause = (f"silent since {last:%Y-%m-%d %H:00} UTC" if last else "never published in 30 days") + \
            ": the checker does not run, or cannot read this target"
        return cell
    newest = published[-1]
    cell.age_hours = ages.get(newest)
    cell.state, cell.cause = hour_state(ages.get(newest), fails.get(newest), limit, failed_metric)
    return cell


def last_drill(target: Any, client_for: ClientFactory) -> str:
    """A drill's last run from its result objects: when, its result and, for the last success, the
    restore's time as the catalogue counts it (the connectivity's share apart)."""
    try:
        run = last_run(target, client_for)
    except (Unreadable, OSError) as error:
        return f"last result unreadable: {error}"
    if run is None:
        return "no drill result yet"
    said = f"last drill {run.get('time', '?')}: {run.get('result', '?')}"
    if run.get("error"):
        said += f" ({run['error']})"
    seconds = run.get("last_success_seconds") or {}
    if run.get("last_success") and seconds:
        said += (f"; last success {run['last_success']}: transfer {seconds.get('transfer')} s (connectivity, "
                 f"not counted) + {seconds.get('rest')} s counted")
    elif not run.get("last_success"):
        said += "; never succeeded"
    return said


def health(watches: Iterable[Watch], client_for: ClientFactory, now: Optional[datetime] = None,
           included_gb: Optional[dict[str, float]] = None, drills: bool = False) -> tuple[list[Row], int]:
    """One row per installation, the worst first (then by id); and the GetMetricData requests made.
    With `drills`, each drill's last result too (its result objects in S3: a read per drill)."""
    watches = list(watches)
    end = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [end - timedelta(hours=DAYS * 24 - n) for n in range(DAYS * 24)]
    series = [s for w in watches for s in series_of(w)]
    values, requests = fetch(series, client_for, end)
    rows = []
    for watch in watches:
        cells = [cell_of(watch, t, values, hours) for t in watch.targets]
        if drills:
            for cell, target in zip(cells, watch.targets):
                if target.kind == "drill" and target.status_sources:
                    cell.last_drill = last_drill(target, client_for)
        storage = values.get(Series(watch.installation_id, "", ATTACHMENTS_METRIC, watch.namespace, watch.metrics_region))
        used = storage[max(storage)] if storage else None
        rows.append(Row(watch.installation_id, cells, used, (included_gb or {}).get(watch.installation_id)))
    rows.sort(key=lambda r: (WORST_FIRST[r.worst], -sum(c.state != "fresh" for c in r.cells), r.installation))
    return rows, requests


def render_table(rows: list[Row]) -> str:
    lines = [f"{'installation':<24} {'promise':<8} cells (state, age/limit, why)"]
    for row in rows:
        if row.error:
            lines.append(f"{row.installation:<24} {'UNKNOWN':<8} {row.error}")
            continue
        storage = ""
        if row.storage_gb is not None:
            storage = f"; storage {row.storage_gb:g} GB" + (f" of {row.included_gb:g} included" if row.included_gb else "")
        cells = "; ".join(f"{c.technology} {c.state}" + (f" ({c.cause})" if c.state != "fresh" else
                                                           f" {c.age_hours:.0f}/{c.limit_hours:g} h")
                          + (f" [{c.last_drill}]" if c.last_drill else "") for c in row.cells)
        lines.append(f"{row.installation:<24} {'kept' if row.kept else 'BROKEN':<8} {cells}{storage}")
    kept = sum(r.kept for r in rows)
    lines.append(f"{kept} of {len(rows)} installations keep every promise")
    return "\n".join(lines) + "\n"


def as_json(rows: list[Row], requests: int) -> dict:
    return {"installations": [{
        "installation": r.installation, "kept": r.kept, "worst": r.worst, "error": r.error,
        "storage_gb": r.storage_gb, "included_gb": r.included_gb,
        "cells": [{"technology": c.technology, "kind": c.kind, "state": c.state, "cause": c.cause,
                   "age_hours": c.age_hours, "limit_hours": c.limit_hours, "last_drill": c.last_drill,
                   "hours": {s: c.hours.count(s) for s in STATES}} for c in r.cells]} for r in rows],
        "kept": all(r.kept for r in rows), "requests": requests}

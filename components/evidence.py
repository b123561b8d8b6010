"""The monthly evidence that each customer's backup promise was kept, per installation.

For a month (the monthly statement's, scripts/statement.py) and each technology or location, its
drills and deep checks, from the same hourly metrics as the fleet's health (components/health.py):
- within: the share of the month's hours in which the newest backup was within 24 h + reserve (the
  drill's or check's own limit for those). An hour with nothing published counts as not within:
  unknown is failure;
- the longest gap: the longest run of hours not within, with when it began and ended;
- failed runs: how many times a run failed (runs of consecutive failed hours), and their hours;
- drills: how many succeeded in the month (the drill's age fell back) and how many failed;
- on-premise: the connectivity checks of the month (scripts/check_connectivity.py records each into
  every location), each with its verdict and speeds. A location whose records cannot be listed or
  read is named with the cause: a check recorded only there could be missing from the page.
A month not yet over is reported up to the last whole hour, and says so. The page is one static
HTML file per installation, for the account manager to send with the invoice.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import groupby
from pathlib import Path
from typing import Iterable, Optional

from jinja2 import Environment, select_autoescape

from components import names
from components.freshness import METRICS, Watch, said
from components.health import ClientFactory, Series, cell_of, fetch, hours_between, series_of


@dataclass
class Gap:
    hours: int = 0
    start: Optional[datetime] = None
    end: Optional[datetime] = None


@dataclass
class Evidence:
    technology: str
    kind: str
    limit_hours: float
    hours: int
    within_hours: int
    longest_gap: Gap = field(default_factory=Gap)
    failed_runs: int = 0
    failed_hours: int = 0
    unknown_hours: int = 0
    drills_succeeded: Optional[int] = None  # drills only

    @property
    def within_share(self) -> float:
        return self.within_hours / self.hours if self.hours else 0.0


@dataclass
class Month:
    installation: str
    month: str
    start: datetime
    end: datetime  # exclusive
    complete: bool
    cells: list[Evidence]
    # on-premise: the month's connectivity checks (records, oldest first); None for a cloud installation
    connectivity: Optional[list[dict]] = None
    connectivity_unreadable: list[str] = field(default_factory=list)  # each location that could not be read: why

    @property
    def kept(self) -> bool:
        return all(c.within_hours == c.hours for c in self.cells) and bool(self.cells)

    @property
    def complete_evidence(self) -> bool:
        """Everything the page should show could be read (unknown is failure)."""
        return not self.connectivity_unreadable


def month_window(month: str, now: datetime) -> tuple[datetime, datetime, bool]:
    """[first hour, end) of a YYYY-MM month in UTC, the end capped at the last whole hour before
    `now`; and whether the month is over."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    end = start + timedelta(days=calendar.monthrange(year, number)[1])
    last_whole_hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return start, min(end, last_whole_hour), end <= last_whole_hour


def evidence_of(states: list[str], hours: list[datetime], ages: list[Optional[float]], technology: str, kind: str,
                limit: float) -> Evidence:
    found = Evidence(technology, kind, limit, len(states), states.count("fresh"))
    found.failed_hours, found.unknown_hours = states.count("failed"), states.count("unknown")
    index = 0
    for within, group in groupby(state == "fresh" for state in states):
        run = len(list(group))
        if not within and run > found.longest_gap.hours:
            found.longest_gap = Gap(run, hours[index], hours[index + run - 1] + timedelta(hours=1))
        index += run
    found.failed_runs = sum(1 for failed, _ in groupby(state == "failed" for state in states) if failed)
    if kind == "drill":
        known = [age for age in ages if age is not None]
        found.drills_succeeded = sum(1 for before, after in zip(known, known[1:]) if after < before)
    return found


def _record_key_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


def connectivity_checks(watch: Watch, client_for: ClientFactory, start: datetime,
                        end: datetime) -> tuple[Optional[list[dict]], list[str]]:
    """The connectivity checks recorded in [start, end) in any of the installation's locations (each
    check once, oldest first), and why a location could not be read. None for a cloud installation."""
    if not watch.location_buckets:
        return None, []
    prefix = names.connectivity_records_prefix(watch.installation_id)
    first, last = prefix + _record_key_time(start), prefix + _record_key_time(end)
    found: dict[str, dict] = {}
    unreadable = []
    for number, (region, bucket) in enumerate(watch.location_buckets, 1):
        where = f"location {number} (s3://{bucket}/{prefix}, {region})"
        try:
            s3 = client_for("s3", region)
            keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
                        Bucket=bucket, Prefix=prefix, StartAfter=first)
                    for item in page.get("Contents", []) if first <= item["Key"] < last]
            for key in keys:
                if key not in found:
                    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                    if not isinstance(record, dict) or "time" not in record:
                        raise ValueError(f"{key} is not a check's record")
                    found[key] = record
        except ValueError as error:
            unreadable.append(f"{where}: {error}")
        except Exception as error:  # noqa: BLE001  (botocore's ClientError and its kin: denied, unreachable)
            unreadable.append(f"{where}: {said(error)}")
    return [found[key] for key in sorted(found)], unreadable


def month_evidence(watches: Iterable[Watch], client_for: ClientFactory, month: str,
                   now: Optional[datetime] = None) -> tuple[list[Month], int]:
    start, end, complete = month_window(month, now or datetime.now(timezone.utc))
    return evidence_between(watches, client_for, start, end, month, complete)


def evidence_between(watches: Iterable[Watch], client_for: ClientFactory, start: datetime, end: datetime,
                     label: str, complete: bool = True) -> tuple[list[Month], int]:
    """The evidence of every installation for the hours [start, end), labelled `label`."""
    watches = list(watches)
    hours = hours_between(start, end)
    values, requests = fetch([s for w in watches for s in series_of(w)], client_for, end, start=start)
    months = []
    for watch in watches:
        cells = []
        for target in watch.targets:
            cell = cell_of(watch, target, values, hours)
            age_metric = METRICS[cell.kind][0]
            series = Series(watch.installation_id, target.technology, age_metric, watch.namespace, watch.metrics_region)
            ages = [values.get(series, {}).get(hour) for hour in hours]
            cells.append(evidence_of(cell.hours, hours, ages, target.technology, cell.kind, cell.limit_hours))
        checks, unreadable = connectivity_checks(watch, client_for, start, end)
        months.append(Month(watch.installation_id, label, start, end, complete, cells, checks, unreadable))
    return months, requests


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Backups of {{ m.installation }} in {{ m.month }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #111; max-width: 60em; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; }
.kept { color: #05683f; font-weight: 600; }
.broken { color: #a33; font-weight: 600; }
</style></head>
<body>
<h1>Backups of {{ m.installation }}, {{ m.month }}</h1>
<p>From {{ m.start.strftime('%Y-%m-%d %H:%M') }} to {{ m.end.strftime('%Y-%m-%d %H:%M') }} UTC,
{{ m.cells[0].hours if m.cells else 0 }} hours{% if not m.complete %} (the month is not over: up to the last whole hour){% endif %}.
Each backup technology or location promises its newest backup at most its limit old (24 hours plus
a reserve for the run); restore drills and deep checks have limits of their own. An hour with no
measurement counts as not within the promise.</p>
<p class="{{ 'kept' if m.kept else 'broken' }}" id="verdict">{% if m.kept %}Every promise was kept in every hour.{% else %}Not every promise was kept in every hour: see below.{% endif %}</p>
<table>
<thead><tr><th>technology or location</th><th>limit</th><th>hours within</th><th>longest gap</th><th>failed runs</th><th>drills succeeded</th></tr></thead>
<tbody>
{% for c in m.cells %}<tr data-technology="{{ c.technology }}">
<td>{{ c.technology }} ({{ c.kind }})</td><td class="number">{{ '%g'|format(c.limit_hours) }} h</td>
<td class="number">{{ '%.1f'|format(100 * c.within_share) }} % ({{ c.within_hours }} of {{ c.hours }})</td>
<td>{% if c.longest_gap.hours %}{{ c.longest_gap.hours }} h, {{ c.longest_gap.start.strftime('%Y-%m-%d %H:%M') }} to {{ c.longest_gap.end.strftime('%Y-%m-%d %H:%M') }}{% if c.unknown_hours %} ({{ c.unknown_hours }} h not measured){% endif %}{% else %}none{% endif %}</td>
<td class="number">{{ c.failed_runs }}{% if c.failed_hours %} ({{ c.failed_hours }} h){% endif %}</td>
<td class="number">{% if c.drills_succeeded is not none %}{{ c.drills_succeeded }}{% else %}-{% endif %}</td>
</tr>
{% endfor %}</tbody></table>
{% if m.connectivity is not none %}<h2>Connectivity checks</h2>
<p>Whether the customer's connectivity lets a backup run upload a day's change to both locations
within the backup window with a 2x margin, measured from the server (scripts/check_connectivity.py).</p>
{% for why in m.connectivity_unreadable %}<p class="broken unreadable">Could not be read: {{ why }}</p>
{% endfor %}{% if m.connectivity %}<table id="connectivity">
<thead><tr><th>checked (UTC)</th><th>verdict</th><th>upload per location</th></tr></thead>
<tbody>
{% for c in m.connectivity %}<tr>
<td class="when">{{ c.time | replace('T', ' ') | replace('Z', '') }}</td><td class="{{ 'kept' if c.sufficient else 'broken' }}">{{ c.verdict | replace('verdict: ', '') }}</td>
<td>{% for l in c.locations %}{{ l.region }}: {% if l.error %}failed ({{ l.error }}){% else %}{{ l.mbit_per_second }} Mbit/s{% endif %}{% if not loop.last %}; {% endif %}{% endfor %}</td>
</tr>
{% endfor %}</tbody></table>
{% else %}<p id="no-connectivity">No connectivity check was recorded in this period.</p>
{% endif %}{% endif %}</body></html>
"""


def render_month(month: Month) -> str:
    return Environment(autoescape=select_autoescape(default=True)).from_string(PAGE).render(m=month)


def write_pages(months: list[Month], out_dir: Path) -> list[str]:
    """Write each installation's page as <out_dir>/<installation>-<month>.html; a line per page
    saying whether the promise was kept (and what could not be read)."""
    said = []
    for month in months:
        page = out_dir / f"{month.installation}-{month.month}.html"
        page.write_text(render_month(month), encoding="utf-8")
        short = [f"{c.technology} {100 * c.within_share:.1f}%" for c in month.cells if c.within_hours < c.hours]
        said.append(f"{page}: {'kept' if month.kept else 'NOT KEPT: ' + ', '.join(short)}"
                    + ("" if month.complete else " (month not over)")
                    + "".join(f"; connectivity checks unreadable in {why}" for why in month.connectivity_unreadable))
    return said

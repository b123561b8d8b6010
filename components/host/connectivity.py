"""Is the customer's connectivity sufficient for the backups? Measured from the host itself.

The host uploads random data to each location (a multipart upload, aborted afterwards: nothing
stays, nothing is billed as storage) and reports the data its operational drive changed in the
last day (recordings excluded, as in the backup). A run uploads that change to location 1 and then
to location 2; it must fit in `backup_window_minutes` with a margin of MARGIN.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from components import names
from components.host.backup_job import BackupJob
from components.host.errors import ReportUnreadable
from components.host.ssh import Connection
from components.templates import render

MARGIN = 2.0
PROBE_PART_BYTES = 8 << 20
PROBE_PARTS = 2


class NotMeasurable(ValueError):
    """The probe ran, but the daily change is unknown (the operational drive is not mounted)."""


@dataclass(frozen=True)
class LocationSpeed:
    region: str
    bytes_per_second: Optional[float]
    error: Optional[str] = None


@dataclass(frozen=True)
class ConnectivityReport:
    changed_bytes_per_day: int
    backed_up_bytes: int
    window_seconds: int
    locations: tuple[LocationSpeed, ...]
    estimated: bool = False  # the daily change is the operator's estimate (drive not prepared yet)

    @property
    def run_seconds(self) -> Optional[float]:
        """How long one run's upload of a day's change takes, location 1 then location 2."""
        speeds = [l.bytes_per_second for l in self.locations]
        if any(s is None for s in speeds):
            return None
        return sum(self.changed_bytes_per_day / s for s in speeds if s is not None)

    @property
    def first_backup_seconds(self) -> Optional[float]:
        speeds = [l.bytes_per_second for l in self.locations]
        if any(s is None for s in speeds):
            return None
        return sum(self.backed_up_bytes / s for s in speeds if s is not None)

    @property
    def sufficient(self) -> bool:
        return self.run_seconds is not None and self.run_seconds * MARGIN <= self.window_seconds

    def lines(self) -> list[str]:
        if self.estimated:
            out = [f"changed per day: {self.changed_bytes_per_day / 1e6:.1f} MB (estimated: the operational "
                   "drive is not prepared yet)"]
        else:
            out = [f"changed per day (recordings excluded): {self.changed_bytes_per_day / 1e6:.1f} MB; "
                   f"backed-up data: {self.backed_up_bytes / 1e6:.1f} MB"]
        for number, location in enumerate(self.locations, 1):
            speed = (f"{location.bytes_per_second * 8 / 1e6:.2f} Mbit/s upload"
                     if location.bytes_per_second else f"FAILED: {location.error}")
            out.append(f"location {number} ({location.region}): {speed}")
        if self.run_seconds is None:
            out.append("verdict: insufficient: a location cannot be reached")
        else:
            verdict = "sufficient" if self.sufficient else "insufficient"
            out.append(
                f"verdict: {verdict}: a run needs about {self.run_seconds / 60:.1f} min for both locations; "
                f"the window is {self.window_seconds / 60:.0f} min and a margin of {MARGIN:g}x is required"
            )
            if self.first_backup_seconds is not None and not self.estimated:
                out.append(f"the first backup (everything) needs about {self.first_backup_seconds / 3600:.1f} h")
        return out


    def record(self, checked: datetime) -> dict[str, Any]:
        """What the monthly evidence shows of this check (no secrets: figures and the verdict)."""
        return {
            "time": checked.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sufficient": self.sufficient,
            "verdict": next(line for line in self.lines() if line.startswith("verdict: ")),
            "run_seconds": None if self.run_seconds is None else round(self.run_seconds, 1),
            "window_seconds": self.window_seconds,
            "margin": MARGIN,
            "changed_bytes_per_day": self.changed_bytes_per_day,
            "estimated": self.estimated,
            "locations": [{"region": l.region, "error": l.error,
                           "mbit_per_second": None if l.bytes_per_second is None else round(l.bytes_per_second * 8 / 1e6, 2)}
                          for l in self.locations],
        }


@dataclass(frozen=True)
class Recorded:
    """Where a check's result was recorded: `missing` names each location that did not take it."""

    key: str
    locations: int
    missing: tuple[str, ...]

    def line(self) -> str:
        if not self.missing:
            return f"recorded in all {self.locations} locations as {self.key} (the monthly evidence lists it)"
        if len(self.missing) == self.locations:
            return (f"NOT RECORDED in any location ({'; '.join(self.missing)}): the monthly evidence will not "
                    "show this check; run it again when the locations answer")
        return f"recorded as {self.key}, but not in: {'; '.join(self.missing)}"


def probe_script(job: BackupJob, part_bytes: int = PROBE_PART_BYTES, parts: int = PROBE_PARTS,
                 part_timeout: int = 600) -> str:
    locations = [
        {"region": l.region, "probe_url": l.object_url(names.probe_key(job.installation_id))}
        for l in job.locations
    ]
    return render("onprem/daktela-connectivity.sh.j2", installation_id=job.installation_id,
                  operational_mount=job.operational_mount, part_bytes=part_bytes, parts=parts,
                  part_timeout=part_timeout, locations=locations)


def parse_report(output: str, window_minutes: int, expected_daily_change_bytes: Optional[int] = None) -> ConnectivityReport:
    data = json.loads(output)
    estimated = data["changed_bytes_per_day"] is None
    if estimated:
        if expected_daily_change_bytes is None:
            raise NotMeasurable("the operational drive is not mounted, so its daily change cannot be measured; "
                             "give an estimate")
        data["changed_bytes_per_day"] = data["backed_up_bytes"] = expected_daily_change_bytes
    locations = []
    for entry in data["locations"]:
        result = entry["result"]
        if result.startswith("error"):
            locations.append(LocationSpeed(entry["region"], None, result[6:]))
        else:
            size, seconds = result.split()
            locations.append(LocationSpeed(entry["region"], int(size) / max(float(seconds), 1e-3)))
    return ConnectivityReport(int(data["changed_bytes_per_day"]), int(data["backed_up_bytes"]),
                              window_minutes * 60, tuple(locations), estimated)


def check_connectivity(connection: Connection, job: BackupJob, access_key_id: str, secret_access_key: str,
                       part_bytes: int = PROBE_PART_BYTES, parts: int = PROBE_PARTS,
                       expected_daily_change_bytes: Optional[int] = None) -> ConnectivityReport:
    """Run the probe on the host (the key travels on stdin) and judge the result. Before the
    drives are prepared (onboarding), the daily change is `expected_daily_change_bytes`."""
    result = connection.run(f"bash -c {shlex.quote(probe_script(job, part_bytes, parts))}",
                            stdin=f"{access_key_id}\n{secret_access_key}\n".encode(), timeout=1800)
    try:
        return parse_report(result.stdout, job.window_minutes, expected_daily_change_bytes)
    except (ValueError, KeyError, TypeError) as error:  # not mounted, or not the probe's answer
        detail = str(error) if isinstance(error, NotMeasurable) else f"the probe's answer cannot be read ({error!r})"
        raise ReportUnreadable(f"{connection.access.name}: {detail}") from error


def record_script(job: BackupJob, key: str, record: dict[str, Any]) -> str:
    """The host's script that PUTs `record` as `key` into every location (the key on its stdin)."""
    body = base64.b64encode(json.dumps(record, indent=1, sort_keys=True).encode()).decode()
    return render("onprem/daktela-connectivity-record.sh.j2", installation_id=job.installation_id,
                  record_base64=body, share_max_seconds=job.share_max_seconds,
                  locations=[{"region": l.region, "url": l.object_url(key)} for l in job.locations])


def record_check(connection: Connection, job: BackupJob, access_key_id: str, secret_access_key: str,
                 report: ConnectivityReport, checked: datetime) -> Recorded:
    """Write the check's result into every location from the host, with the host's key (the key
    travels on stdin), as the host's own results are written (templates/onprem/_share.sh.j2)."""
    record = report.record(checked)
    key = names.connectivity_record_key(job.installation_id, record["time"])
    result = connection.run(f"bash -c {shlex.quote(record_script(job, key, record))}",
                            stdin=f"{access_key_id}\n{secret_access_key}\n".encode(), timeout=300, check=False)
    missing = []
    for number, location in enumerate(job.locations, 1):
        said = [line for line in result.stderr.splitlines() if line.startswith(f"location {number}: ")]
        if said or result.exit_code == 2:
            missing.append(f"location {number} ({location.region})")
    if result.exit_code not in (0, 1, 2) or (result.exit_code == 1 and not missing):
        missing = [f"location {n} ({l.region})" for n, l in enumerate(job.locations, 1)]
        missing[-1] += f": the record script exited {result.exit_code}: {result.stderr.strip()[-300:]}"
    return Recorded(key, len(job.locations), tuple(missing))

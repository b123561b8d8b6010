"""Restore the operational data on the host straight from a location, timing what connectivity costs.

One `restic restore --verify` of the chosen snapshot from the location into the target: every file
is downloaded, written and read back against the snapshot. No scratch repository: the free space a
restore needs is the restored data's size, and it is checked before anything is downloaded.

The catalogue: during a restore, the extra time caused by the customer's connectivity is not
counted toward the SLA. restic downloads and writes at once, so the clock alone cannot tell the two
apart; the connectivity's share is computed (docs/restore.md, "What a restore counts"):

    transfer = downloaded bytes / the link's download speed, at most the restore's own duration

- downloaded bytes: the snapshot's stored size (`restic stats --mode raw-data`: every blob it needs,
  compressed and encrypted, once), what restic fetches;
- the link's download speed: measured right before the restore by downloading some of the
  location's own packs (the start of each, PROBE_PACK_BYTES at most), as many connections at a time
  as restic uses (PROBE_CONNECTIONS), 5% of the snapshot within PROBE_MIN_BYTES and PROBE_MAX_BYTES
  (templates/onprem/daktela-download-probe.sh.j2).
Everything else (sizing, the probe itself, writing, verifying, counting) is counted. When the speed
cannot be measured, nothing is booked to connectivity and the report says why.
The newest snapshot among the reachable locations is used unless a location or snapshot is chosen.
The target must be empty or absent: a restore never overwrites files.
"""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, TypeVar

from components import names
from components.host.backup_job import ENV_FILE, JOB_FILE, BackupJob
from components.host.errors import CommandError, RestoreError
from components.host.ssh import Connection
from components.templates import render, watchdog, watched_cause

T = TypeVar("T")
R = TypeVar("R")
PROBE_CONNECTIONS = 5  # restic's S3 backend: -o s3.connections, 5 unless set
PROBE_MIN_BYTES = 4 << 20  # one pack at least (restic 0.14 packs are 4 MiB and more)
PROBE_MAX_BYTES = 64 << 20
PROBE_PACK_BYTES = 2 << 20  # from each pack at most: more packs, more connections busy at once


@dataclass(frozen=True)
class LocationState:
    number: int
    region: str
    snapshot_id: Optional[str]
    snapshot_time: Optional[str]
    error: Optional[str] = None


@dataclass(frozen=True)
class LinkSpeed:
    """The probe's download from the location: `bytes_per_second`, or why it could not be measured."""
    bytes_per_second: Optional[float]
    error: Optional[str] = None
    seconds: float = 0.0  # the probe's own download (counted: it is our measurement, not the restore)


@dataclass(frozen=True)
class RestoreReport:
    location: LocationState
    target: str
    layout_root: str  # where the operational drive's files are: <target><mount point>/
    restored_files: int
    restored_directories: int
    restored_bytes: int
    downloaded_bytes: int  # the snapshot's stored size: what restic fetches
    link: LinkSpeed
    restore_seconds: float  # restic restore --verify alone: download, write, read back
    total_seconds: float  # everything from sizing the snapshot to counting the restored files
    locations: tuple[LocationState, ...]
    retries: tuple[str, ...] = ()  # restic's own lines for the requests it retried during the restore

    @property
    def transfer_seconds(self) -> float:
        """The connectivity's share: not counted toward the SLA (see the module's docstring)."""
        if not self.link.bytes_per_second:
            return 0.0
        return min(self.restore_seconds, self.downloaded_bytes / self.link.bytes_per_second)

    @property
    def rest_seconds(self) -> float:
        return self.total_seconds - self.transfer_seconds

    def lines(self) -> list[str]:
        out = []
        for state in self.locations:
            seen = (f"newest snapshot {state.snapshot_id} at {state.snapshot_time}" if state.snapshot_id
                    else f"unusable: {state.error}")
            out.append(f"location {state.number} ({state.region}): {seen}")
        if self.link.bytes_per_second:
            link = (f"{self.downloaded_bytes / 1e6:.1f} MB downloaded at the link's "
                    f"{self.link.bytes_per_second * 8 / 1e6:.2f} Mbit/s")
        else:
            link = f"the link's speed could not be measured ({self.link.error}): all of the time is counted"
        out += [
            f"restored snapshot {self.location.snapshot_id} from location {self.location.number} "
            f"({self.location.region}) into {self.target}: {self.restored_files} files and "
            f"{self.restored_directories} directories, {self.restored_bytes / 1e6:.1f} MB, verified",
            f"laid out as on the host: {self.layout_root} holds the operational drive "
            "(database/ is the server's raw files: load database-dumps/ instead, see docs/restore.md)",
            f"transfer (connectivity, not counted toward the SLA): {self.transfer_seconds:.1f} s ({link})",
            f"restore and verification (counted): {self.rest_seconds:.1f} s",
            f"total: {self.total_seconds:.1f} s",
        ]
        if self.retries:
            out.append(f"the location failed {len(self.retries)} requests during the restore and restic retried "
                       f"them (their time is counted); the last: {self.retries[-1]}")
        return out


def _what(job: BackupJob, number: int) -> str:
    """Who the watchdog says failed: "location N (region)"."""
    return f"location {number} ({job.locations[number - 1].region})"


def _restic(job: BackupJob, number: int, arguments: str) -> str:
    """restic against a location, through the host's watchdog (a location that stops answering is
    given up after the job's silence, with the cause as the last line), or plain restic on a host
    whose jobs predate it."""
    location = job.locations[number - 1]
    restic = f"restic -r {shlex.quote(location.repository(job.installation_id))} -o s3.region={location.region} {arguments}"
    watched = (f"{names.WATCHDOG_PROGRAM} --what {shlex.quote(_what(job, number))} "
               f"--silence {job.silence_seconds} --clock-url {shlex.quote(location.base_url)} -- {restic}")
    return f"set -a; . {ENV_FILE}; set +a; if [ -x {names.WATCHDOG_PROGRAM} ]; then {watched}; else {restic}; fi"


def read_job(connection: Connection) -> BackupJob:
    try:
        return BackupJob.from_dict(json.loads(connection.run(f"cat {JOB_FILE}").stdout))
    except CommandError:
        raise RestoreError(f"{connection.access.name}: {JOB_FILE} is missing; the backup job is not "
                           "installed on this host (run pulumi up)") from None


def side_by_side(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`work` of each item, each on its own SSH channel at once (one connection carries them all):
    the locations answer in the time of the slower one, not of both."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(work, items))


def survey(connection: Connection, job: BackupJob) -> list[LocationState]:
    def newest(number: int) -> LocationState:
        region = job.locations[number - 1].region
        result = connection.run(_restic(job, number, f"--no-lock snapshots --json --latest 1 --host {job.installation_id}"),
                                check=False, timeout=300)
        if not result.ok:
            return LocationState(number, region, None, None, restic_cause(result.stderr, job, number))
        try:
            snapshots = json.loads(result.stdout or "[]")
        except ValueError as unreadable:
            return LocationState(number, region, None, None, f"restic's snapshot list could not be read: {unreadable}")
        if not snapshots:
            return LocationState(number, region, None, None, "no snapshot")
        chosen = max(snapshots, key=lambda s: s["time"])
        return LocationState(number, region, chosen["id"], chosen["time"])

    return side_by_side(newest, range(1, len(job.locations) + 1))


def restic_cause(stderr: str, job: BackupJob, number: int) -> str:
    """Why restic against location `number` failed, in one line (`watched_cause`)."""
    return watched_cause(stderr, _what(job, number))


def probe_budget(downloaded_bytes: int) -> int:
    """How much the speed probe downloads: 5% of the snapshot, within PROBE_MIN_BYTES and PROBE_MAX_BYTES."""
    return max(PROBE_MIN_BYTES, min(PROBE_MAX_BYTES, downloaded_bytes // 20))


def probe_script(job: BackupJob, number: int, budget_bytes: int) -> str:
    location = job.locations[number - 1]
    return render("onprem/daktela-download-probe.sh.j2", installation_id=job.installation_id, number=number,
                  region=location.region, env_file=ENV_FILE, bucket_url=location.object_url("").rstrip("/"),
                  data_prefix=f"{names.repository_prefix(job.installation_id)}data/", budget_bytes=budget_bytes,
                  connections=PROBE_CONNECTIONS, pack_bytes=PROBE_PACK_BYTES, silence_seconds=job.silence_seconds)


def link_speed(connection: Connection, job: BackupJob, number: int, downloaded_bytes: int) -> LinkSpeed:
    result = connection.run(f"bash -c {shlex.quote(probe_script(job, number, probe_budget(downloaded_bytes)))}",
                            check=False, timeout=4000)
    answer = result.stdout.strip()
    if not result.ok or answer.startswith("error") or len(answer.split()) != 2:
        detail = answer[6:] if answer.startswith("error ") else (result.stderr.strip() or answer or "no answer")
        return LinkSpeed(None, detail.splitlines()[-1])
    size, seconds = answer.split()
    return LinkSpeed(int(size) / max(float(seconds), 1e-3), seconds=float(seconds))


def _stats(connection: Connection, job: BackupJob, number: int, snapshot_id: str, mode: str) -> int:
    # --no-lock: the two sizings run side by side on one repository, and restic 0.14 retries loading
    # a lock that the other one has just removed until the watchdog's silence ends it (CI saw it).
    # Sizing only reads; the restore itself still locks.
    result = connection.run(_restic(job, number, f"--no-lock stats --json --mode {mode} {shlex.quote(snapshot_id)}"),
                            check=False, timeout=3600)
    if not result.ok:
        raise RestoreError(f"{connection.access.name}: location {number}: the snapshot cannot be sized: "
                           f"{restic_cause(result.stderr, job, number)}")
    return int(json.loads(result.stdout)["total_size"])


def restore(
    connection: Connection,
    target: str,
    location: Optional[int] = None,
    snapshot: Optional[str] = None,
    progress: Callable[[str], None] = lambda line: None,
) -> RestoreReport:
    job = read_job(connection)
    states = survey(connection, job)
    for state in states:
        progress(f"location {state.number} ({state.region}): "
                 + (f"snapshot {state.snapshot_id} at {state.snapshot_time}" if state.snapshot_id else f"unusable: {state.error}"))
    usable = [s for s in states if s.snapshot_id and (location is None or s.number == location)]
    if not usable:
        raise RestoreError(f"{connection.access.name}: no usable snapshot in "
                           + (f"location {location}" if location else "any location"))
    chosen = max(usable, key=lambda s: s.snapshot_time or "")
    snapshot_id = snapshot or chosen.snapshot_id or ""  # usable ones all have one
    quoted_target = shlex.quote(target)
    if connection.run(f"[ ! -e {quoted_target} ] || [ -z \"$(ls -A {quoted_target})\" ]", check=False).exit_code:
        raise RestoreError(f"{connection.access.name}: {target} is not empty; a restore never overwrites "
                           "files. Choose an empty or new target")
    started = time.monotonic()
    restored_size, downloaded = side_by_side(lambda mode: _stats(connection, job, chosen.number, snapshot_id, mode),
                                             ("restore-size", "raw-data"))
    # the nearest directory that exists: the target's filesystem
    free = int(connection.run(f"d={quoted_target}; until [ -d \"$d\" ]; do d=$(dirname \"$d\"); done; "
                              "df --output=avail -B1 \"$d\" | tail -1").stdout.strip())
    if free < restored_size:
        raise RestoreError(f"{connection.access.name}: {target} has {free / 1e9:.1f} GB free and the snapshot "
                           f"restores {restored_size / 1e9:.1f} GB: choose a target on a drive with room "
                           "(--target); nothing was downloaded")
    progress(f"measuring the download speed from location {chosen.number}")
    link = link_speed(connection, job, chosen.number, downloaded)
    progress(f"restore: snapshot {snapshot_id} from location {chosen.number} into {target}, verifying every file")
    restore_started = time.monotonic()
    result = connection.run(_restic(job, chosen.number, f"restore {shlex.quote(snapshot_id)} --target {quoted_target} "
                                                        "--verify"), check=False, timeout=24 * 3600)
    restore_seconds = time.monotonic() - restore_started
    if not result.ok:
        raise RestoreError(f"{connection.access.name}: the restore from location {chosen.number} failed: "
                           f"{restic_cause(result.stderr, job, chosen.number)}; what it wrote is in {target}")
    # one walk of the restored tree: directories, files, their bytes
    counted = connection.run(
        f"find {quoted_target} -mindepth 1 -printf '%y %s\\n' | awk '$1 == \"d\" {{ d++ }} "
        f"$1 == \"f\" {{ f++; s += $2 }} END {{ printf \"%.0f %.0f %.0f\", d, f, s }}'").stdout.split()
    return RestoreReport(chosen if not snapshot else LocationState(chosen.number, chosen.region, snapshot_id, None),
                         target, f"{target.rstrip('/')}{job.operational_mount}/", int(counted[1]), int(counted[0]),
                         int(counted[2]), downloaded, link, restore_seconds, time.monotonic() - started, tuple(states),
                         tuple(line.strip() for line in result.stderr.splitlines() if watchdog().RETRYING in line))

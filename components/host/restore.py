"""Restore the operational data on the host, timing what connectivity costs apart from the rest.

The catalogue: during a restore, the extra time caused by the customer's connectivity is not
counted toward the SLA. So a restore runs in two phases, each timed:
1. transfer: `restic copy` of the chosen snapshot from the cloud location into a scratch
   repository on the host (pure download: connectivity);
2. the rest: `restic restore --verify` from the scratch repository into the target, which also
   reads every restored file back and checks it against the snapshot.
The newest snapshot among the reachable locations is used unless a location or snapshot is chosen.
The target must be empty or absent: a restore never overwrites files.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Callable, Optional

from components import names
from components.host.backup_job import ENV_FILE, JOB_FILE, BackupJob
from components.host.errors import CommandError, RestoreError
from components.host.ssh import Connection
from components.templates import watchdog


@dataclass(frozen=True)
class LocationState:
    number: int
    region: str
    snapshot_id: Optional[str]
    snapshot_time: Optional[str]
    error: Optional[str] = None


@dataclass(frozen=True)
class RestoreReport:
    location: LocationState
    target: str
    layout_root: str  # where the operational drive's files are: <target><mount point>/
    restored_files: int
    restored_directories: int
    restored_bytes: int
    transfer_seconds: float  # connectivity: not counted toward the SLA
    rest_seconds: float  # counted
    locations: tuple[LocationState, ...]

    def lines(self) -> list[str]:
        out = []
        for state in self.locations:
            seen = (f"newest snapshot {state.snapshot_id} at {state.snapshot_time}" if state.snapshot_id
                    else f"unusable: {state.error}")
            out.append(f"location {state.number} ({state.region}): {seen}")
        out += [
            f"restored snapshot {self.location.snapshot_id} from location {self.location.number} "
            f"({self.location.region}) into {self.target}: {self.restored_files} files and "
            f"{self.restored_directories} directories, {self.restored_bytes / 1e6:.1f} MB, verified",
            f"laid out as on the host: {self.layout_root} holds the operational drive "
            "(database/ is the server's raw files: load database-dumps/ instead, see docs/restore.md)",
            f"transfer (connectivity, not counted toward the SLA): {self.transfer_seconds:.1f} s",
            f"restore and verification (counted): {self.rest_seconds:.1f} s",
            f"total: {self.transfer_seconds + self.rest_seconds:.1f} s",
        ]
        return out


def _restic(job: BackupJob, number: int, arguments: str) -> str:
    """restic against a location, through the host's watchdog (a location that stops answering is
    given up after the job's silence, with the cause as the last line), or plain restic on a host
    whose jobs predate it."""
    location = job.locations[number - 1]
    restic = f"restic -r {shlex.quote(location.repository(job.installation_id))} -o s3.region={location.region} {arguments}"
    return f"set -a; . {ENV_FILE}; set +a; {_watched(job, number, restic)}"


def _watched(job: BackupJob, number: int, command: str) -> str:
    location = job.locations[number - 1]
    watched = (f"{names.WATCHDOG_PROGRAM} --what {shlex.quote(f'location {number} ({location.region})')} "
               f"--silence {job.silence_seconds} --clock-url {shlex.quote(location.base_url)} -- {command}")
    return f"if [ -x {names.WATCHDOG_PROGRAM} ]; then {watched}; else {command}; fi"


def read_job(connection: Connection) -> BackupJob:
    try:
        return BackupJob.from_dict(json.loads(connection.run(f"cat {JOB_FILE}").stdout))
    except CommandError:
        raise RestoreError(f"{connection.access.name}: {JOB_FILE} is missing; the backup job is not "
                           "installed on this host (run pulumi up)") from None


def survey(connection: Connection, job: BackupJob) -> list[LocationState]:
    states = []
    for number, location in enumerate(job.locations, 1):
        result = connection.run(_restic(job, number, f"snapshots --json --latest 1 --host {job.installation_id}"),
                                check=False, timeout=300)
        snapshots = []
        if result.ok:
            try:
                snapshots = json.loads(result.stdout or "[]")
            except ValueError as unreadable:
                states.append(LocationState(number, location.region, None, None,
                                            f"restic's snapshot list could not be read: {unreadable}"))
                continue
        if result.ok and snapshots:
            newest = max(snapshots, key=lambda s: s["time"])
            states.append(LocationState(number, location.region, newest["id"], newest["time"]))
        else:
            error = restic_cause(result.stderr) if not result.ok else "no snapshot"
            states.append(LocationState(number, location.region, None, None, error))
    return states


def restic_cause(stderr: str) -> str:
    """Why restic failed, in one line: the watchdog's own cause line when it ran restic (its last
    line, "location N (region): cause"), else the one reader of restic's output (the watchdog's
    `cause_of`: restic's Fatal line, never a Go trace's file line)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if lines and lines[-1].startswith("location ") and "): " in lines[-1]:
        return lines[-1].split("): ", 1)[1]
    return watchdog().cause_of(stderr) if lines else "restic failed without a message"


def restore(
    connection: Connection,
    target: str,
    location: Optional[int] = None,
    snapshot: Optional[str] = None,
    scratch: Optional[str] = None,
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
    # a directory of its own (two restores started in the same second must not share one)
    scratch = scratch or connection.run("mktemp -d /var/tmp/daktela-restore-scratch-XXXXXXXX").stdout.strip()
    repository = shlex.quote(scratch)
    remote = shlex.quote(job.locations[chosen.number - 1].repository(job.installation_id))
    region = job.locations[chosen.number - 1].region
    local = f"set -a; . {ENV_FILE}; set +a; export RESTIC_FROM_PASSWORD=\"$RESTIC_PASSWORD\"; restic -r {repository}"
    try:
        progress(f"transfer: copying snapshot {snapshot_id} from location {chosen.number} to {scratch}")
        started = time.monotonic()
        connection.run(f"{local} init --copy-chunker-params --from-repo {remote} -o s3.region={region} >/dev/null")
        connection.run(f"set -a; . {ENV_FILE}; set +a; export RESTIC_FROM_PASSWORD=\"$RESTIC_PASSWORD\"; " + _watched(
            job, chosen.number, f"restic -r {repository} copy --from-repo {remote} -o s3.region={region} "
                                f"{shlex.quote(snapshot_id)}"), timeout=24 * 3600)
        transfer = time.monotonic() - started
        progress(f"restore: into {target}, verifying every file")
        started = time.monotonic()
        connection.run(f"{local} restore latest --target {quoted_target} --verify", timeout=24 * 3600)
        # one walk of the restored tree: directories, files, their bytes
        counted = connection.run(
            f"find {quoted_target} -mindepth 1 -printf '%y %s\\n' | awk '$1 == \"d\" {{ d++ }} "
            f"$1 == \"f\" {{ f++; s += $2 }} END {{ printf \"%.0f %.0f %.0f\", d, f, s }}'").stdout.split()
        rest = time.monotonic() - started
    finally:
        connection.run(f"rm -rf {repository}", check=False)
    return RestoreReport(chosen if not snapshot else LocationState(chosen.number, chosen.region, snapshot_id, None),
                         target, f"{target.rstrip('/')}{job.operational_mount}/", int(counted[1]), int(counted[0]),
                         int(counted[2]), transfer, rest, tuple(states))

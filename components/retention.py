"""The weekly prune: restic repositories kept in bounds by their own principal, never the hosts'.

Run by the team's designated runner (scripts/prune.py; the `retention` job of
.github/workflows/infrastructure.yml), once a week per installation, with the installation's prune
role (components/aws/retention.py). For each repository of the stack output `retention_targets`:
1. `restic forget --keep-within <D>d --keep-daily --keep-weekly --keep-monthly`: D is
   on_premise.backup_lock_days or cloud.backup_retention_days, so a snapshot younger than the
   lock is never forgotten, and the lock is never asked to give anything up early;
2. `restic prune`: packs no kept snapshot needs are deleted. On these versioned buckets a delete
   adds a delete marker; the old version stays (on-premise: locked) until the bucket's lifecycle
   expires noncurrent versions (after the lock) and then the expired delete markers;
3. the repository's size (its current objects, what the next backup and restore see) recorded with
   the earlier ones in `status/<id>/retention-<repository>.json`: the trend is the last
   READINGS_KEPT weekly sizes.
A repository that fails is reported and the others are still pruned; the exit code says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import botocore.config
import botocore.exceptions

from components.aws.retention import Repository, RetentionTargets

AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

READINGS_KEPT = 26  # half a year of weekly sizes
PRUNE_TIMEOUT_SECONDS = 12 * 3600
# A prune reads (indexes, trees) and writes and deletes as it goes: ten minutes in which restic reads
# and writes nothing at all is a location that stopped answering (scripts/prune.py --silence-minutes).
PRUNE_SILENCE_SECONDS = 600


class RetentionError(Exception):
    """A repository could not be pruned; the message says which and why, in one line."""


@dataclass(frozen=True)
class Pruned:
    repository: Repository
    kept: int
    removed: int
    oldest_kept: Optional[str]
    size_bytes: int
    readings: tuple[dict[str, Any], ...]

    def line(self) -> str:
        sizes = [r["bytes"] for r in self.readings]
        trend = " -> ".join(f"{b / 1e9:.2f}" for b in sizes[-4:])
        return (f"{self.repository.name} ({self.repository.region}): {self.kept} snapshots kept (oldest "
                f"{self.oldest_kept}), {self.removed} forgotten; {self.size_bytes / 1e9:.2f} GB "
                f"(last sizes, GB: {trend})")


def base_url(repository: Repository, endpoint: str = "") -> str:
    """The S3 endpoint the repository is reached at: `endpoint`, or AWS's in its region."""
    return endpoint.rstrip("/") or f"https://s3.{repository.region}.amazonaws.com"


def repository_url(repository: Repository, endpoint: str = "") -> str:
    return f"s3:{base_url(repository, endpoint)}/{repository.bucket}/{repository.prefix.rstrip('/')}"


def forget_arguments(targets: RetentionTargets) -> list[str]:
    return ["forget", "--keep-within", f"{targets.keep_within_days}d", "--keep-daily", str(targets.keep_daily),
            "--keep-weekly", str(targets.keep_weekly), "--keep-monthly", str(targets.keep_monthly)]


def _restic(repository: Repository, arguments: list[str], env: dict[str, str], endpoint: str,
            silence_seconds: int) -> str:
    """restic against the repository through the jobs' watchdog (templates/daktela-watchdog.py, run by
    this Python): a location that sends nothing for `silence_seconds` is given up, with the cause."""
    from components.templates import TEMPLATES, watched_cause

    what = f"{repository.name} ({repository.region})"
    command = [sys.executable, str(TEMPLATES / "daktela-watchdog.py"), "--what", what,
               "--silence", str(silence_seconds), "--clock-url", base_url(repository, endpoint), "--",
               "restic", "-r", repository_url(repository, endpoint), "-o", f"s3.region={repository.region}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=PRUNE_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RetentionError(f"{what}: restic {arguments[0]} failed: {watched_cause(result.stderr, what)}")
    return result.stdout


def size_of(s3: Any, bucket: str, prefix: str) -> int:
    """The bytes of the current objects under `prefix` (what a prune leaves; noncurrent versions go by
    the lifecycle)."""
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(item["Size"] for item in page.get("Contents", []))
    return total


def previous_readings(s3: Any, repository: Repository, key: str) -> list[dict[str, Any]]:
    try:
        found = json.loads(s3.get_object(Bucket=repository.status_bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return []
    return list(found.get("readings", []))


def prune_repository(targets: RetentionTargets, repository: Repository, env: dict[str, str],
                     s3_for: Callable[[str], Any], endpoint: str = "", now: Optional[datetime] = None,
                     silence_seconds: int = PRUNE_SILENCE_SECONDS) -> Pruned:
    from components import names

    groups = json.loads(_restic(repository, [*forget_arguments(targets), "--json"], env, endpoint, silence_seconds)
                        or "[]")
    kept = [s for g in groups for s in g.get("keep") or []]
    removed = sum(len(g.get("remove") or []) for g in groups)
    _restic(repository, ["prune"], env, endpoint, silence_seconds)
    s3 = s3_for(repository.region)
    size = size_of(s3, repository.bucket, repository.prefix)
    key = names.retention_key(targets.installation_id, repository.name)
    status = s3_for(repository.status_region)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    readings = [*previous_readings(status, repository, key), {"time": stamp, "bytes": size}][-READINGS_KEPT:]
    pruned = Pruned(repository, len(kept), removed, min((s["time"] for s in kept), default=None), size,
                    tuple(readings))
    body = json.dumps({
        "installation": targets.installation_id, "repository": repository.name, "kind": "retention",
        "time": stamp, "result": "success", "kept": pruned.kept, "removed": removed,
        "oldest_kept": pruned.oldest_kept, "bytes": size, "readings": readings,
        "policy": forget_arguments(targets)[1:]}, sort_keys=True).encode()
    # Object Lock buckets take a write only with its digest (Content-MD5, as restic sends it)
    status.put_object(Bucket=repository.status_bucket, Key=key, ContentType="application/json", Body=body,
                      ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())
    return pruned


def s3_client(credentials: dict[str, str], region: str, endpoint: str = "", verify: Any = None) -> Any:
    """An S3 client as the prune principal. Writes carry Content-MD5 and no checksum trailer
    (botocore 1.36+ adds one by default): one way that every S3 this runs against reads, the strict
    double too (tests/strict_aws.py)."""
    import boto3

    return boto3.client("s3", region_name=region, endpoint_url=endpoint or None, verify=verify,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials.get("SessionToken") or None,
                        config=botocore.config.Config(request_checksum_calculation="when_required"))


def recorded(targets: RetentionTargets, s3_for: Callable[[str], Any]) -> tuple[list[str], list[str]]:
    """What the last prune of each repository recorded, without pruning: (lines, problems). A
    repository never pruned, or whose record cannot be read, is a problem (unknown is failure)."""
    from components import names

    lines, problems = [], []
    for repository in targets.repositories:
        key = names.retention_key(targets.installation_id, repository.name)
        where = f"s3://{repository.status_bucket}/{key}"
        try:
            found = json.loads(s3_for(repository.status_region).get_object(
                Bucket=repository.status_bucket, Key=key)["Body"].read())
            pruned = Pruned(repository, int(found["kept"]), int(found["removed"]), found.get("oldest_kept"),
                            int(found["bytes"]), tuple(found.get("readings") or []))
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{repository.name} ({repository.region}): {where} cannot be read: {error!r}")
            continue
        except AWS_ERRORS as error:  # missing, denied, unreachable
            missing = "NoSuchKey" in str(error)
            problems.append(f"{repository.name} ({repository.region}): " + (
                f"never pruned ({where} does not exist)" if missing else f"{where} cannot be read: {error}"))
            continue
        lines.append(f"{pruned.line()}; pruned {found.get('time')}")
    return lines, problems


def prune_all(targets: RetentionTargets, env: dict[str, str], s3_for: Callable[[str], Any],
              endpoint: str = "", silence_seconds: int = PRUNE_SILENCE_SECONDS) -> tuple[list[Pruned], list[str]]:
    """Every repository, each on its own: (what was pruned, why the others could not be)."""
    done, failed = [], []
    for repository in targets.repositories:
        try:
            done.append(prune_repository(targets, repository, env, s3_for, endpoint, silence_seconds=silence_seconds))
        except (RetentionError, subprocess.TimeoutExpired, ValueError) as error:
            failed.append(str(error))
        except AWS_ERRORS as error:  # the repository is named, the run goes on
            failed.append(f"{repository.name} ({repository.region}): {error}")
    return done, failed


def restic_env(credentials: dict[str, str]) -> dict[str, str]:
    """restic's environment: the prune principal's credentials, the password the runner holds."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"]})
    if credentials.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
    return env

#!/usr/bin/env python3
"""A backup run of the operational drive into two locations on a loopback S3 server (moto): our
job (dump, restic to location 1 then location 2, status) against plain `restic backup` run twice
by hand, side by side on the throwaway test host. Initial run, then a 2% change.

    .venv/bin/python bench/backup_run.py [--files 5000 --megabytes 512] [--repeats 5]   (root)

Both run as whole processes on the host, as the timer runs ours; the order alternates per repeat;
min, median and max are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

from common import median, save, timed

from tests.hosttest import ThrowawayHost
from tests.moto_server import moto_server
from tests.onprem_fixtures import backup_job, install, layout_for, make_buckets

from components.host.prepare import prepare
from components.host.ssh import Connection


def populate(staging: Path, files: int, total: int) -> list[Path]:
    rng = random.Random(2)
    weights = [rng.paretovariate(1.3) for _ in range(files)]
    scale = total / sum(weights)
    paths = []
    for index, weight in enumerate(weights):
        directory = ("attachments", "application", "recordings")[index % 3]
        path = staging / directory / f"{index // 500:03d}" / f"f{index:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(max(1, int(weight * scale))))
        paths.append(path)
    return paths


def change(host: ThrowawayHost, staging: Path, paths: list[Path], fraction: float) -> int:
    """Rewrite files (not recordings) until `fraction` of the backed-up bytes changed; returns bytes."""
    candidates = [p for p in paths if "/recordings/" not in str(p)]
    budget = fraction * sum(p.stat().st_size for p in candidates)
    changed = 0
    rng = random.Random(3)
    op = host.mount_point("operational")
    for path in rng.sample(candidates, len(candidates)):
        if changed >= budget:
            break
        size = path.stat().st_size
        relative = path.relative_to(staging)
        host.run(f"head -c {size} /dev/urandom > {op}/{relative}")
        changed += size
    return changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs, moto_server(Path(logs) / "moto.log") as endpoint:
        run(args, endpoint)


def run(args: argparse.Namespace, endpoint: str) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "eu-central-1"}
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    results: dict[str, dict[str, list[float]]] = {"ours": {"initial": [], "incremental": []},
                                                  "restic_twice": {"initial": [], "incremental": []}}
    uploaded: dict[str, list[int]] = {"ours": [], "restic_twice": []}
    changed_bytes = 0
    for repeat in range(args.repeats):
        for runner in list(results)[::-1] if repeat % 2 else list(results):
            with tempfile.TemporaryDirectory() as tmp:
                size = (args.megabytes * 3 + 512) << 20
                host = ThrowawayHost(Path(tmp) / "host", drive_sizes={"operational": size, "archive": 320 << 20}).start()
                try:
                    with Connection(host.access()) as connection:
                        prepare(connection, layout_for(host))
                    staging = Path(tmp) / "staging"
                    paths = populate(staging, args.files, args.megabytes << 20)
                    host.run(f"cp -a {staging}/. {host.mount_point('operational')}/")
                    job = backup_job(host, make_buckets(endpoint), [endpoint, endpoint], "unused")
                    install(host, job)
                    op = host.mount_point("operational")
                    repositories = [l.repository(job.installation_id) for l in job.locations]
                    by_hand = " && ".join(
                        f"restic -r {repo} -o s3.region={l.region} backup --json --quiet --host {job.installation_id} "
                        f"--exclude {op}/recordings {op} | tail -n 1 >> /tmp/bench-restic-{os.getpid()}.json"
                        for repo, l in zip(repositories, job.locations))
                    if runner == "restic_twice":
                        for repo, location in zip(repositories, job.locations):
                            host.run(f"set -a; . /etc/daktela-toolkit/backup.env; restic -r {repo} -o s3.region={location.region} init")
                    command = ("/usr/local/sbin/daktela-backup" if runner == "ours"
                               else f"set -a; . /etc/daktela-toolkit/backup.env; set +a; {by_hand}")
                    for phase in ("initial", "incremental"):
                        if phase == "incremental":
                            changed_bytes = change(host, staging, paths, 0.02)
                        seconds, result = timed(lambda: host.run(command))
                        assert result.returncode == 0, result.stdout + result.stderr
                        results[runner][phase].append(seconds)
                    if runner == "ours":
                        added = sum(json.loads(host.run(f"cat /var/lib/daktela-backup/location-{n}.json").stdout)
                                    ["restic"]["data_added"] for n in (1, 2))
                    else:
                        lines = host.run(f"cat /tmp/bench-restic-{os.getpid()}.json; rm -f /tmp/bench-restic-{os.getpid()}.json").stdout.splitlines()
                        added = sum(json.loads(line)["data_added"] for line in lines[-2:])
                    uploaded[runner].append(added)
                finally:
                    host.stop()
    summary = {runner: {phase: round(median(v), 2) for phase, v in phases.items()} for runner, phases in results.items()}
    save("backup_run", {
        "files": args.files, "megabytes": args.megabytes, "repeats": args.repeats,
        "seconds_median": summary,
        "seconds_min_max": {runner: {phase: [round(min(v), 2), round(max(v), 2)] for phase, v in phases.items()}
                            for runner, phases in results.items()},
        "overhead_incremental_min_vs_min": round(min(results["ours"]["incremental"])
                                                 / min(results["restic_twice"]["incremental"]) - 1, 3),
        "overhead_incremental": round(summary["ours"]["incremental"] / summary["restic_twice"]["incremental"] - 1, 3),
        "overhead_initial": round(summary["ours"]["initial"] / summary["restic_twice"]["initial"] - 1, 3),
        "changed_bytes": changed_bytes,
        "uploaded_bytes_incremental_both_locations": {k: int(median(v)) for k, v in uploaded.items()},
        "uploaded_per_changed_byte_per_location": round(median(uploaded["ours"]) / 2 / max(changed_bytes, 1), 3),
        "command": f"python bench/backup_run.py --files {args.files} --megabytes {args.megabytes}",
    })


if __name__ == "__main__":
    main()

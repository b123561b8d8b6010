#!/usr/bin/env python3
"""A restore of the operational drive from a location on a loopback S3 server (moto), side by side on
the throwaway test host: ours as a person runs it (`scripts/restore.py`: over SSH, both locations
surveyed, the snapshot sized, the link's speed probed, then restored straight from the location with
every file verified) against plain `restic restore` over SSH, with and without `--verify`. Whole processes, paired runs
alternating the order, min / median / max kept.

    .venv/bin/python bench/restore_run.py [--files 2000 --megabytes 256] [--repeats 5]   (root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from backup_run import populate
from common import ROOT, save, timed

from tests.hosttest import ThrowawayHost
from tests.moto_server import moto_server
from tests.onprem_fixtures import backup_job, install, layout_for, make_buckets
from tests.test_prepare_host_script import stack_for

from components.host.prepare import prepare
from components.host.ssh import Connection


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-central-1"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp, moto_server(Path(tmp) / "moto.log") as endpoint:
        size = (args.megabytes * 4 + 512) << 20  # the data and two restores at a time
        host = ThrowawayHost(Path(tmp) / "host", drive_sizes={"operational": size, "archive": 320 << 20}).start()
        try:
            run(args, host, endpoint, Path(tmp))
        finally:
            host.stop()


def run(args: argparse.Namespace, host: ThrowawayHost, endpoint: str, tmp: Path) -> None:
    with Connection(host.access()) as connection:
        prepare(connection, layout_for(host))
    staging = tmp / "staging"
    populate(staging, args.files, args.megabytes << 20)
    host.run(f"cp -a {staging}/. {host.mount_point('operational')}/")
    job = backup_job(host, make_buckets(endpoint), [endpoint, endpoint], "unused")
    install(host, job)
    backed_up = host.run("/usr/local/sbin/daktela-backup")
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    stack, key = stack_for(host, tmp)
    location = job.locations[0]
    restic = (f"set -a; . /etc/daktela-toolkit/backup.env; set +a; restic -r {location.repository(job.installation_id)} "
              f"-o s3.region={location.region} restore latest")
    ssh = ["ssh", "-i", key, "-p", str(host.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "dkhost@127.0.0.1", "sudo", "sh", "-c"]
    targets = host.root / "targets"

    def contender(name: str, number: int) -> list[str]:
        target = str(targets / f"{name}-{number}")
        if name == "ours":
            return [sys.executable, str(ROOT / "scripts" / "restore.py"), stack, "--key", key, "--target", target,
                    "--location", "1"]
        verify = " --verify" if name == "restic_verify" else ""
        return [*ssh, f"'{restic} --target {target}{verify}'"]

    names = ["ours", "restic", "restic_verify"]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    split: dict[str, list[float]] = {"transfer": [], "rest": []}
    for number in range(args.repeats):
        order = names[number % len(names):] + names[:number % len(names)]  # each goes first in turn
        for name in order:
            took, result = timed(lambda: subprocess.run(contender(name, number), capture_output=True, text=True,
                                                         timeout=3600))
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
            seconds[name].append(took)
            if name == "ours":
                for line in result.stdout.splitlines():
                    if line.startswith("transfer (connectivity"):
                        split["transfer"].append(float(line.split(": ", 1)[1].split()[0]))
                    if line.startswith("restore and verification (counted)"):
                        split["rest"].append(float(line.split(": ", 1)[1].split()[0]))
            host.run(f"rm -rf {targets}/{name}-{number}")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    save("restore_run", {
        "files": args.files, "megabytes": args.megabytes, "repeats": args.repeats,
        "tools": {"restic": subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()},
        "seconds": {name: spread(values) for name, values in seconds.items()},
        "ours_split_seconds": {part: spread(values) for part, values in split.items()},
        "overhead_vs_restic_median": round(medians["ours"] / medians["restic"] - 1, 3),
        "overhead_vs_restic_min": round(min(seconds["ours"]) / min(seconds["restic"]) - 1, 3),
        "overhead_vs_restic_verify_median": round(medians["ours"] / medians["restic_verify"] - 1, 3),
        "command": f"python bench/restore_run.py --files {args.files} --megabytes {args.megabytes} "
                   f"--repeats {args.repeats}",
    })


if __name__ == "__main__":
    main()

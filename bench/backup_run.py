#!/usr/bin/env python3
"""A backup run of the operational drive into two locations on a loopback S3 server (moto): our
job (dump, restic to location 1 then location 2, status) against plain `restic backup` run twice
by hand, side by side on the throwaway test host. Initial run, then a 2% change.

    .venv/bin/python bench/backup_run.py [--files 5000 --megabytes 512] [--repeats 5 --rounds 3]   (root)

Both run as whole processes on the host, as the timer runs ours. Each repeat is a fresh host where
both back up the same data: the initial run, then `--rounds` times a 2% change followed by both
runners, their order alternating; the overhead is taken per pair (same host, same change), and
min, median and max are kept. The peer's repositories sit beside ours in the same buckets.
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
    parser.add_argument("--repeats", type=int, default=5, help="fresh hosts, each with an initial run of both")
    parser.add_argument("--rounds", type=int, default=3, help="2%% changes per host, both runners after each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs, moto_server(Path(logs) / "moto.log") as endpoint:
        run(args, endpoint)


RUNNERS = ("ours", "restic_twice")


def run(args: argparse.Namespace, endpoint: str) -> None:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-central-1"})
    results: dict[str, dict[str, list[float]]] = {r: {"initial": [], "incremental": []} for r in RUNNERS}
    paired: list[float] = []  # ours / restic_twice after the same change on the same host
    own: list[float] = []  # the job's own steps (its time outside restic, less the peer's) / the peer's run
    beside_restic: list[float] = []  # ours' seconds outside its restic processes
    uploaded: dict[str, list[int]] = {r: [] for r in RUNNERS}
    changed: list[int] = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            size = (args.megabytes * 3 + 512) << 20
            host = ThrowawayHost(Path(tmp) / "host", drive_sizes={"operational": size, "archive": 320 << 20}).start()
            try:
                staging = Path(tmp) / "staging"
                paths = populate(staging, args.files, args.megabytes << 20)
                commands, added = setup(host, staging, endpoint)
                for round_ in range(args.rounds + 1):
                    phase = "initial" if round_ == 0 else "incremental"
                    if phase == "incremental":
                        changed.append(change(host, staging, paths, 0.02))
                    seconds, outside = {}, {}
                    for runner in RUNNERS[::-1] if (repeat + round_) % 2 else RUNNERS:
                        seconds[runner], result = timed(lambda: host.run(commands[runner]))
                        assert result.returncode == 0, result.stdout + result.stderr
                        outside[runner] = seconds[runner] - restic_seconds(host)
                        results[runner][phase].append(seconds[runner])
                        if phase == "incremental":
                            uploaded[runner].append(added[runner]())
                    if phase == "incremental":
                        paired.append(seconds["ours"] / seconds["restic_twice"])
                        own.append((outside["ours"] - outside["restic_twice"]) / seconds["restic_twice"])
                        beside_restic.append(outside["ours"])
            finally:
                host.run(f"rm -rf {SCRATCH}")
                host.stop()
    report(args, results, paired, uploaded, changed, own, beside_restic)


# Both runners call restic through this wrapper, which logs each process's wall time: a run's time
# outside restic is what the job itself costs (dump, lock, status), measured in the same run.
SCRATCH = f"/tmp/bench-backup-run-{os.getpid()}"
TIMED_RESTIC = f"{SCRATCH}/restic"
RESTIC_TIMES = f"{SCRATCH}/times"
RESTIC_WRAPPER = f"""#!/bin/bash
started=$EPOCHREALTIME
/usr/bin/restic "$@"
code=$?
echo "$started $EPOCHREALTIME" >> {RESTIC_TIMES}
exit $code
"""


def restic_seconds(host: ThrowawayHost) -> float:
    lines = host.run(f"cat {RESTIC_TIMES}").stdout.split("\n")
    return sum(float(end) - float(start) for start, end in (line.split() for line in lines if line.strip()))


def setup(host: ThrowawayHost, staging: Path, endpoint: str) -> tuple[dict, dict]:
    """The host with the staged data, our job installed, and the peer's two repositories (beside ours, in
    the same buckets) initialised untimed; returns each runner's command and how to read the bytes
    its last run added."""
    with Connection(host.access()) as connection:
        prepare(connection, layout_for(host))
    host.run(f"cp -a {staging}/. {host.mount_point('operational')}/")
    job = backup_job(host, make_buckets(endpoint), [endpoint, endpoint], "unused")
    install(host, job)
    op = host.mount_point("operational")
    env = "set -a; . /etc/daktela-toolkit/backup.env; set +a"
    log = f"{SCRATCH}/by-hand.json"
    by_hand = []
    for location in job.locations:
        restic = f"restic -r {location.repository(job.installation_id)}-by-hand -o s3.region={location.region}"
        host.run(f"{env}; {restic} init")
        by_hand.append(f"{restic} backup --json --quiet --host {job.installation_id} --exclude {op}/recordings {op} "
                       f"| tail -n 1 >> {log}")

    def ours() -> int:
        return sum(json.loads(host.run(f"cat /var/lib/daktela-backup/location-{n}.json").stdout)["restic"]["data_added"]
                   for n in (1, 2))

    def theirs() -> int:
        lines = host.run(f"cat {log}").stdout.splitlines()
        return sum(json.loads(line)["data_added"] for line in lines[-2:])

    host.run(f"mkdir -p {SCRATCH} && cat > {TIMED_RESTIC} <<'EOF'\n{RESTIC_WRAPPER}EOF\n"
             f"chmod 755 {TIMED_RESTIC}")
    timed_path = f"export PATH={SCRATCH}:$PATH; : > {RESTIC_TIMES}; "
    commands = {"ours": f"{timed_path}/usr/local/sbin/daktela-backup",
                "restic_twice": f"{timed_path}{env}; {' && '.join(by_hand)}"}
    return commands, {"ours": ours, "restic_twice": theirs}


def report(args: argparse.Namespace, results: dict, paired: list[float], uploaded: dict, changed: list[int],
           own: list[float], beside_restic: list[float]) -> None:
    summary = {runner: {phase: round(median(v), 2) for phase, v in phases.items()} for runner, phases in results.items()}
    save("backup_run", {
        "files": args.files, "megabytes": args.megabytes, "repeats": args.repeats, "rounds": args.rounds,
        "seconds_median": summary,
        "seconds_min_max": {runner: {phase: [round(min(v), 2), round(max(v), 2)] for phase, v in phases.items()}
                            for runner, phases in results.items()},
        "overhead_incremental_paired": {"min": round(min(paired) - 1, 3), "median": round(median(paired) - 1, 3),
                                        "max": round(max(paired) - 1, 3), "pairs": len(paired)},
        "own_steps_incremental": {"overhead_min": round(min(own), 3), "overhead_median": round(median(own), 3),
                                  "overhead_max": round(max(own), 3),
                                  "seconds_outside_restic_median": round(median(beside_restic), 3)},
        "overhead_incremental_min_vs_min": round(min(results["ours"]["incremental"])
                                                 / min(results["restic_twice"]["incremental"]) - 1, 3),
        "overhead_incremental": round(summary["ours"]["incremental"] / summary["restic_twice"]["incremental"] - 1, 3),
        "overhead_initial": round(summary["ours"]["initial"] / summary["restic_twice"]["initial"] - 1, 3),
        "changed_bytes_median": int(median(changed)),
        "uploaded_bytes_incremental_both_locations": {k: int(median(v)) for k, v in uploaded.items()},
        "uploaded_per_changed_byte_per_location": round(median(uploaded["ours"]) / 2 / max(median(changed), 1), 3),
        "command": f"python bench/backup_run.py --files {args.files} --megabytes {args.megabytes} "
                   f"--repeats {args.repeats} --rounds {args.rounds}",
    })


if __name__ == "__main__":
    main()

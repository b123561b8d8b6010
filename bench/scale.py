#!/usr/bin/env python3
"""An installation at production's scale, every job against its plain-tool peer, with peak memory.

    .venv/bin/python bench/scale.py [--gigabytes 20 --files 200000] [--archived 0.3]   (root, ~1 h)

The throwaway test host with drives of the installation's size (loop devices with O_DIRECT: what a
drive holds comes from the machine's disk, not from the backing file's page cache) and two locations,
each its own loopback S3 server (moto, its objects spooled to disk: 20 GB of packs do not fit in
memory). The data is generated on the operational drive: `--files` files whose sizes follow a
Pareto law (a few large recordings, many small attachments), 40% attachments, 40% recordings
(random bytes: real ones are compressed formats), 20% application files (compressible text), and
`--archived` of the attachments and recordings older than the archive's cutoff.

Phases, each ours then its peer or the other way round, the page cache dropped before each run:
- backup: `daktela-backup` (dump, location 1, location 2, status) against `restic backup` into two
  fresh repositories by hand (recordings excluded, as ours);
- restore: `scripts/restore.py` (over SSH, as a person runs it) against `restic restore --verify`;
- drill: `daktela-restore-drill --location 1` (every file restored and verified in batches, counted,
  the dump loaded) against the same `restic restore --verify` (the plain way to prove a snapshot
  restores, which needs the data's size in free space), twice: with the host's disk as its scratch
  (room for everything: one batch) and in a tmpfs of `--small-scratch-megabytes` (many batches);
  with `--with-dump`, also `restic dump --archive tar latest / | wc -c`, the drill's data path
  until 2026-12;
- archival: `daktela-archive` against `rsync -a --remove-source-files && sync -f` of the same files.
Peak memory: the largest process of each run (GNU time's maximum resident set size), and restic's
own (every restic the host runs goes through a wrapper that records it).

Where this is looser than production: the locations are on loopback (no link: connectivity is not
what is measured), location 2 is emptied after the backup phase to make room for the restore (the
restore surveys it and finds no snapshot), and the database dump is the fixtures' stand-in (the
database part at size is proven by tests/test_restore_drill.py).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save

from tests.hosttest import ThrowawayHost
from tests.moto_server import moto_server
from tests.onprem_fixtures import REGIONS, backup_job, install, layout_for, make_bucket, moto_s3
from tests.test_prepare_host_script import stack_for

from components.host.prepare import prepare
from components.retention import size_of
from components.host.ssh import Connection

GENERATOR = r"""
import os, random, sys, time
root, files, total, archived = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(5)
weights = [min(rng.paretovariate(1.3), 2000.0) for _ in range(files)]
scale = total / sum(weights)
old = time.time() - 200 * 86400
words = [b"%x" % rng.getrandbits(40) for _ in range(4096)]
text = b" ".join(rng.choice(words) for _ in range(1 << 18)) + b"\n"  # 3 MB of compressible text
written = 0
for index, weight in enumerate(weights):
    kind = ("attachments", "attachments", "recordings", "recordings", "application")[index % 5]
    path = f"{root}/{kind}/{index // 1000:03d}/f{index:06d}.bin"
    if index % 1000 == 0 or not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    size = max(1, int(weight * scale))
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20)) if kind != "application" else text[:min(left, len(text))]
            out.write(block)
            left -= len(block)
    if kind != "application" and rng.random() < archived:
        os.utime(path, (old, old))
    written += size
print(written)
"""

# Every restic the host runs (the jobs and the peers) goes through this: its peak memory is kept.
RESTIC_LOG = "/run/bench-restic-rss"
RESTIC_WRAPPER = f"""#!/bin/sh
exec /usr/bin/time -a -o {RESTIC_LOG} -f '%M' /usr/bin/restic "$@"
"""


class Runs:
    """Runs on the host (or beside it), each timed as a whole process with its peak memory."""

    def __init__(self, host: ThrowawayHost, scratch: Path):
        self.host = host
        self.scratch = scratch
        self.results: dict[str, dict[str, float]] = {}

    def _drop_caches(self) -> None:
        assert self.host.run("sync && echo 3 > /proc/sys/vm/drop_caches").returncode == 0

    def on_host(self, name: str, command: str, timeout: int = 4 * 3600) -> str:
        self._drop_caches()
        self.host.run(f": > {RESTIC_LOG}")
        started = time.perf_counter()
        result = self.host.run(f"/usr/bin/time -o {RESTIC_LOG}.top -f '%M' sh -c {json.dumps(command)}", timeout=timeout)
        seconds = time.perf_counter() - started
        assert result.returncode == 0, f"{name}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        self._record(name, seconds, self.host.run(f"tail -1 {RESTIC_LOG}.top").stdout)
        return result.stdout

    def beside(self, name: str, command: list[str], timeout: int = 4 * 3600) -> str:
        """A process on this machine (a person's workstation) that works on the host over SSH."""
        self._drop_caches()
        self.host.run(f": > {RESTIC_LOG}")
        top = self.scratch / "top-rss"
        started = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-o", str(top), "-f", "%M", *command], capture_output=True,
                                text=True, timeout=timeout)
        seconds = time.perf_counter() - started
        assert result.returncode == 0, f"{name}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        self._record(name, seconds, top.read_text().strip().splitlines()[-1])
        return result.stdout

    def _record(self, name: str, seconds: float, top_kib: str) -> None:
        restic = [int(line) for line in self.host.run(f"cat {RESTIC_LOG}").stdout.split() if line.isdigit()]
        self.results[name] = {"seconds": round(seconds, 1), "peak_rss_mib": round(int(top_kib.strip()) / 1024, 1),
                              "restic_peak_rss_mib": round(max(restic, default=0) / 1024, 1)}
        print(f"{name}: {self.results[name]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=20)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--archived", type=float, default=0.3, help="share of attachments and recordings past the cutoff")
    parser.add_argument("--result", default="scale", help="bench/results/<RESULT>.json (default %(default)s)")
    parser.add_argument("--no-drill", action="store_true", help="leave the drill out")
    parser.add_argument("--small-scratch-megabytes", type=int, default=512,
                        help="a second drill in a scratch tmpfs this large (0: none; default %(default)s)")
    parser.add_argument("--with-dump", action="store_true",
                        help="also time `restic dump --archive tar` of the snapshot (per-blob requests: slow)")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-central-1"})
    data = int(args.gigabytes * 1e9)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, contextlib.ExitStack() as stack:
        endpoints = []
        for number in (1, 2):
            spool = Path(tmp) / f"moto-{number}"
            spool.mkdir()
            # moto keeps an object in memory up to this size, then in a file in TMPDIR (unlinked:
            # gone with the server)
            os.environ.update({"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 16), "TMPDIR": str(spool)})
            endpoints.append(stack.enter_context(moto_server(Path(tmp) / f"moto-{number}.log")))
        os.environ["TMPDIR"] = tmp
        sizes = {"operational": (int(data * 1.25) >> 20 << 20) + (2 << 30), "archive": (int(data * 0.6) >> 20 << 20) + (1 << 30)}
        host = ThrowawayHost(Path(tmp) / "host", drive_sizes=sizes, direct_io=True).start()
        try:
            run(args, host, endpoints, Path(tmp), data)
        finally:
            host.stop()


def run(args: argparse.Namespace, host: ThrowawayHost, endpoints: list[str], tmp: Path, data: int) -> None:
    with Connection(host.access()) as connection:
        prepare(connection, layout_for(host))
    op, ar = host.mount_point("operational"), host.mount_point("archive")
    started = time.perf_counter()
    generated = host.run(f"python3 - {op} {args.files} {data} {args.archived} <<'EOF'\n{GENERATOR}EOF", timeout=4 * 3600)
    assert generated.returncode == 0, generated.stderr
    generate_seconds = time.perf_counter() - started
    counts = json.loads(host.run(
        f"cd {op} && for d in attachments recordings application; do find $d -type f -printf '%s\\n' "
        f"| awk -v d=$d '{{n++; s+=$1}} END {{printf \"\\\"%s\\\": [%d, %.0f]\\n\", d, n, s}}'; done "
        "| paste -sd, | sed 's/^/{/; s/$/}/'").stdout)
    buckets = [f"scale-{region}" for region in REGIONS]
    for endpoint, region, bucket in zip(endpoints, REGIONS, buckets):
        make_bucket(endpoint, region, bucket)
    uuid = host.run(f"findmnt -n -o UUID --mountpoint {ar}").stdout.strip()
    job = backup_job(host, buckets, endpoints, uuid)
    job = dataclasses.replace(job, drill_scratch=str(host.root / "drill-scratch"))
    install(host, job)
    assert host.run(f"mkdir -p {job.drill_scratch}").returncode == 0
    assert host.run(f"cat > /usr/local/bin/restic <<'EOF'\n{RESTIC_WRAPPER}EOF\nchmod 755 /usr/local/bin/restic"
                    ).returncode == 0
    runs = Runs(host, tmp)
    env = "set -a; . /etc/daktela-toolkit/backup.env; set +a"

    # backup: the peer first, into repositories beside ours; then they are removed to make room
    by_hand = []
    for location in job.locations:
        restic = f"restic -r {location.repository(job.installation_id)}-by-hand -o s3.region={location.region}"
        assert host.run(f"{env}; {restic} init").returncode == 0
        by_hand.append(f"{restic} backup --quiet --host {job.installation_id} --exclude {op}/recordings {op}")
    runs.on_host("backup_restic_twice", f"{env}; {' && '.join(by_hand)}")
    peer_stored = [size_of(moto_s3(e)(r), b, f"restic/{job.installation_id}-by-hand/")
                   for e, r, b in zip(endpoints, REGIONS, buckets)]
    for endpoint, region, bucket in zip(endpoints, REGIONS, buckets):
        assert subprocess.run(["curl", "-sf", "-X", "POST", f"{endpoint}/moto-api/reset"]).returncode == 0
        make_bucket(endpoint, region, bucket)
    runs.on_host("backup_ours", "/usr/local/sbin/daktela-backup")
    prefix = f"restic/{job.installation_id}/"
    ours_stored = [size_of(moto_s3(e)(r), b, prefix) for e, r, b in zip(endpoints, REGIONS, buckets)]
    # location 2 emptied: the restore's target needs the room (the restore still surveys it)
    assert subprocess.run(["curl", "-sf", "-X", "POST", f"{endpoints[1]}/moto-api/reset"]).returncode == 0
    make_bucket(endpoints[1], REGIONS[1], buckets[1])

    # restore and drill
    stack, key = stack_for(host, tmp)
    location = job.locations[0]
    target = host.root / "restored"
    peer_restore = (f"{env}; restic -r {location.repository(job.installation_id)} -o s3.region={location.region} "
                    f"restore latest --target {target} --verify")
    runs.on_host("restore_restic_verify", peer_restore)
    assert host.run(f"rm -rf {target}").returncode == 0
    report = runs.beside("restore_ours", [sys.executable, str(ROOT / "scripts" / "restore.py"), stack, "--key", key,
                                          "--target", str(target), "--location", "1"])
    print("\n".join(report.strip().splitlines()[-6:]), flush=True)
    assert host.run(f"rm -rf {target}").returncode == 0
    drill: dict = {}
    if not args.no_drill:
        runs.on_host("drill_ours", "/usr/local/sbin/daktela-restore-drill --location 1")
        drill = json.loads(host.run("cat /var/lib/daktela-backup/drill-location-1.json").stdout)
        if args.small_scratch_megabytes:
            scratch = job.drill_scratch
            assert host.run(f"mount -t tmpfs -o size={args.small_scratch_megabytes}m tmpfs {scratch}").returncode == 0
            try:
                runs.on_host("drill_ours_small_scratch", "/usr/local/sbin/daktela-restore-drill --location 1")
                small = json.loads(host.run("cat /var/lib/daktela-backup/drill-location-1.json").stdout)
                drill["small_scratch"] = {k: small.get(k) for k in ("result", "error", "batches", "streamed_files",
                                                                    "bytes", "files", "transfer_seconds")}
            finally:
                host.run(f"umount {scratch}")
        if args.with_dump:  # the drill's data path until 2026-12
            runs.on_host("drill_path_restic_dump", f"{env}; restic -r {location.repository(job.installation_id)} "
                                                   f"-o s3.region={location.region} dump --archive tar latest / | wc -c")

    # archival: ours, the files put back as they were, then the peer on the same files
    old = f"-mtime +{job.archive_after_days}"
    listed = host.run(f"cd {op} && find attachments recordings -type f {old} > {tmp}/old-files && wc -l < {tmp}/old-files")
    old_files = int(listed.stdout.strip())
    old_bytes = int(host.run(f"cd {op} && tr '\\n' '\\0' < {tmp}/old-files | du -cb --files0-from=- | tail -1 | cut -f1"
                             ).stdout.strip() or 0)
    runs.on_host("archive_ours", "/usr/local/sbin/daktela-archive")
    moved = int(host.run(f"cd {ar} && find attachments recordings -type f | wc -l").stdout.strip())
    assert moved == old_files, (moved, old_files)
    assert host.run(f"rsync -a --remove-source-files --files-from={tmp}/old-files {ar}/ {op}/ && "
                    f"find {ar}/attachments {ar}/recordings -depth -type d -empty -delete; "
                    f"find {ar} -maxdepth 1 -name '.daktela*' -delete", timeout=4 * 3600).returncode == 0
    runs.on_host("archive_rsync_then_sync",
                 f"rsync -a --remove-source-files --files-from={tmp}/old-files {op}/ {ar}/ && sync -f {ar}")

    r = runs.results
    ratio = lambda ours, peer: round(r[peer]["seconds"] / r[ours]["seconds"], 2)  # noqa: E731 (speed: >1 is faster)
    save(args.result, {
        "data_bytes": data, "files": args.files, "by_directory_files_bytes": counts,
        "archived_files": old_files, "archived_bytes": old_bytes, "generate_seconds": round(generate_seconds, 1),
        "stored_bytes": {"ours_per_location": ours_stored, "restic_twice_per_location": peer_stored},
        "drill": {k: drill.get(k) for k in ("bytes", "files", "batches", "streamed_files", "transfer_seconds",
                                            "rest_seconds", "small_scratch")},
        "runs": r,
        "speed_ours_vs_peer": {"backup": ratio("backup_ours", "backup_restic_twice"),
                               "restore": ratio("restore_ours", "restore_restic_verify"),
                               **({"drill": ratio("drill_ours", "restore_restic_verify")} if drill else {}),
                               **({"drill_small_scratch": ratio("drill_ours_small_scratch", "restore_restic_verify")}
                                  if "drill_ours_small_scratch" in r else {}),
                               **({"drill_vs_restic_dump": ratio("drill_ours", "drill_path_restic_dump")}
                                  if "drill_path_restic_dump" in r else {}),
                               "archival": ratio("archive_ours", "archive_rsync_then_sync")},
        "restore_report": report.strip().splitlines()[-6:],
        "tools": {"restic": subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip(),
                  "rsync": subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout.split("\n")[0]},
        "command": f"python bench/scale.py --gigabytes {args.gigabytes:g} --files {args.files} --archived {args.archived}"
                   + (" --no-drill" if args.no_drill else f" --small-scratch-megabytes {args.small_scratch_megabytes}")
                   + (" --with-dump" if args.with_dump else ""),
    })


if __name__ == "__main__":
    main()

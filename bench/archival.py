#!/usr/bin/env python3
"""Archival of files older than the cutoff onto the archive drive: our job (copy, syncfs, verify
by SHA-256, rename, fsync, unlink) against `rsync -a --remove-source-files` (and, for context,
the same with `--fsync`, and followed by one `sync`), on the throwaway test host's loop-device
drives (with O_DIRECT: a copy read back comes from the machine's disk, never from the backing
file's page cache), side by side.

    .venv/bin/python bench/archival.py [--files 20000 --megabytes 2048] [--repeats 5]   (root)

Each contender runs as a whole process, as a user runs it, in rotating order; min, median and max
of every contender are kept. The goal compares ours with `rsync && sync -f`, the cheapest move that
is as durable as ours. Ours also reads every copy back from the drive before it removes a source;
`verified_floor` is that guarantee made of plain tools (the sources hashed while rsync's read still
holds them in the cache, rsync, one sync, the page cache dropped, `sha256sum -c` of the copies as the
drive holds them, then the sources removed): the floor any job with the guarantee stands on.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from common import ROOT, median, save, timed

from components.host.prepare import prepare
from components.host.ssh import Connection
from tests.onprem_fixtures import layout_for
from tests.hosttest import ThrowawayHost

SCRIPT = ROOT / "templates" / "onprem" / "daktela-archive.py"


def make_files(staging: Path, count: int, total: int) -> int:
    rng = random.Random(1)
    weights = [rng.paretovariate(1.2) for _ in range(count)]
    scale = total / sum(weights)
    written = 0
    old = time.time() - 200 * 86400
    for index, weight in enumerate(weights):
        path = staging / "attachments" / f"{index // 1000:03d}" / f"file-{index:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = max(1, int(weight * scale))
        path.write_bytes(os.urandom(size))
        os.utime(path, (old, old))
        written += size
    return written


def sha256_speed() -> float:
    """This machine's SHA-256 speed in Python (the job hashes every byte twice: copy and verify)."""
    import hashlib
    block = os.urandom(64 << 20)
    seconds, _ = timed(lambda: hashlib.sha256(block).hexdigest())
    return len(block) / seconds / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)  # the sizes BENCHMARKS.md reports
    parser.add_argument("--megabytes", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--buffered-drives", action="store_true",
                        help="loop devices through the page cache (before 2026-12-02: a read-back may be "
                             "served from the backing file's cache instead of the drive)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        size = (args.megabytes * 2 + 512) << 20
        host = ThrowawayHost(Path(tmp) / "host", drive_sizes={"operational": size, "archive": size},
                             direct_io=not args.buffered_drives).start()
        try:
            layout = layout_for(host)
            with Connection(host.access()) as connection:
                prepare(connection, layout)
            staging = Path(tmp) / "staging"
            total = make_files(staging, args.files, args.megabytes << 20)
            op, ar = host.mount_point("operational"), host.mount_point("archive")
            uuid = host.run(f"findmnt -n -o UUID --mountpoint {ar}").stdout.strip()
            config = Path(tmp) / "archive.json"
            config.write_text(
                '{"operational_mount": "%s", "archive_mount": "%s", "archive_filesystem_uuid": "%s", '
                '"directories": ["attachments"], "archive_after_days": 90}' % (op, ar, uuid))
            namespace = ["nsenter", f"--mount=/proc/{host.process.pid}/ns/mnt"]
            runners = {
                "ours": f"python3 {SCRIPT} --config {config}",
                "rsync": f"rsync -a --remove-source-files {op}/attachments/ {ar}/attachments/",
                "rsync_fsync": f"rsync -a --fsync --remove-source-files {op}/attachments/ {ar}/attachments/",
                # The cheapest durable move: rsync, then one sync of the archive filesystem.
                "rsync_then_sync": f"rsync -a --remove-source-files {op}/attachments/ {ar}/attachments/ && sync -f {ar}",
                # The same guarantee as ours, from plain tools: every copy read back from the drive.
                "verified_floor": (f"rsync -a {op}/attachments/ {ar}/attachments/ && "
                                   f"(cd {op}/attachments && find . -type f -print0 | xargs -0 sha256sum) > {tmp}/sums && "
                                   f"sync -f {ar} && echo 1 > /proc/sys/vm/drop_caches && "
                                   f"(cd {ar}/attachments && sha256sum --quiet -c {tmp}/sums) && "
                                   f"find {op}/attachments -type f -delete"),
            }
            seconds: dict[str, list[float]] = {name: [] for name in runners}
            names = list(runners)
            for repeat in range(args.repeats):
                for name in names[repeat % len(names):] + names[:repeat % len(names)]:  # rotating order
                    command = runners[name]
                    reset = host.run(f"rm -rf {ar}/attachments {ar}/.daktela-archive-manifest.jsonl {op}/attachments && "
                                     f"mkdir -p {ar}/attachments && cp -a {staging}/attachments {op}/ && sync")
                    assert reset.returncode == 0, reset.stderr
                    elapsed, result = timed(lambda: subprocess.run([*namespace, "sh", "-c", command],
                                                                   capture_output=True, text=True))
                    assert result.returncode == 0, result.stdout + result.stderr
                    left = host.run(f"find {op}/attachments -type f | wc -l").stdout.strip()
                    assert left == "0", f"{name} left {left} files"
                    seconds[name].append(elapsed)
        finally:
            host.stop()
    throughput = {name: total / median(values) / 1e6 for name, values in seconds.items()}
    save("archival", {
        "files": args.files, "bytes": total, "repeats": args.repeats,
        "seconds_median": {name: round(median(v), 2) for name, v in seconds.items()},
        "seconds_min_max": {name: [round(min(v), 2), round(max(v), 2)] for name, v in seconds.items()},
        "throughput_mb_s": {name: round(v, 1) for name, v in throughput.items()},
        "ratio_ours_to_rsync_throughput": round(throughput["ours"] / throughput["rsync"], 2),
        "ratio_ours_to_rsync_fsync_throughput": round(throughput["ours"] / throughput["rsync_fsync"], 2),
        "ratio_ours_to_rsync_then_sync_throughput": round(throughput["ours"] / throughput["rsync_then_sync"], 2),
        "ratio_verified_floor_to_rsync_then_sync_throughput": round(
            throughput["verified_floor"] / throughput["rsync_then_sync"], 2),
        "ratio_ours_to_verified_floor_throughput": round(throughput["ours"] / throughput["verified_floor"], 2),
        "sha256_mb_s": round(sha256_speed(), 1),
        "drives": "loop devices, buffered" if args.buffered_drives else "loop devices with O_DIRECT (--direct-io=on)",
        "command": f"python bench/archival.py --files {args.files} --megabytes {args.megabytes} --repeats {args.repeats}"
                   + (" --buffered-drives" if args.buffered_drives else ""),
    })


if __name__ == "__main__":
    main()

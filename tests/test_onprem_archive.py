"""The archival job for real: old attachments and recordings move to the archive drive on the test
host; SIGKILL at random moments never leaves a file in neither place; no archive, no move."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from components.templates import TEMPLATES
from components.host.ssh import Connection
from components.host.prepare import prepare
from tests.onprem_fixtures import layout_for

SCRIPT = TEMPLATES / "onprem" / "daktela-archive.py"
DAY = 86400


def setup_files(host, count_old: int = 40, count_new: int = 5) -> dict[str, str]:
    """Old and new files on the operational drive; returns {relative path: sha256} of the old ones."""
    with Connection(host.access()) as connection:
        prepare(connection, layout_for(host))
    staging = host.root / "staging-archive"
    rng = random.Random(7)
    old = {}
    for index in range(count_old + count_new):
        directory = "attachments" if index % 2 else "recordings"
        relative = f"{directory}/2025/{index // 10:02d}/file-{index:03d}.bin"
        content = os.urandom(rng.choice([0, 10, 4096, 70_000, 600_000, 2_000_000]))
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        age = (120 if index < count_old else 10) * DAY
        os.utime(path, (time.time() - age, time.time() - age))
        if index < count_old:
            old[relative] = hashlib.sha256(content).hexdigest()
    copied = host.run(f"cp -a {staging}/. {host.mount_point('operational')}/")
    assert copied.returncode == 0, copied.stderr
    return old


def write_config(host) -> Path:
    uuid = host.run(f"findmnt -n -o UUID --mountpoint {host.mount_point('archive')}").stdout.strip()
    config = host.root / "archive.json"
    config.write_text(json.dumps({
        "operational_mount": host.mount_point("operational"), "archive_mount": host.mount_point("archive"),
        "archive_filesystem_uuid": uuid, "directories": ["attachments", "recordings"], "archive_after_days": 90,
    }))
    return config


def archive_command(host, config: Path, *extra: str) -> list[str]:
    return ["nsenter", f"--mount=/proc/{host.process.pid}/ns/mnt", "python3", str(SCRIPT), "--config", str(config), *extra]


def where(host, old: dict[str, str]) -> dict[str, list[str]]:
    """For each old file: the places holding an intact copy ("operational", "archive")."""
    listing = host.run(
        f"cd {host.mount_point('operational')} && find . -type f -exec sha256sum {{}} + | sed 's/^/operational /'; "
        f"cd {host.mount_point('archive')} && find . -type f -exec sha256sum {{}} + | sed 's/^/archive /'"
    ).stdout
    places: dict[str, list[str]] = {relative: [] for relative in old}
    for line in listing.splitlines():
        place, digest, path = line.split(maxsplit=2)
        relative = path[2:]
        if relative in old:
            assert digest == old[relative], f"{place}/{relative} is damaged"
            places[relative].append(place)
    return places


def test_old_files_move_new_ones_stay_hashes_equal_and_a_manifest_is_kept(test_host):
    old = setup_files(test_host)
    config = write_config(test_host)
    dry = subprocess.run(archive_command(test_host, config, "--dry-run"), capture_output=True, text=True)
    assert dry.returncode == 0 and f"would move {len(old)} file(s)" in dry.stdout
    assert all(p == ["operational"] for p in where(test_host, old).values())

    run = subprocess.run(archive_command(test_host, config), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"moved {len(old)} file(s), kept 5 newer" in run.stdout
    assert all(p == ["archive"] for p in where(test_host, old).values())
    remaining = test_host.run(f"find {test_host.mount_point('operational')}/attachments "
                              f"{test_host.mount_point('operational')}/recordings -type f | wc -l").stdout
    assert int(remaining) == 5
    manifest = test_host.run(f"cat {test_host.mount_point('archive')}/.daktela-archive-manifest.jsonl").stdout
    entries = [json.loads(line) for line in manifest.splitlines()]
    assert len(entries) == len(old)
    assert {e["sha256"] for e in entries} == set(old.values())


def reset(host) -> None:
    """Back to the start: nothing archived, every file on the operational drive again."""
    operational, archive = host.mount_point("operational"), host.mount_point("archive")
    done = host.run(f"rm -rf {archive}/attachments/* {archive}/recordings/* {archive}/.daktela-archive-manifest.jsonl "
                    f"{operational}/attachments/* {operational}/recordings/* && "
                    f"cp -a {host.root}/staging-archive/. {operational}/")
    assert done.returncode == 0, done.stderr


def test_sigkill_at_random_moments_never_loses_a_file(test_host):
    old = setup_files(test_host, count_old=30, count_new=2)
    config = write_config(test_host)
    runs = []
    for _ in range(3):  # a warm run's length (the first pays for cold caches)
        reset(test_host)
        started = time.monotonic()
        assert subprocess.run(archive_command(test_host, config), capture_output=True).returncode == 0
        runs.append(time.monotonic() - started)
    full_run = min(runs)
    rng = random.Random(20261125)
    trials, max_trials = 24, 72
    partial = 0  # trials killed with the work half done: the case that matters
    trial = -1
    while trial + 1 < trials or (partial < 5 and trial + 1 < max_trials):  # on a busy machine, try more
        trial += 1
        reset(test_host)
        process = subprocess.Popen(archive_command(test_host, config), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, full_run))
        process.send_signal(signal.SIGKILL)
        process.wait()
        places = where(test_host, old)
        lost = [relative for relative, found in places.items() if not found]
        assert not lost, f"trial {trial}: files in neither place: {lost}"
        doubled = [relative for relative, found in places.items() if len(found) > 1]
        # Only a batch in flight may be in both places (identical: where() checked every copy).
        assert len({str(Path(d).parent) for d in doubled}) <= 1, f"trial {trial}: {doubled}"
        archived = sum(1 for found in places.values() if "archive" in found)
        partial += 0 < archived < len(old)
        # The next run finishes the job: every file in exactly one place, intact.
        finish = subprocess.run(archive_command(test_host, config), capture_output=True, text=True)
        assert finish.returncode == 0, finish.stdout
        assert all(p == ["archive"] for p in where(test_host, old).values()), f"trial {trial}"
        leftovers = test_host.run(f"find {test_host.mount_point('archive')} -name '.daktela-archiving-*'").stdout
        assert leftovers == ""
    assert partial >= 5, f"only {partial} of {trial + 1} kills landed mid-run; the trial proves little"


def test_refuses_when_the_archive_drive_is_not_mounted(test_host):
    old = setup_files(test_host, count_old=6, count_new=0)
    config = write_config(test_host)
    assert test_host.run(f"umount {test_host.mount_point('archive')}").returncode == 0
    run = subprocess.run(archive_command(test_host, config), capture_output=True, text=True)
    assert run.returncode == 2
    assert "refusing: the archive drive is not mounted" in run.stdout
    assert all(p == ["operational"] for p in where(test_host, old).values())
    under = test_host.run(f"find {test_host.mount_point('archive')} -type f").stdout
    assert under == "", "nothing may land on the root filesystem under the mount point"


def test_refuses_a_different_filesystem_at_the_archive_mount_point(test_host):
    old = setup_files(test_host, count_old=4, count_new=0)
    config = write_config(test_host)
    data = json.loads(config.read_text())
    data["archive_filesystem_uuid"] = "00000000-0000-0000-0000-000000000000"
    config.write_text(json.dumps(data))
    run = subprocess.run(archive_command(test_host, config), capture_output=True, text=True)
    assert run.returncode == 2 and "not the archive drive's" in run.stdout
    assert all(p == ["operational"] for p in where(test_host, old).values())


# Runs the archival with its copies damaged on the drive right after they are made durable, while
# their pages are still in the page cache: a read-back from the cache would find nothing wrong.
DAMAGING_RUN = r'''
import importlib.util, os, re, subprocess, sys
spec = importlib.util.spec_from_file_location("archive", sys.argv[1])
archive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(archive)
device, made_durable = sys.argv[2], archive.durable

def durable_then_damaged(filesystem, paths):
    made_durable(filesystem, paths)
    for path in paths:
        if os.path.getsize(path) < 4096:
            continue
        extents = subprocess.run(["filefrag", "-v", "-b4096", path], capture_output=True, text=True).stdout
        physical = int(re.search(r"^\s*0:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.", extents, re.M).group(1))
        fd = os.open(device, os.O_WRONLY)
        os.pwrite(fd, b"\xde\xad" * 2048, physical * 4096)
        os.fsync(fd)
        os.close(fd)
        print(f"damaged {path}", flush=True)

archive.durable = durable_then_damaged
sys.exit(archive.main(["--config", sys.argv[3]]))
'''


def test_a_copy_the_drive_returns_damaged_is_caught_and_its_source_kept(test_host):
    """Issue 16: the read-back ran before the copies were durable and read the page cache; it
    verified memory, not the drive. Damaged on the drive under an intact cache, every copy is
    caught and its source stays."""
    old = setup_files(test_host, count_old=12, count_new=0)
    config = write_config(test_host)
    wrapper = test_host.root / "damaging-run.py"
    wrapper.write_text(DAMAGING_RUN)
    device = test_host.run(f"findmnt -n -o SOURCE --mountpoint {test_host.mount_point('archive')}").stdout.strip()
    assert device.startswith("/dev/"), device  # the archive filesystem's own device (a partition)
    run = subprocess.run(["nsenter", f"--mount=/proc/{test_host.process.pid}/ns/mnt", "python3", str(wrapper),
                          str(SCRIPT), device, str(config)], capture_output=True, text=True)
    damaged = {line.split("/")[-1].split("-", 3)[-1] for line in run.stdout.splitlines() if line.startswith("damaged ")}
    assert damaged, run.stdout + run.stderr  # the trial damaged something
    assert run.returncode == 1, run.stdout + run.stderr
    failed = {line.split()[3].rstrip(":").rsplit("/", 1)[-1] for line in run.stdout.splitlines()
              if line.startswith("verification failed for ")}
    assert failed == damaged
    places = where(test_host, old)
    for relative, found in places.items():
        assert found == (["operational"] if Path(relative).name in damaged else ["archive"]), relative
    leftovers = test_host.run(f"find {test_host.mount_point('archive')} -name '.daktela-archiving-*'").stdout
    assert leftovers == ""

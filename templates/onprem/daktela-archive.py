#!/usr/bin/env python3
"""Move attachments and recordings older than N days from the operational to the archive drive.

Never loses a file: files are copied in batches to temporary names on the archive drive, made
durable (syncfs), read back from the drive (their pages dropped from the cache first: a cached
read would only prove that memory holds the data) and compared by SHA-256 with the source as it
was read, renamed into
place, the directory fsynced; only then, if a source is unchanged and no process has it open, is
it unlinked. Killed at any
moment, every file is in one place or, for the batch in flight, in both; never in neither. The
next run finishes the job.
Refuses to run unless the archive path is the mounted archive filesystem (never fills the root
filesystem). Keeps a manifest of every move on the archive drive. Needs only Python 3.

    daktela-archive --config /etc/daktela-toolkit/archive.json [--dry-run]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

TEMP_MARK = ".daktela-archiving-"
MANIFEST = ".daktela-archive-manifest.jsonl"
CHUNK = 1 << 20
BATCH_FILES = 1024  # files copied and verified before one rename pass and one directory fsync
BATCH_BYTES = 1 << 30
COPY_WORKERS = 2  # copies, and read-backs, two at a time: hashing releases the GIL


def sha256_of(path: str, from_drive: bool = False) -> str:
    """SHA-256 of the file. `from_drive`: as the drive holds it. Called once the copy is durable,
    when every page of it is clean and nobody maps it: dropping its pages from the cache
    (POSIX_FADV_DONTNEED) makes every read go to the drive, with the kernel's readahead (O_DIRECT
    reads, one request at a time, took 1.6x as long in bench/archival.py)."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        if from_drive:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while True:
            block = handle.read(CHUNK)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def read_back(path: str) -> str:
    return sha256_of(path, from_drive=True)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable(filesystem: str, paths: list[str]) -> None:
    """Make the written copies durable: one syncfs(2) of the archive filesystem flushes them all
    (one journal commit instead of one per file); without syncfs, fsync each."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(filesystem, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_files() -> set[str]:
    """Every file some process has open right now (one pass over /proc, once per batch)."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    found.add(os.readlink(f"{fd_dir}/{fd}"))
                except OSError:
                    continue
        except OSError:
            continue
    return found


def mounted_filesystem_uuid(path: str) -> str | None:
    """The UUID of the filesystem mounted exactly at `path`, or None if nothing is mounted there."""
    device = None
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            mount_point = fields[4].encode().decode("unicode_escape")
            if mount_point == path:
                device = fields[fields.index("-") + 2]
    if device is None:
        return None
    by_uuid = "/dev/disk/by-uuid"
    if os.path.isdir(by_uuid):
        for name in os.listdir(by_uuid):
            if os.path.realpath(os.path.join(by_uuid, name)) == os.path.realpath(device):
                return name
    try:  # no udev: ask blkid
        import subprocess
        out = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", device],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Archiver:
    def __init__(self, config: dict, dry_run: bool, out=sys.stdout):
        self.operational = config["operational_mount"]
        self.archive = config["archive_mount"]
        self.archive_uuid = config["archive_filesystem_uuid"]
        self.directories = config["directories"]  # relative: attachments, recordings
        self.cutoff = time.time() - config["archive_after_days"] * 86400
        self.dry_run = dry_run
        self.out = out
        self.pool = ThreadPoolExecutor(max_workers=COPY_WORKERS)
        self.moved = self.kept = self.conflicts = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def check_archive(self) -> str | None:
        uuid = mounted_filesystem_uuid(self.archive)
        if uuid is None:
            return f"the archive drive is not mounted at {self.archive}; nothing was moved"
        if uuid.lower() != self.archive_uuid.lower():
            return (f"{self.archive} holds filesystem {uuid}, not the archive drive's "
                    f"{self.archive_uuid}; nothing was moved")
        if os.stat(self.archive).st_dev == os.stat(self.operational).st_dev:
            return f"{self.archive} is on the same filesystem as {self.operational}; nothing was moved"
        return None

    def run(self) -> int:
        problem = self.check_archive()
        if problem:
            self.say(f"refusing: {problem}")
            return 2
        for directory in self.directories:
            source_root = os.path.join(self.operational, directory)
            target_root = os.path.join(self.archive, directory)
            if not os.path.isdir(source_root):
                continue
            self.clean_temps(target_root)
            for folder, _, names in os.walk(source_root):
                self.consider_folder(folder, names, source_root, target_root)
        verb = "would move" if self.dry_run else "moved"
        self.say(f"{verb} {self.moved} file(s), kept {self.kept} newer, {self.conflicts} conflict(s)")
        return 1 if self.conflicts else 0

    def clean_temps(self, target_root: str) -> None:
        # A temporary copy is never the only copy: its source is unlinked only after the rename.
        for folder, _, names in os.walk(target_root):
            for name in names:
                if TEMP_MARK in name and not self.dry_run:
                    os.unlink(os.path.join(folder, name))

    def consider_folder(self, folder: str, names: list[str], source_root: str, target_root: str) -> None:
        """Move a folder's old files in batches: copy and verify each (two at a time: copying and
        hashing overlap), then one rename pass and one fsync of the target folder, then the
        unlinks and one fsync of the source folder. A source is unlinked only after its copy's
        rename is durable."""
        work: list[tuple[str, os.stat_result, str]] = []  # source, stat, target
        work_bytes = 0
        for name in sorted(names):
            source = os.path.join(folder, name)
            try:
                before = os.lstat(source)
            except FileNotFoundError:
                continue
            if not os.path.isfile(source) or os.path.islink(source) or before.st_mtime >= self.cutoff:
                self.kept += 1
                continue
            target = os.path.join(target_root, os.path.relpath(source, source_root))
            if self.dry_run:
                self.say(f"would move {source} -> {target}")
                self.moved += 1
                continue
            work.append((source, before, target))
            work_bytes += before.st_size
            if len(work) >= BATCH_FILES or work_bytes >= BATCH_BYTES:
                self.move_batch(work, folder)
                work, work_bytes = [], 0
        if work:
            self.move_batch(work, folder)

    def move_batch(self, work: list[tuple[str, os.stat_result, str]], folder: str) -> None:
        for target in {os.path.dirname(t) for _, _, t in work}:
            os.makedirs(target, exist_ok=True)
        batch = []
        for (source, before, target), (outcome, detail) in zip(work, self.pool.map(self.stage, work)):
            if outcome == "staged":
                batch.append((source, before, detail[0], target, detail[1]))
            else:
                self.say(detail)
                self.conflicts += 1
        if batch:
            self.finish(batch, folder)

    def stage(self, item: tuple[str, os.stat_result, str]) -> tuple[str, Any]:
        """Put one file's verified copy in place under a temporary name (or find it already there)."""
        source, _, target = item
        if os.path.exists(target):
            # Left by a run that stopped after the rename: finish it if the copy is identical.
            digest = read_back(target)
            if digest != sha256_of(source):
                return "conflict", f"conflict: {target} exists with other content; {source} left in place"
            return "staged", (None, digest)
        return "staged", self.copy(source, target)

    def copy(self, source: str, target: str) -> tuple[str, str]:
        """Copy to a temporary name beside the target, hashing the source as it is read. Returns
        (temporary path, sha256 of the source); made durable and read back for the whole batch."""
        temporary = f"{os.path.dirname(target)}/{TEMP_MARK}{os.getpid()}-{os.path.basename(target)}"
        digest = hashlib.sha256()
        with open(source, "rb") as reader, open(temporary, "wb") as writer:
            while True:
                block = reader.read(CHUNK)
                if not block:
                    break
                digest.update(block)
                writer.write(block)
            writer.flush()  # made durable for the whole batch at once: see durable()
        stat = os.stat(source)
        os.utime(temporary, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return temporary, digest.hexdigest()

    def finish(self, batch: list[tuple[str, os.stat_result, str | None, str, str]], source_folder: str) -> None:
        durable(self.archive, [entry[2] for entry in batch if entry[2] is not None])
        batch = self.verified(batch)
        for _, _, temporary, target, _ in batch:
            if temporary is not None:
                os.rename(temporary, target)
        for folder in sorted({os.path.dirname(entry[3]) for entry in batch}):
            fsync_dir(folder)
        open_now = open_files()
        entries, unlinked = [], []
        for source, before, _, target, digest in batch:
            after = os.lstat(source)
            unchanged = (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
            if not unchanged or os.path.realpath(source) in open_now:
                self.say(f"{source} changed or is open; archived copy kept, source left for the next run")
                self.kept += 1
                continue
            entries.append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source": source,
                            "archived": target, "bytes": after.st_size, "sha256": digest})
            unlinked.append(source)
        self.record(entries)
        for source in unlinked:
            os.unlink(source)
        if unlinked:
            fsync_dir(source_folder)
        self.moved += len(unlinked)

    def verified(self, batch: list[tuple[str, os.stat_result, str | None, str, str]]
                 ) -> list[tuple[str, os.stat_result, str | None, str, str]]:
        """The entries whose durable copy reads back from the drive as the source was read; a copy
        that does not is removed and its source left in place."""
        copies = [entry for entry in batch if entry[2] is not None]
        digests = dict(zip((entry[2] for entry in copies), self.pool.map(read_back, [e[2] for e in copies])))
        kept = []
        for entry in batch:
            source, _, temporary, _, digest = entry
            if temporary is not None and digests[temporary] != digest:
                os.unlink(temporary)
                self.say(f"verification failed for {source}: the archive drive returned other content; "
                         "left in place")
                self.conflicts += 1
                continue
            kept.append(entry)
        return kept

    def record(self, entries: list[dict]) -> None:
        if not entries:
            return
        with open(os.path.join(self.archive, MANIFEST), "a") as manifest:
            manifest.writelines(json.dumps(entry, sort_keys=True) + "\n" for entry in entries)
            manifest.flush()
            os.fsync(manifest.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/daktela-toolkit/archive.json")
    parser.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    if config.get("lock_file") and not args.dry_run:
        # The storage meter takes this lock too: it must not count a file on both drives.
        lock = open(config["lock_file"], "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {config['lock_file']} (the storage meter is counting)", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
    return Archiver(config, args.dry_run).run()


if __name__ == "__main__":
    sys.exit(main())

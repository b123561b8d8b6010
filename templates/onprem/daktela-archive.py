#!/usr/bin/env python3
"""Move attachments and recordings older than N days from the operational to the archive drive.

Never loses a file: each one is copied to a temporary name on the archive drive, fsynced, read back
and compared by SHA-256, renamed into place, the directory fsynced; only then, if the source is
unchanged and no process has it open, is the source unlinked. Killed at any moment, every file is
in one place or, for the one in flight, in both; never in neither. The next run finishes the job.
Refuses to run unless the archive path is the mounted archive filesystem (never fills the root
filesystem). Keeps a manifest of every move on the archive drive. Needs only Python 3.

    daktela-archive --config /etc/daktela-toolkit/archive.json [--dry-run]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

TEMP_MARK = ".daktela-archiving-"
MANIFEST = ".daktela-archive-manifest.jsonl"
CHUNK = 1 << 20


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_by_any_process(path: str) -> bool:
    target = os.path.realpath(path)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") == target:
                        return True
                except OSError:
                    continue
        except OSError:
            continue
    return False


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
                for name in sorted(names):
                    self.consider(os.path.join(folder, name), source_root, target_root)
        verb = "would move" if self.dry_run else "moved"
        self.say(f"{verb} {self.moved} file(s), kept {self.kept} newer, {self.conflicts} conflict(s)")
        return 1 if self.conflicts else 0

    def clean_temps(self, target_root: str) -> None:
        # A temporary copy is never the only copy: its source is unlinked only after the rename.
        for folder, _, names in os.walk(target_root):
            for name in names:
                if TEMP_MARK in name and not self.dry_run:
                    os.unlink(os.path.join(folder, name))

    def consider(self, source: str, source_root: str, target_root: str) -> None:
        try:
            before = os.lstat(source)
        except FileNotFoundError:
            return
        if not os.path.isfile(source) or os.path.islink(source) or before.st_mtime >= self.cutoff:
            self.kept += 1
            return
        target = os.path.join(target_root, os.path.relpath(source, source_root))
        if self.dry_run:
            self.say(f"would move {source} -> {target}")
            self.moved += 1
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.exists(target):
            # Left by a run that stopped after the rename: finish it if the copy is identical.
            if sha256_of(target) != sha256_of(source):
                self.say(f"conflict: {target} exists with other content; {source} left in place")
                self.conflicts += 1
                return
            digest = sha256_of(target)
        else:
            digest = self.copy(source, target)
            if digest is None:
                return
        self.remove_source(source, before, target, digest)

    def copy(self, source: str, target: str) -> str | None:
        temporary = f"{os.path.dirname(target)}/{TEMP_MARK}{os.getpid()}-{os.path.basename(target)}"
        digest = hashlib.sha256()
        with open(source, "rb") as reader, open(temporary, "wb") as writer:
            while True:
                block = reader.read(CHUNK)
                if not block:
                    break
                digest.update(block)
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
        stat = os.stat(source)
        os.utime(temporary, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if sha256_of(temporary) != digest.hexdigest():
            os.unlink(temporary)
            self.say(f"verification failed for {source}; left in place")
            self.conflicts += 1
            return None
        os.rename(temporary, target)
        fsync_dir(os.path.dirname(target))
        return digest.hexdigest()

    def remove_source(self, source: str, before: os.stat_result, target: str, digest: str) -> None:
        after = os.lstat(source)
        unchanged = (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
        if not unchanged or open_by_any_process(source):
            self.say(f"{source} changed or is open; archived copy kept, source left for the next run")
            self.kept += 1
            return
        self.record(source, target, after.st_size, digest)
        os.unlink(source)
        fsync_dir(os.path.dirname(source))
        self.moved += 1

    def record(self, source: str, target: str, size: int, digest: str) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source": source,
                 "archived": target, "bytes": size, "sha256": digest}
        with open(os.path.join(self.archive, MANIFEST), "a") as manifest:
            manifest.write(json.dumps(entry, sort_keys=True) + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/daktela-toolkit/archive.json")
    parser.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    return Archiver(config, args.dry_run).run()


if __name__ == "__main__":
    sys.exit(main())

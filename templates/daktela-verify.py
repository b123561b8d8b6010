#!/usr/bin/env python3
"""Verify the backups on this machine: restore drills and deep repository checks.

One program under two names (hosts and instances install both; its config is
/etc/daktela-toolkit/drill.json):

    daktela-restore-drill [--config FILE] [--location N] [--drill NAME]
    daktela-backup-check  [--config FILE] [--location N] [--repository NAME] [--full] [--repaired NOTE]

THE RESTORE DRILL (weekly). Per drill (the config's "drills", each named: location-1 and location-2
on an on-premise host, file-level and database-dump on a cloud instance), in a fresh directory under
the scratch directory (removed afterwards, whatever happens; nothing else is ever written or removed).
It restores every file for real, as a restore would, but never needs room for all of them: a drill
of hundreds of GB runs in a scratch directory of a few GB plus the database part.
A restic repository (kind "restic"):
1. free space: the snapshot's database dump (compressed), the throwaway server (DATABASE_BASE_BYTES)
   and the largest table the last drill loaded must fit, and the dump and a batch of at least
   BATCH_MIN_BYTES (the batches are gone before the server starts), or the drill fails saying how
   much is missing;
2. transfer: the snapshot's tree listed (`restic ls`, twice: directory sizes, then the plan) and cut
   into batches that fit the rest of the free space (plan_batches). Each batch is restored with
   `restic restore --verify --include PATH` (whole packs, several at a time; every blob checked against
   its id, every restored file read back and checked), its files and bytes counted against the
   tree's, and removed before the next; a file larger than half a batch is read with `restic dump`
   of that file instead (checked as it streams, never written). The files and bytes must be the
   snapshot's (`restic stats --mode restore-size`). The database dump ("dump_file") is kept.
   Until 2026-12 the whole snapshot went through one `restic dump --archive tar` stream, which wrote
   nothing; but restic 0.14 fetches a dump blob by blob, one request at a time: 13x slower than a
   restore at 1 GB (BENCHMARKS.md), past the drill's 12 hours at production size;
3. the rest: the dump loaded as below.
A database dump in S3 (kind "dump", the cloud's database-level backup):
1. free space: the dump, the throwaway server and the last drill's largest table must fit;
2. transfer: the newest finished dump downloaded;
3. the rest: the dump loaded as below.
Loading a dump: into a throwaway database server (its own data directory and socket, no network),
one table after another, each checksummed when it is loaded and then dropped (unless the dump has
views, which need their tables: then all stay), so the server holds one table at a time. A dump that
does not load, or loads fewer tables than it creates, fails the drill; a disk that fills fails it
with the kind "space" and the table that did not fit.
The result goes to <status_dir>/drill-<name>.json and to the drill's result URLs.

THE DEEP CHECK (daily). Every restic repository of the drills is split into `verify_cycle_days` parts
(restic's --read-data-subset n/t, by pack id), and each run reads back and verifies the part read
longest ago (a part never read first), so that every pack is read once per cycle while the daily
runs succeed, and a part whose check failed is read again the next day. `--full` reads every part.
It waits for the backup's lock (restic check locks the repository exclusively) and stops before the
next backup starts. The result goes to <status_dir>/check-<name>.json and to the check's result URLs.

DAMAGE STAYS. A drill or check that fails because the repository's data is damaged (ciphertext
verification failed, a pack that does not match its id, a missing index entry: the watchdog's kind
"damage") records `last_damage`, carried forward in every later result of that drill or check, so
the location stays failed however green newer snapshots look, until a repair is recorded:
`daktela-backup-check --location N --full --repaired "what was done"` reads every pack and, only
when all of it verifies, records `last_repair` (docs/restore.md, "Repairing a location").
The installation's checker reads every result: a failed one, damage not repaired since, or none
successful for too long, alarms.

Every restic and aws command runs through the watchdog (config "watchdog", daktela-watchdog): one
that makes no progress for `silence_seconds` is ended, and a failure's cause is one line (restic's
own Fatal line, never a Go trace). Exit 0 only when everything this run did succeeded and was recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import json
import os
import shlex
import shutil
import re
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

SHARE = "/usr/local/sbin/daktela-share"  # on-premise: the hosts' upload into every location
VERIFY_LOCK = "/run/daktela-verify.lock"  # drills and checks of this machine, one at a time
# A throwaway MariaDB's own files before any table: system tables, the redo log (96 MiB in 10.11).
DATABASE_BASE_BYTES = 256 << 20
STREAM_CHUNK = 1 << 20
# The drill's batches (plan_batches): room left free beside a batch for directories and restic's own
# files, the smallest batch worth a restore, the include patterns one restore is given (Linux takes
# 2 MiB of arguments and environment in all).
BATCH_MARGIN_BYTES = 64 << 20
BATCH_MIN_BYTES = 64 << 20
BATCH_PATTERN_BYTES = 512 << 10
DRILL_MAX_SECONDS = 12 * 3600
CHECK_STOPS_BEFORE_BACKUP_SECONDS = 300


class Failed(Exception):
    """A drill or check failed; the message says why in one line, `kind` what it means (the watchdog's)."""

    def __init__(self, message: str, kind: str = "failed"):
        super().__init__(message)
        self.kind = kind


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_env(path: str) -> dict[str, str]:
    """KEY='value' lines as the backup job writes them (shell-quoted)."""
    values = {}
    with open(path) as handle:
        for line in handle:
            if "=" in line:
                key, _, value = line.strip().partition("=")
                values[key] = shlex.split(value)[0] if value else ""
    return values


def run(command: list[str], env: dict[str, str], what: str, timeout: Optional[int] = None) -> str:
    """A local command (no network): its last line of error output is the cause."""
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise Failed(f"{what} failed (exit code {result.returncode}): {detail}")
    return result.stdout


def watched_cause(cause_file: str, stderr: str, otherwise: str) -> tuple[str, str]:
    """(cause, kind) of a watched command that failed: the watchdog's cause file, else the last line
    it or its command wrote to standard error."""
    try:
        found = json.loads(open(cause_file).read() or "{}")
    except (OSError, ValueError):
        found = {}
    return (found.get("cause") or (stderr.strip().splitlines() or [otherwise])[-1],
            found.get("kind", "failed"))


class Network:
    """Runs the network commands through the watchdog: deadlines, and the cause in one line."""

    def __init__(self, config: dict[str, Any], env: dict[str, str]):
        self.watchdog = config.get("watchdog", "/usr/local/sbin/daktela-watchdog")
        self.silence = str(config.get("silence_seconds", 180))
        self.env = env

    def __call__(self, command: list[str], what: str, until: Optional[float] = None) -> str:
        with tempfile.TemporaryDirectory(prefix="daktela-cause-") as directory:
            cause = os.path.join(directory, "cause.json")
            watched = [self.watchdog, "--what", what, "--silence", self.silence, "--cause-file", cause]
            if until is not None:
                watched += ["--until", str(int(until))]
            result = subprocess.run([*watched, "--", *command], capture_output=True, text=True, env=self.env)
            if result.returncode == 0:
                return result.stdout
            said, kind = watched_cause(cause, result.stderr, "no output")
        raise Failed(f"{what} failed: {said}", kind)

    def stream(self, command: list[str], what: str, consume: Any) -> Any:
        """The command's output read by `consume(pipe)` as it comes; its failure (the watchdog's cause)
        outranks whatever the consumer made of a stream that ended early."""
        with tempfile.TemporaryDirectory(prefix="daktela-cause-") as directory:
            cause, errors = os.path.join(directory, "cause.json"), os.path.join(directory, "stderr")
            watched = [self.watchdog, "--what", what, "--silence", self.silence, "--cause-file", cause,
                       "--stdout", "pass"]
            with open(errors, "wb") as stderr:
                process = subprocess.Popen([*watched, "--", *command], stdout=subprocess.PIPE, stderr=stderr,
                                           env=self.env)
            assert process.stdout is not None
            consumed, problem = None, None
            try:
                consumed = consume(process.stdout)
            except (Failed, OSError, EOFError, ValueError) as error:
                problem = error
                process.kill()  # the watchdog: it ends its command with it
            finally:
                process.stdout.close()
            code = process.wait()
            if code == 0 and problem is None:
                return consumed
            said, kind = watched_cause(cause, open(errors, errors="replace").read(), "")
        if code not in (0, -9) and said:
            raise Failed(f"{what} failed: {said}", kind)
        if isinstance(problem, Failed):
            raise problem
        raise Failed(f"{what}: the stream could not be read: {problem or said}")


@contextlib.contextmanager
def locked(paths: list[str], until: float) -> Iterator[None]:
    """Hold these locks (waiting for whoever holds them, at most until `until`)."""
    handles = []
    try:
        for path in paths:
            handle = open(path, "a")
            handles.append(handle)
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.time() >= until:
                        raise Failed(f"{path} stayed locked (a backup, drill or check still runs): not started "
                                     "this time") from None
                    time.sleep(5)
        yield
    finally:
        for handle in handles:
            handle.close()


class Drill:
    def __init__(self, config: dict[str, Any], source: dict[str, Any], env: dict[str, str]):
        self.config, self.source = config, source
        self.env = {**os.environ, **env, "RESTIC_FROM_PASSWORD": env.get("RESTIC_PASSWORD", "")}
        self.network = Network(config, self.env)

    def restic(self, *args: str, what: str) -> str:
        return self.network(["restic", *args], f"{self.source['name']}: {what}")

    def room(self, work: str, needed: int) -> None:
        free = shutil.disk_usage(work).free
        if free < needed:
            raise Failed(
                f"not enough space in {self.config['scratch_dir']} (restore_drill.scratch_dir): the drill "
                f"needs {needed / 1e9:.1f} GB, {free / 1e9:.1f} GB are free", "space")

    def run(self, work: str) -> dict[str, Any]:
        return self.run_dump(work) if self.source.get("kind") == "dump" else self.run_restic(work)

    def run_restic(self, work: str) -> dict[str, Any]:
        source = self.source
        password_into(self.config, self.env)
        self.env["RESTIC_FROM_PASSWORD"] = self.env.get("RESTIC_PASSWORD", "")
        remote = ["-r", source["repository"], "-o", f"s3.region={source['region']}"]
        listed = self.restic(*remote, "snapshots", "--json", "--latest", "1", "--host", self.config["installation_id"],
                             what="listing the location's snapshots")
        snapshots = json.loads(listed or "[]")
        if not snapshots:
            raise Failed("the location has no snapshot of this installation")
        snapshot = max(snapshots, key=lambda s: s["time"])
        result: dict[str, Any] = {"snapshot": snapshot["id"], "snapshot_time": snapshot["time"]}
        expected = json.loads(self.restic(*remote, "stats", snapshot["id"], "--json", "--mode", "restore-size",
                                          what="sizing the restore"))
        dump_bytes = 0
        if source.get("dump_file"):
            found = [json.loads(line) for line in self.restic(
                *remote, "ls", "--json", snapshot["id"], source["dump_file"], what="sizing the database dump").splitlines()
                if line.strip()]
            dump_bytes = sum(n.get("size", 0) for n in found if n.get("path") == source["dump_file"])
            self.room(work, dump_bytes + self.database_room())
        spool = os.path.join(work, "dump.sql.gz")
        started = time.monotonic()
        counted = self.restore_files(remote, snapshot["id"], work, dump_bytes, spool)
        if counted["bytes"] != expected["total_size"]:
            raise Failed(f"the snapshot's files hold {expected['total_size']} bytes and {counted['bytes']} arrived",
                         "damage")
        result.update(counted)
        result["transfer_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        if source.get("dump_file"):
            if not os.path.exists(spool):
                raise Failed(f"the snapshot has no database dump at {source['dump_file']}")
            result["database"] = self.load_dump(spool, os.path.join(work, "database"))
        result["rest_seconds"] = round(time.monotonic() - started, 1)
        return result

    def restore_files(self, remote: list[str], snapshot: str, work: str, dump_bytes: int,
                      spool: str) -> dict[str, int]:
        """Every file of the snapshot restored and verified (`restic restore --verify`) in batches
        that fit the scratch space, each counted and removed before the next; a file too large for a
        batch streamed (`restic dump` of that file) and counted, never written. The database dump
        is kept in `spool` (its room is reserved). See plan_batches."""
        label = self.source["name"]
        # The batches come and go before the database is loaded: they share its room, not the dump's.
        budget = shutil.disk_usage(work).free - dump_bytes - BATCH_MARGIN_BYTES
        if budget < BATCH_MIN_BYTES:
            raise Failed(
                f"not enough space in {self.config['scratch_dir']} (restore_drill.scratch_dir): the drill "
                f"needs {(BATCH_MIN_BYTES - budget) / 1e9:.1f} GB more for its batches", "space")
        ls = ["restic", *remote, "ls", "--json", snapshot]
        tree = self.network.stream(ls, f"{label}: reading the snapshot's tree", lambda pipe: Tree.read(nodes(pipe)))
        plan = self.network.stream(ls, f"{label}: planning the restore's batches",
                                   lambda pipe: plan_batches(nodes(pipe), tree, budget))
        wanted = self.source.get("dump_file") or None
        files = size = 0
        target = os.path.join(work, "files")
        for number, batch in enumerate(plan.batches, 1):
            self.network(["restic", *remote, "restore", snapshot, "--target", target, "--verify",
                          *(f"--include={escaped(path)}" for path in batch.paths)],
                         f"{label}: restoring and verifying files (batch {number} of {len(plan.batches)})")
            found = counted_files(target)
            if wanted and os.path.lexists(target + wanted):  # counted already
                os.replace(target + wanted, spool)
            shutil.rmtree(target)
            if found != (batch.files, batch.bytes):
                raise Failed(f"batch {number} of {len(plan.batches)} ({batch.paths[0]} to {batch.paths[-1]}) "
                             f"restored {found[0]} files and {found[1]} bytes, the snapshot holds {batch.files} "
                             f"and {batch.bytes}", "damage")
            files, size = files + found[0], size + found[1]
        for path, expected in plan.streamed:
            streamed = self.network.stream(["restic", *remote, "dump", snapshot, path],
                                           f"{label}: reading {path}",
                                           lambda pipe: drained(pipe, spool if path == wanted else None))
            if streamed != expected:
                raise Failed(f"{path} holds {expected} bytes in the snapshot and {streamed} arrived", "damage")
            files, size = files + 1, size + streamed
        if files != tree.files:
            raise Failed(f"the snapshot holds {tree.files} files and {files} were restored", "damage")
        return {"files": files, "directories": tree.directories, "bytes": size,
                "batches": len(plan.batches), "streamed_files": len(plan.streamed)}

    def database_room(self) -> int:
        """What loading a dump needs besides the dump: the server and the largest table loaded last time."""
        previous = previous_result(self.config, "drill", self.source["name"])
        largest = (previous.get("database") or {}).get("largest_table_bytes") or 0
        return DATABASE_BASE_BYTES + int(largest)

    def run_dump(self, work: str) -> dict[str, Any]:
        """The newest finished dump of the bucket's prefix, downloaded, loaded and checksummed."""
        source = self.source
        aws = ["aws", "--region", source["region"], "--output", "json", "--cli-connect-timeout", "30",
               "--cli-read-timeout", str(self.network.silence)]
        listed = json.loads(self.network([*aws, "s3api", "list-objects-v2", "--bucket", source["bucket"],
                                           "--prefix", source["prefix"]], f"{source['name']}: listing the database dumps")
                            or "{}")
        dumps = [o for o in listed.get("Contents") or [] if o["Key"].endswith(source["suffix"])]
        if not dumps:
            raise Failed(f"s3://{source['bucket']}/{source['prefix']} holds no finished database dump")
        newest = max(dumps, key=lambda o: (o["LastModified"], o["Key"]))
        result: dict[str, Any] = {"dump": newest["Key"], "dump_time": newest["LastModified"],
                                  "dump_bytes": newest["Size"]}
        self.room(work, int(newest["Size"]) + self.database_room())
        local = os.path.join(work, "dump" + source["suffix"])
        started = time.monotonic()
        self.network([*aws, "s3", "cp", "--only-show-errors", f"s3://{source['bucket']}/{newest['Key']}", local],
                     f"{source['name']}: downloading the newest database dump")
        result["transfer_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        result["database"] = self.load_dump(local, os.path.join(work, "database"))
        result["rest_seconds"] = round(time.monotonic() - started, 1)
        return result

    def load_dump(self, dump: str, directory: str) -> dict[str, Any]:
        """Load the dump into a throwaway server, one table at a time: each checksummed as soon as it
        is loaded, then dropped (unless the dump has views), so the server never holds more than one."""
        if not os.path.exists(dump):
            raise Failed(f"the snapshot has no database dump at {self.source.get('dump_file')}")
        created, views = 0, False
        with gzip.open(dump, "rb") as handle:
            for line in handle:
                if line.startswith(b"CREATE TABLE "):
                    created += 1
                elif line.startswith((b"/*!50001 VIEW ", b"CREATE VIEW ")) or b"ALGORITHM=" in line[:40]:
                    views = True
        server = DatabaseServer(directory, self.config["database_engine"])
        with server:
            name = self.config["database_name"]
            server.sql(f"CREATE DATABASE `{name}`")
            loaded = Loader(server, name, keep=views).load(dump)
        if len(loaded["checksums"]) != created:
            raise Failed(f"the dump creates {created} tables, {len(loaded['checksums'])} loaded")
        return {"tables": created, **loaded, "tables_kept": views}


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def nodes(pipe: Any) -> Iterator[tuple[str, str, int]]:
    """(type, path, size) of every node `restic ls --json` lists, in its order (the tree's, depth
    first); size is a file's, 0 for anything else."""
    for line in pipe:
        node = json.loads(line)
        if node.get("struct_type") == "node":
            kind = node["type"]
            yield kind, node["path"], int(node.get("size") or 0) if kind == "file" else 0


class Tree:
    """The snapshot's directories, from a first pass over `restic ls --json`: for each directory,
    [bytes, entries that are not directories, largest file] of everything under it. Memory grows
    with the directories, not the files."""

    def __init__(self) -> None:
        self.subtree: dict[str, list[int]] = {"/": [0, 0, 0]}
        self.directories = 0

    @property
    def files(self) -> int:
        return self.subtree["/"][1]

    @property
    def bytes(self) -> int:
        return self.subtree["/"][0]

    @classmethod
    def read(cls, entries: Iterator[tuple[str, str, int]]) -> "Tree":
        tree = cls()
        subtree = tree.subtree
        for kind, path, size in entries:
            if kind == "dir":
                subtree.setdefault(path, [0, 0, 0])
                tree.directories += 1
                continue
            totals = subtree.setdefault(parent_of(path), [0, 0, 0])
            totals[0] += size
            totals[1] += 1
            totals[2] = max(totals[2], size)
        for path in sorted(subtree, key=lambda p: p.count("/") if p != "/" else 0, reverse=True):
            if path != "/":
                child, parent = subtree[path], subtree.setdefault(parent_of(path), [0, 0, 0])
                parent[0] += child[0]
                parent[1] += child[1]
                parent[2] = max(parent[2], child[2])
        return tree


class Batch:
    """Paths restored by one `restic restore --include PATH --include PATH`: whole subtrees and single entries."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.bytes = self.files = self.pattern_bytes = 0


class Plan:
    def __init__(self, batches: list[Batch], streamed: list[tuple[str, int]]):
        self.batches, self.streamed = batches, streamed


def plan_batches(entries: Iterator[tuple[str, str, int]], tree: Tree, budget: int) -> Plan:
    """The snapshot cut into restores of at most `budget` bytes each, in the tree's order (so that a
    batch reads packs the backup wrote together). A directory whose subtree fits whole and holds no
    large file is one path; one that does not is split into its entries. A file larger than half the
    budget is streamed instead (restic dump of that file: it is read and checked, never written),
    so that no batch is left nearly empty beside it. Every entry is covered exactly once: by its
    own path, or by the one path of the largest directory above it that fits whole."""
    large = budget // 2
    split = {path for path, (size, _, largest) in tree.subtree.items() if size > budget or largest > large}
    split.add("/")
    batches, streamed, current = [], [], Batch()
    for kind, path, size in entries:
        if parent_of(path) not in split or path in split:
            continue
        if kind == "dir":
            size, files = tree.subtree[path][0], tree.subtree[path][1]
        elif size > large:
            streamed.append((path, size))
            continue
        else:
            files = 1
        pattern = len(path) + len("--include=") + 8
        if current.paths and (current.bytes + size > budget or current.pattern_bytes + pattern > BATCH_PATTERN_BYTES):
            batches.append(current)
            current = Batch()
        current.paths.append(path)
        current.bytes, current.files = current.bytes + size, current.files + files
        current.pattern_bytes += pattern
    if current.paths:
        batches.append(current)
    return Plan(batches, streamed)


def escaped(path: str) -> str:
    """`path` as a restic include pattern that matches it alone: Go's filepath.Match specials escaped."""
    return re.sub(r"([\\*?\[])", r"\\\1", path)


def counted_files(top: str) -> tuple[int, int]:
    """(entries that are not directories, bytes of the regular files) under `top`, links not followed."""
    files = size = 0
    pending = [top] if os.path.isdir(top) else []
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                files += 1
                if entry.is_file(follow_symlinks=False):
                    size += entry.stat(follow_symlinks=False).st_size
    return files, size


def drained(pipe: Any, keep: Optional[str]) -> int:
    """The bytes a stream holds, read to its end (and written to `keep`, when given)."""
    size = 0
    with open(keep, "wb") if keep else contextlib.nullcontext() as out:
        while chunk := pipe.read(STREAM_CHUNK):
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    return size


def table_name(line: bytes) -> bytes:
    """The table a CREATE TABLE line creates: `name` as mysqldump writes it, or a bare name."""
    rest = line[len(b"CREATE TABLE "):].lstrip()
    if rest.upper().startswith(b"IF NOT EXISTS "):
        rest = rest[len(b"IF NOT EXISTS "):].lstrip()
    if rest.startswith(b"`"):
        return rest[1:].split(b"`", 1)[0]
    return rest.split(b"(", 1)[0].split()[0]


class Loader:
    """One client of the throwaway server fed the dump line by line; before each table's CREATE
    TABLE (and at the end) the table before it is checksummed and, unless `keep`, dropped. A thread
    samples the database directory's size: its peak is the largest table (what the next drill
    makes room for)."""

    def __init__(self, server: "DatabaseServer", name: str, keep: bool):
        self.server, self.name, self.keep = server, name, keep
        self.directory = os.path.join(server.data, name)
        self.peak = 0
        self.done = threading.Event()

    def finish(self, table: bytes) -> bytes:
        statements = b"CHECKSUM TABLE `" + table + b"` EXTENDED;\n"
        return statements + (b"" if self.keep else b"DROP TABLE `" + table + b"`;\n")

    def sample(self) -> None:
        while not self.done.wait(1.0):
            try:
                used = sum(entry.stat().st_blocks * 512 for entry in os.scandir(self.directory))
            except OSError:
                continue
            self.peak = max(self.peak, used)

    def load(self, dump: str) -> dict[str, Any]:
        client = subprocess.Popen([*self.server.client(), "--batch", "--skip-column-names", self.name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert client.stdin is not None and client.stdout is not None and client.stderr is not None
        said: dict[str, bytes] = {}

        def drain(stream: Any, key: str) -> None:
            said[key] = stream.read()

        readers = [threading.Thread(target=drain, args=(client.stdout, "out"), daemon=True),
                   threading.Thread(target=drain, args=(client.stderr, "err"), daemon=True),
                   threading.Thread(target=self.sample, daemon=True)]
        for reader in readers:
            reader.start()
        table: Optional[bytes] = None
        try:
            with gzip.open(dump, "rb") as handle:
                for line in handle:
                    if line.startswith(b"CREATE TABLE "):
                        if table is not None:
                            client.stdin.write(self.finish(table))
                        table = table_name(line)
                    client.stdin.write(line)
            if table is not None:
                client.stdin.write(self.finish(table))
            client.stdin.close()
        except BrokenPipeError:  # the client stopped at an error: its own message says which
            pass
        except (OSError, EOFError, zlib.error) as error:
            client.kill()
            raise Failed(f"the database dump cannot be read: {error}") from None
        finally:
            code = client.wait()
            self.done.set()
            for reader in readers:
                reader.join()
        if code != 0:
            detail = (said.get("err") or b"").decode(errors="replace").strip().splitlines() or ["no output"]
            if " is full" in detail[-1] or "(errno: 28" in detail[-1] or "No space left" in detail[-1]:
                raise Failed(f"not enough space in {self.server.directory} (restore_drill.scratch_dir) to load "
                             f"the dump: {detail[-1]}", "space")
            raise Failed(f"the database dump does not load: {detail[-1]}")
        checksums = {}
        for row in (said.get("out") or b"").decode(errors="replace").splitlines():
            qualified, _, value = row.rpartition("\t")
            if value in ("", "NULL"):
                raise Failed(f"table {qualified} could not be checksummed")
            checksums[qualified.split(".", 1)[1]] = int(value)
        return {"checksums": checksums, "largest_table_bytes": self.peak}


def password_into(config: dict[str, Any], env: dict[str, str]) -> None:
    """The cloud instance: the repository password from SSM with the instance's role."""
    if not env.get("RESTIC_PASSWORD") and config.get("password_command"):
        password = Network(config, dict(os.environ))(config["password_command"], "reading the repository password")
        env["RESTIC_PASSWORD"] = password.rstrip("\n")


class DatabaseServer:
    """A database server of its own: own data directory and socket, no network, root by socket."""

    def __init__(self, directory: str, engine: str):
        self.directory, self.engine = directory, engine
        # a socket's path may have 107 bytes at most: its own short directory, not the scratch one
        self.socket_dir = tempfile.mkdtemp(prefix="daktela-drill-", dir="/run" if os.path.isdir("/run") else None)
        self.socket = os.path.join(self.socket_dir, "server.sock")
        self.data = os.path.join(directory, "data")
        # A temporary directory of its own: a starting server deletes every `#sql*` file in its
        # tmpdir, and the default (/tmp) is where the customer's running server keeps the files of
        # its temporary tables.
        self.tmp = os.path.join(directory, "tmp")
        self.process: Optional[subprocess.Popen] = None

    def binary(self, *names: str) -> str:
        for name in names:
            found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")
            if found:
                return found
        raise Failed(f"no {' or '.join(names)} on this host: the dump cannot be test-loaded; install "
                     + ("mariadb-server" if self.engine == "mariadb" else "mysql-server"))

    def __enter__(self) -> "DatabaseServer":
        os.makedirs(self.tmp, exist_ok=True)
        log = os.path.join(self.directory, "server.log")
        if self.engine == "mariadb":
            server = self.binary("mariadbd", "mysqld")
            install = [self.binary("mariadb-install-db", "mysql_install_db"), "--no-defaults",
                       f"--datadir={self.data}", "--auth-root-authentication-method=socket", "--skip-test-db",
                       "--user=root", f"--tmpdir={self.tmp}"]
        else:
            server = self.binary("mysqld")
            install = [server, "--no-defaults", "--initialize-insecure", f"--datadir={self.data}", "--user=root",
                       f"--tmpdir={self.tmp}"]
        run(install, dict(os.environ), "initialising the throwaway database server", timeout=600)
        self.process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}", "--skip-networking",
             "--user=root", f"--tmpdir={self.tmp}", f"--pid-file={os.path.join(self.directory, 'server.pid')}", f"--log-error={log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                lines = open(log, errors="replace").read().splitlines() if os.path.exists(log) else []
                errors = [line for line in lines if "[ERROR]" in line and "Aborting" not in line] or lines[-1:]
                self.__exit__(None, None, None)
                raise Failed("the throwaway database server did not start: "
                             + (" / ".join(errors[:3]) if errors else "no log"))
            time.sleep(0.2)
        return self

    def client(self) -> list[str]:
        return [self.binary("mariadb", "mysql"), "--no-defaults", f"--socket={self.socket}", "--user=root"]

    def ready(self) -> bool:
        return os.path.exists(self.socket) and subprocess.run(
            [*self.client(), "-e", "SELECT 1"], capture_output=True).returncode == 0

    def sql(self, statement: str) -> str:
        return run([*self.client(), "--batch", "--skip-column-names", "-e", statement], dict(os.environ),
                   f"the throwaway database server ({statement.split()[0]})")

    def __exit__(self, *exc: Any) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


# -- results -------------------------------------------------------------------------------------

def previous_result(config: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    path = os.path.join(config["status_dir"], f"{kind}-{name}.json")
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def record(config: dict[str, Any], kind: str, name: str, outcome: dict[str, Any], urls: list[dict[str, str]]) -> bool:
    """The result, locally and into every configured cloud location; True when at least one took it."""
    path = os.path.join(config["status_dir"], f"{kind}-{name}.json")
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(outcome, handle, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)
    if config.get("uploader") == "aws":  # the cloud instance: its role's credentials, awscli
        stored = 0
        for url in urls:
            sent = subprocess.run(["aws", "--region", url["region"], "--cli-connect-timeout", "15",
                                   "--cli-read-timeout", "30", "s3", "cp", "--only-show-errors", path, url["url"]],
                                  capture_output=True, text=True)
            if sent.returncode == 0:
                stored += 1
            else:
                print(f"the {kind} result of {name} could not be stored as {url['url']}: "
                      f"{(sent.stderr.strip().splitlines() or ['no output'])[-1]}", file=sys.stderr)
        return stored > 0 or not urls
    targets = [part for url in urls for part in (url["region"], url["url"])]
    shared = subprocess.run([SHARE, path, f"the {kind} result of {name}", *targets], capture_output=True, text=True)
    sys.stderr.write(shared.stderr)
    return shared.returncode in (0, 1)  # 1: some location did not take it, 2: none did


def carried(outcome: dict[str, Any], previous: dict[str, Any], error: Optional[Failed]) -> None:
    """What every result carries forward: the last success, and damage found (until a repair)."""
    outcome["last_success"] = outcome["time"] if outcome["result"] == "success" else previous.get("last_success")
    damage = previous.get("last_damage")
    if error is not None and error.kind == "damage":
        damage = {"time": outcome["time"], "cause": str(error)}
    if damage:
        outcome["last_damage"] = damage
    if previous.get("last_repair") and "last_repair" not in outcome:
        outcome["last_repair"] = previous["last_repair"]


def drill(config: dict[str, Any], source: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], bool]:
    outcome: dict[str, Any] = {"installation": config["installation_id"], "drill": source["name"],
                               "kind": "restore-drill"}
    os.makedirs(config["scratch_dir"], exist_ok=True)
    work = tempfile.mkdtemp(prefix="drill-", dir=config["scratch_dir"])  # the only place written to
    error: Optional[Failed] = None
    try:
        with locked([config.get("verify_lock", VERIFY_LOCK)], time.time() + DRILL_MAX_SECONDS / 2):
            outcome.update(Drill(config, source, env).run(work))
        outcome["result"] = "success"
    except Failed as failure:
        error = failure
    except (subprocess.TimeoutExpired, ValueError, KeyError, OSError) as failure:
        error = Failed(f"{type(failure).__name__}: {failure}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if error is not None:
        outcome.update(result="failed", error=str(error), error_kind=error.kind)
    outcome["time"] = now()
    previous = previous_result(config, "drill", source["name"])
    carried(outcome, previous, error)
    if outcome["result"] == "success":
        outcome["last_success_seconds"] = {"transfer": outcome["transfer_seconds"], "rest": outcome["rest_seconds"]}
        # what a restore of this snapshot is compared with (docs/restore.md, the runbook's step 6)
        if isinstance(outcome.get("database"), dict):
            outcome["last_success_checksums"] = {"snapshot": outcome.get("snapshot"),
                                                 "checksums": outcome["database"].get("checksums", {})}
    else:
        for kept in ("last_success_seconds", "last_success_checksums"):
            if previous.get(kept):
                outcome[kept] = previous[kept]
    return outcome, record(config, "drill", source["name"], outcome, source["result_urls"])


# -- the deep check ------------------------------------------------------------------------------

def next_backup(config: dict[str, Any], after: datetime) -> Optional[datetime]:
    """The next start of a backup of these repositories (the check must be done by then)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(config.get("timezone") or "UTC")
    local = after.astimezone(zone)
    starts = []
    for text in config.get("backup_times", []):
        hour, minute = (int(part) for part in text.split(":"))
        for day in (0, 1):
            start = (local + timedelta(days=day)).replace(hour=hour, minute=minute, second=0, microsecond=0)
            if start > local:
                starts.append(start)
    return min(starts).astimezone(timezone.utc) if starts else None


def part_to_read(parts: dict[str, str], cycle: int) -> int:
    """The part read longest ago; a part never read first (the lowest number)."""
    return min(range(1, cycle + 1), key=lambda k: (str(k) in parts, parts.get(str(k), ""), k))


def check(config: dict[str, Any], source: dict[str, Any], env: dict[str, str], full: bool = False,
          repaired: Optional[str] = None) -> tuple[dict[str, Any], bool]:
    name, cycle = source["name"], int(config.get("verify_cycle_days", 30))
    previous = previous_result(config, "check", name)
    parts: dict[str, str] = dict(previous.get("parts") or {}) if previous.get("cycle_days") == cycle else {}
    started = now()
    part = None if full else part_to_read(parts, cycle)
    outcome: dict[str, Any] = {"installation": config["installation_id"], "repository": name, "kind": "check",
                               "cycle_days": cycle, "part": "all" if full else f"{part}/{cycle}",
                               "first_check": previous.get("first_check") or started}
    upcoming = next_backup(config, datetime.now(timezone.utc))
    until = (upcoming.timestamp() - CHECK_STOPS_BEFORE_BACKUP_SECONDS) if upcoming else time.time() + DRILL_MAX_SECONDS
    error: Optional[Failed] = None
    environment = {**os.environ, **env}
    network = Network(config, environment)
    what = f"{name} (check {outcome['part']})"
    try:
        if until - time.time() < 60 and upcoming is not None:
            raise Failed(f"the next backup starts at {upcoming:%H:%M} UTC: no time for a check before it", "deadline")
        password_into(config, environment)
        remote = ["restic", "-r", source["repository"], "-o", f"s3.region={source['region']}"]
        with locked([config.get("verify_lock", VERIFY_LOCK), config["backup_lock"]], until):
            # a run ended by its deadline leaves its lock behind; unlock removes only stale ones
            network([*remote, "unlock"], what)
            subset = ["--read-data"] if full else [f"--read-data-subset={part}/{cycle}"]
            network([*remote, "check", *subset], what, until=until)
        outcome["result"] = "success"
    except Failed as failure:
        error = failure
        outcome.update(result="failed", error=str(failure), error_kind=failure.kind)
    outcome["time"] = now()
    if error is None:
        for k in (range(1, cycle + 1) if full else [part]):
            parts[str(k)] = started
        if repaired is not None:
            outcome["last_repair"] = {"time": outcome["time"], "note": repaired}
    outcome["parts"] = parts
    outcome["oldest_part_read"] = min([parts.get(str(k), outcome["first_check"]) for k in range(1, cycle + 1)])
    carried(outcome, previous, error)
    return outcome, record(config, "check", name, outcome, source.get("check_result_urls", []))


# -- the two programs ----------------------------------------------------------------------------

def summary(outcome: dict[str, Any]) -> str:
    parts = []
    if "snapshot" in outcome:
        parts.append(f"snapshot {outcome['snapshot']}: {outcome['files']} files and {outcome['directories']} "
                     "directories restored and verified")
    if "dump" in outcome:
        parts.append(f"dump {outcome['dump']} downloaded")
    if "database" in outcome:
        parts.append(f"{outcome['database']['tables']} tables loaded and checksummed")
    return ", ".join(parts)


def damaged(outcome: dict[str, Any]) -> Optional[str]:
    damage, repair = outcome.get("last_damage"), outcome.get("last_repair")
    if damage and (not repair or repair["time"] < damage["time"]):
        return f"damage found {damage['time']} and not repaired since: {damage['cause']}"
    return None


def main(argv: Optional[list[str]] = None, program: Optional[str] = None) -> int:
    program = program or os.path.basename(sys.argv[0])
    checking = program.startswith("daktela-backup-check")
    parser = argparse.ArgumentParser(prog=program, description=(
        "Deep check of the backup repositories: one part a day, every pack within the cycle" if checking
        else "Restore drill: restore each backup's newest state on this machine, verify it, time it"))
    parser.add_argument("--config", default="/etc/daktela-toolkit/drill.json")
    parser.add_argument("--location", type=int, help="only this location (on-premise)")
    if checking:
        parser.add_argument("--repository", help="only this repository (e.g. file-level)")
        parser.add_argument("--full", action="store_true", help="read every part of the repository now")
        parser.add_argument("--repaired", metavar="NOTE",
                            help="with --full: record a repair (what was done) when every pack verifies")
    else:
        parser.add_argument("--drill", help="only this drill (e.g. database-dump)")
    args = parser.parse_args(argv)
    if checking and args.repaired is not None and not args.full:
        parser.error("--repaired needs --full: a repair is recorded only when every pack verifies")
    with open(args.config) as handle:
        config = json.load(handle)
    wanted = f"location-{args.location}" if args.location else (args.repository if checking else args.drill)
    env = read_env(config["env_file"]) if config.get("env_file") else {}
    os.makedirs(config["status_dir"], mode=0o700, exist_ok=True)
    failed = 0
    sources = [s for s in config["drills"] if (not checking or s.get("kind", "restic") == "restic")
               and (not wanted or s["name"] == wanted)]
    if wanted and not sources:
        parser.error(f"{wanted} is not one of this machine's {'repositories' if checking else 'drills'}: "
                     + ", ".join(s["name"] for s in config["drills"]))
    for source in sources:
        if checking:
            outcome, recorded = check(config, source, env, args.full, args.repaired)
            line = (f"{source['name']}: part {outcome['part']} read back and verified" if outcome["result"] == "success"
                    else f"{source['name']}: CHECK FAILED: {outcome['error']}")
            if outcome["result"] == "success" and args.repaired is not None:
                line += f"; repair recorded ({args.repaired})"
        else:
            outcome, recorded = drill(config, source, env)
            line = (f"{source['name']}: {summary(outcome)}; transfer {outcome['transfer_seconds']} s "
                    f"(connectivity, not counted toward the SLA), the rest {outcome['rest_seconds']} s"
                    if outcome["result"] == "success" else f"{source['name']}: DRILL FAILED: {outcome['error']}")
        still = damaged(outcome)
        good = outcome["result"] == "success" and still is None and recorded
        print(line, file=sys.stdout if outcome["result"] == "success" else sys.stderr)
        if still:
            print(f"{source['name']}: {still}; see docs/restore.md, Repairing a location", file=sys.stderr)
        if not recorded:
            print(f"{source['name']}: the result could not be recorded in any location", file=sys.stderr)
        failed |= not good
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())

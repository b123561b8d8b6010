#!/usr/bin/env python3
"""Restore drill: restore each backup's newest state on this machine, verify it, time it.

Per drill (the config's "drills", each named: location-1 and location-2 on an on-premise host,
file-level and database-dump on a cloud instance), in a fresh directory under the scratch
directory (removed afterwards, whatever happens; nothing else is ever written or removed):

A restic repository (kind "restic"):
1. free space: the snapshot's stored size plus twice its restored size must fit, or the drill fails
   saying how much is missing;
2. transfer (connectivity, not counted toward the SLA): `restic copy` of the snapshot into a local
   repository;
3. the rest (counted): `restic check --read-data` of that copy, `restic restore --verify` (every
   file read back and compared with the snapshot), files and directories counted apart, and, where
   the snapshot holds the database dump ("dump_file"), the dump loaded as below.
A database dump in S3 (kind "dump", the cloud's database-level backup):
1. free space: DUMP_EXPANSION times the newest dump's size must fit;
2. transfer: the newest finished dump downloaded;
3. the rest: the dump loaded into a throwaway database server (its own data directory and socket,
   no network) with every table checksummed; a dump that does not load, or loads fewer tables than
   it creates, fails the drill.
The result goes to <status_dir>/drill-<name>.json and to the drill's result URLs, where the
installation's checker reads it: a failed drill, or none successful for
`restore_drill.alarm_after_days`, alarms. Exit 0 only when every drill succeeded.

    daktela-restore-drill [--config /etc/daktela-toolkit/drill.json] [--location N] [--drill NAME]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any, Optional

SHARE = "/usr/local/sbin/daktela-share"  # on-premise: the hosts' upload into every location
# A gzip'd SQL dump loads into several times its size (text compresses about 5:1, InnoDB adds
# indexes and free pages): the drill asks for this many times the dump's size before downloading.
DUMP_EXPANSION = 10


class DrillFailed(Exception):
    """The drill of one location failed; the message says why."""


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
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise DrillFailed(f"{what} failed (exit code {result.returncode}): {detail}")
    return result.stdout


class Drill:
    def __init__(self, config: dict[str, Any], source: dict[str, Any], env: dict[str, str]):
        self.config, self.source = config, source
        self.env = {**os.environ, **env, "RESTIC_FROM_PASSWORD": env.get("RESTIC_PASSWORD", "")}

    def restic(self, *args: str, what: str, timeout: Optional[int] = None) -> str:
        return run(["restic", *args], self.env, what, timeout)

    def room(self, work: str, needed: int) -> None:
        free = shutil.disk_usage(work).free
        if free < needed:
            raise DrillFailed(
                f"not enough space in {self.config['scratch_dir']} (restore_drill.scratch_dir): the drill "
                f"needs {needed / 1e9:.1f} GB, {free / 1e9:.1f} GB are free")

    def run(self, work: str) -> dict[str, Any]:
        return self.run_dump(work) if self.source.get("kind") == "dump" else self.run_restic(work)

    def run_restic(self, work: str) -> dict[str, Any]:
        source = self.source
        if not self.env.get("RESTIC_PASSWORD") and self.config.get("password_command"):
            # the cloud instance: the repository password from SSM with the instance's role
            password = run(self.config["password_command"], dict(os.environ), "reading the repository password")
            self.env.update(RESTIC_PASSWORD=password.rstrip("\n"), RESTIC_FROM_PASSWORD=password.rstrip("\n"))
        remote = ["-r", source["repository"], "-o", f"s3.region={source['region']}"]
        listed = self.restic(*remote, "snapshots", "--json", "--latest", "1", "--host", self.config["installation_id"],
                             what="listing the location's snapshots")
        snapshots = json.loads(listed or "[]")
        if not snapshots:
            raise DrillFailed("the location has no snapshot of this installation")
        snapshot = max(snapshots, key=lambda s: s["time"])
        result: dict[str, Any] = {"snapshot": snapshot["id"], "snapshot_time": snapshot["time"]}
        restored = json.loads(self.restic(*remote, "stats", snapshot["id"], "--json", "--mode", "restore-size",
                                          what="sizing the restore"))["total_size"]
        stored = json.loads(self.restic(*remote, "stats", snapshot["id"], "--json", "--mode", "raw-data",
                                        what="sizing the snapshot"))["total_size"]
        self.room(work, stored + 2 * restored)

        repository = ["-r", os.path.join(work, "repository")]
        started = time.monotonic()
        self.restic(*repository, "init", "--copy-chunker-params", "--from-repo", source["repository"],
                    "-o", f"s3.region={source['region']}", what="creating the local copy")
        self.restic(*repository, "copy", "--from-repo", source["repository"],
                    "-o", f"s3.region={source['region']}", snapshot["id"],
                    what="copying the snapshot from the location")
        result["transfer_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        self.restic(*repository, "check", "--read-data", what="restic check --read-data of the copy")
        target = os.path.join(work, "restored")
        # the copied snapshot has an id of its own in the copy, where it is the only one
        self.restic(*repository, "restore", "latest", "--target", target, "--verify",
                    what="restoring and verifying the files")
        files = directories = size = 0
        for root, names, leaves in os.walk(target):
            directories += len(names)
            files += len(leaves)
            size += sum(os.lstat(os.path.join(root, leaf)).st_size for leaf in leaves)
        result.update(files=files, directories=directories, bytes=size)
        if source.get("dump_file"):
            result["database"] = self.load_dump(target + source["dump_file"], os.path.join(work, "database"))
        result["rest_seconds"] = round(time.monotonic() - started, 1)
        return result

    def run_dump(self, work: str) -> dict[str, Any]:
        """The newest finished dump of the bucket's prefix, downloaded, loaded and checksummed."""
        source = self.source
        aws = ["aws", "--region", source["region"], "--output", "json"]
        listed = json.loads(run([*aws, "s3api", "list-objects-v2", "--bucket", source["bucket"],
                                 "--prefix", source["prefix"]], self.env, "listing the database dumps") or "{}")
        dumps = [o for o in listed.get("Contents") or [] if o["Key"].endswith(source["suffix"])]
        if not dumps:
            raise DrillFailed(f"s3://{source['bucket']}/{source['prefix']} holds no finished database dump")
        newest = max(dumps, key=lambda o: (o["LastModified"], o["Key"]))
        result: dict[str, Any] = {"dump": newest["Key"], "dump_time": newest["LastModified"],
                                  "dump_bytes": newest["Size"]}
        self.room(work, DUMP_EXPANSION * int(newest["Size"]))
        local = os.path.join(work, "dump" + source["suffix"])
        started = time.monotonic()
        run([*aws, "s3", "cp", "--only-show-errors", f"s3://{source['bucket']}/{newest['Key']}", local],
            self.env, "downloading the newest database dump")
        result["transfer_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        result["database"] = self.load_dump(local, os.path.join(work, "database"))
        result["rest_seconds"] = round(time.monotonic() - started, 1)
        return result

    def load_dump(self, dump: str, directory: str) -> dict[str, Any]:
        """Load the dump into a throwaway server; every table checksummed."""
        if not os.path.exists(dump):
            raise DrillFailed(f"the snapshot has no database dump at {self.source.get('dump_file')}")
        with gzip.open(dump, "rt", errors="replace") as handle:
            created = sum(1 for line in handle if line.startswith("CREATE TABLE "))
        server = DatabaseServer(directory, self.config["database_engine"])
        with server:
            name = self.config["database_name"]
            server.sql(f"CREATE DATABASE `{name}`")
            # a GzipFile's fileno() is the compressed file's: decompress through a pipe instead
            unpack = subprocess.Popen(["gzip", "-dc", dump], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            loaded = subprocess.run([*server.client(), name], stdin=unpack.stdout, capture_output=True)
            assert unpack.stdout is not None and unpack.stderr is not None
            unpack.stdout.close()
            unpacked = unpack.wait()
            if loaded.returncode != 0 or unpacked != 0:
                detail = ((loaded.stderr or unpack.stderr.read()).decode(errors="replace").strip().splitlines()
                          or ["no output"])
                raise DrillFailed(f"the database dump does not load: {detail[-1]}")
            tables = server.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                f"'{name}' AND table_type = 'BASE TABLE' ORDER BY table_name").split()
            if len(tables) != created:
                raise DrillFailed(f"the dump creates {created} tables, {len(tables)} loaded")
            checksums = {}
            if tables:
                listed = ", ".join(f"`{name}`.`{t}`" for t in tables)
                for line in server.sql(f"CHECKSUM TABLE {listed} EXTENDED").splitlines():
                    table, _, value = line.rpartition("\t")
                    if value in ("", "NULL"):
                        raise DrillFailed(f"table {table} could not be checksummed")
                    checksums[table.split(".", 1)[1]] = int(value)
        return {"tables": len(tables), "checksums": checksums}


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
        raise DrillFailed(f"no {' or '.join(names)} on this host: the dump cannot be test-loaded; install "
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
                raise DrillFailed("the throwaway database server did not start: "
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


def record(config: dict[str, Any], source: dict[str, Any], outcome: dict[str, Any]) -> None:
    """The result, locally and into every configured cloud location (the previous success carried
    forward, so the checker can date the last good drill)."""
    path = os.path.join(config["status_dir"], f"drill-{source['name']}.json")
    previous: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            previous = json.load(open(path))
        except ValueError:
            previous = {}
    outcome["last_success"] = outcome["time"] if outcome["result"] == "success" else previous.get("last_success")
    if outcome["result"] == "success":
        outcome["last_success_seconds"] = {"transfer": outcome["transfer_seconds"], "rest": outcome["rest_seconds"]}
    elif previous.get("last_success_seconds"):
        outcome["last_success_seconds"] = previous["last_success_seconds"]
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(outcome, handle, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)
    if config.get("uploader") == "aws":  # the cloud instance: its role's credentials, awscli
        for url in source["result_urls"]:
            sent = subprocess.run(["aws", "--region", url["region"], "s3", "cp", "--only-show-errors", path,
                                   url["url"]], capture_output=True, text=True)
            if sent.returncode != 0:
                print(f"the drill result of {source['name']} could not be stored as {url['url']}: "
                      f"{sent.stderr.strip()}", file=sys.stderr)
        return
    targets = [part for url in source["result_urls"] for part in (url["region"], url["url"])]
    subprocess.run([SHARE, path, f"the drill result of {source['name']}", *targets], check=False)


def drill(config: dict[str, Any], source: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    outcome: dict[str, Any] = {"installation": config["installation_id"], "drill": source["name"],
                               "kind": "restore-drill"}
    os.makedirs(config["scratch_dir"], exist_ok=True)
    work = tempfile.mkdtemp(prefix="drill-", dir=config["scratch_dir"])  # the only place written to
    try:
        outcome.update(Drill(config, source, env).run(work))
        outcome["result"] = "success"
    except (DrillFailed, subprocess.TimeoutExpired, ValueError, KeyError, OSError) as error:
        outcome.update(result="failed", error=str(error))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome["time"] = now()
    record(config, source, outcome)
    return outcome


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


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/daktela-toolkit/drill.json")
    parser.add_argument("--location", type=int, help="run only this location's drill (on-premise)")
    parser.add_argument("--drill", help="run only this drill (e.g. database-dump)")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    wanted = f"location-{args.location}" if args.location else args.drill
    env = read_env(config["env_file"]) if config.get("env_file") else {}
    os.makedirs(config["status_dir"], mode=0o700, exist_ok=True)
    failed = 0
    for source in config["drills"]:
        if wanted and source["name"] != wanted:
            continue
        outcome = drill(config, source, env)
        if outcome["result"] == "success":
            print(f"{source['name']}: {summary(outcome)}; transfer {outcome['transfer_seconds']} s "
                  f"(connectivity, not counted toward the SLA), the rest {outcome['rest_seconds']} s")
        else:
            failed = 1
            print(f"{source['name']}: DRILL FAILED: {outcome['error']}", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())

"""The verification program's own decisions (templates/daktela-verify.py), without a host: which part
of a repository the daily check reads, when it must stop for the next backup, and what a result
carries forward. Its runs against real restic and S3 are in test_onprem_backup.py and test_faults.py."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone

import pytest

from components.templates import TEMPLATES


@pytest.fixture(scope="module")
def verify():
    spec = importlib.util.spec_from_file_location("daktela_verify", TEMPLATES / "daktela-verify.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_run_reads_the_part_read_longest_ago(verify):
    parts: dict[str, str] = {}
    order = []
    for day in range(1, 6):
        part = verify.part_to_read(parts, 3)
        order.append(part)
        parts[str(part)] = f"2026-12-0{day}T03:00:00Z"
    assert order == [1, 2, 3, 1, 2]
    # a part whose check failed was not marked read: it is read again the next day
    failed = {"1": "2026-12-04T03:00:00Z", "3": "2026-12-03T03:00:00Z"}
    assert verify.part_to_read(failed, 3) == 2  # never read first
    assert verify.part_to_read({**failed, "2": "2026-12-05T03:00:00Z"}, 3) == 3


def test_the_check_stops_before_the_next_backup_in_the_hosts_time_zone(verify):
    config = {"backup_times": ["01:00", "13:00"], "timezone": "Europe/Prague"}
    # 2026-10-25 is the night Prague leaves summer time: 01:00 that day is 23:00 UTC the day before
    assert verify.next_backup(config, datetime(2026, 10, 24, 22, 0, tzinfo=timezone.utc)) == datetime(
        2026, 10, 24, 23, 0, tzinfo=timezone.utc)
    assert verify.next_backup(config, datetime(2026, 10, 25, 2, 0, tzinfo=timezone.utc)) == datetime(
        2026, 10, 25, 12, 0, tzinfo=timezone.utc)  # 13:00 in winter time
    assert verify.next_backup({"backup_times": []}, datetime.now(timezone.utc)) is None


def test_a_check_with_no_time_left_before_the_backup_says_so_and_reads_nothing(verify, tmp_path):
    soon = datetime.now(timezone.utc) + timedelta(minutes=3)
    config = {"installation_id": "acme", "status_dir": str(tmp_path), "verify_cycle_days": 3,
              "backup_times": [f"{soon:%H:%M}"], "timezone": "UTC", "uploader": "aws",
              "backup_lock": str(tmp_path / "backup.lock"), "verify_lock": str(tmp_path / "verify.lock"),
              "watchdog": "/nonexistent/daktela-watchdog"}  # never started: nothing is read
    source = {"name": "location-1", "repository": "s3:https://s3.eu-central-1.amazonaws.com/b/restic/acme",
              "region": "eu-central-1", "check_result_urls": []}
    outcome, recorded = verify.check(config, source, {})
    assert recorded and outcome["result"] == "failed" and outcome["error_kind"] == "deadline"
    assert outcome["error"].startswith(f"the next backup starts at {soon:%H:%M} UTC: no time for a check before it")
    assert outcome["parts"] == {} and "last_damage" not in outcome  # nothing read, nothing damaged


def test_damage_is_carried_until_a_later_repair(verify):
    damage = {"time": "2026-12-01T03:00:00Z", "cause": "repository contains errors: Pack ID does not match"}
    outcome = {"result": "success", "time": "2026-12-02T03:00:00Z"}
    verify.carried(outcome, {"last_damage": damage, "last_success": "2026-11-30T03:00:00Z"}, None)
    assert outcome["last_damage"] == damage and outcome["last_success"] == outcome["time"]
    assert verify.damaged(outcome).startswith("damage found 2026-12-01T03:00:00Z and not repaired since")
    outcome["last_repair"] = {"time": "2026-12-02T09:00:00Z", "note": "pack removed"}
    assert verify.damaged(outcome) is None
    failed = {"result": "failed", "time": "2026-12-03T03:00:00Z"}
    verify.carried(failed, outcome, verify.Failed("network", "unreachable"))  # not damage: not sticky
    assert failed["last_damage"] == damage and failed["last_repair"] == outcome["last_repair"]
    assert verify.damaged(failed) is None


@pytest.mark.parametrize("line,name", [
    (b"CREATE TABLE `calls` (\n", b"calls"),  # mysqldump's
    (b"CREATE TABLE `order items` (\n", b"order items"),
    (b"CREATE TABLE calls (id INT);\n", b"calls"),  # a hand-written dump
    (b"CREATE TABLE IF NOT EXISTS audit(id INT)\n", b"audit"),
])
def test_the_loader_knows_which_table_each_create_table_makes(verify, line, name):
    """The drill checksums and drops each table when the next one starts: it must name it right,
    or a table goes unchecked ("the dump creates 1 tables, 0 loaded")."""
    assert verify.table_name(line) == name


def test_a_stream_its_reader_gives_up_on_leaves_no_command_behind(verify, tmp_path):
    """The drill reads `restic dump` as it streams; when the reader fails (its scratch disk full),
    the reader's cause is the failure and the command is gone, never left writing into nothing."""
    import os
    import sys
    import time

    watchdog = tmp_path / "watchdog"
    watchdog.write_text(f"#!/bin/sh\nexec {sys.executable} {TEMPLATES / 'daktela-watchdog.py'} \"$@\"\n")
    watchdog.chmod(0o755)
    marker = tmp_path / "writer.pid"
    network = verify.Network({"watchdog": str(watchdog), "silence_seconds": 30}, dict(os.environ))

    def reader(pipe):
        pipe.read(1 << 20)
        raise verify.Failed("not enough space in the scratch directory", "space")

    started = time.monotonic()
    with pytest.raises(verify.Failed, match="not enough space") as failed:
        network.stream(["sh", "-c", f"echo $$ > {marker}; exec yes"], "location-1: reading", reader)
    assert failed.value.kind == "space" and time.monotonic() - started < 20
    writer = int(marker.read_text())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{writer}") and open(f"/proc/{writer}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the command outlived the stream its reader gave up on"
        time.sleep(0.1)


# -- the drill's batches (plan_batches) ------------------------------------------------------------

def snapshot_nodes(layout: dict[str, int | None]):
    """`restic ls --json` lines for {path: size, or None for a directory}, parents first, in order."""
    import json

    lines = [json.dumps({"struct_type": "snapshot", "id": "x"}).encode()]
    for path, size in layout.items():
        node = {"struct_type": "node", "path": path, "name": path.rsplit("/", 1)[1],
                "type": "dir" if size is None else "file"}
        if size is not None:
            node["size"] = size
        lines.append(json.dumps(node).encode())
    return lines


def planned(verify, layout, budget):
    tree = verify.Tree.read(verify.nodes(snapshot_nodes(layout)))
    return tree, verify.plan_batches(verify.nodes(snapshot_nodes(layout)), tree, budget)


def covered_once(layout, plan):
    """Every file of the layout is restored by exactly one path of one batch (its own or a directory
    above it) or streamed, and nothing else is."""
    chosen = [path for batch in plan.batches for path in batch.paths] + [path for path, _ in plan.streamed]
    unique = set(chosen)
    assert len(chosen) == len(unique)
    for path, size in layout.items():
        if size is None:
            continue
        parts = path.split("/")
        covering = [c for c in ("/".join(parts[:n]) for n in range(2, len(parts) + 1)) if c in unique]
        assert len(covering) == 1, (path, covering)
    return chosen


def test_a_snapshot_that_fits_is_one_batch_of_its_top_directories(verify):
    layout = {"/srv": None, "/srv/a": None, "/srv/a/x": 10, "/srv/b": 5}
    tree, plan = planned(verify, layout, budget=1000)
    assert (tree.files, tree.bytes, tree.directories) == (2, 15, 2)
    assert [b.paths for b in plan.batches] == [["/srv"]] and plan.streamed == []
    assert (plan.batches[0].files, plan.batches[0].bytes) == (2, 15)


def test_directories_too_large_are_split_and_large_files_streamed(verify):
    layout = {"/op": None, "/op/database": None, "/op/database/dump.sql.gz": 700,
              "/op/attachments": None, "/op/attachments/2025": None, "/op/attachments/2026": None}
    layout.update({f"/op/attachments/2025/{n:03}.pdf": 30 for n in range(10)})  # 300: fits whole
    layout.update({f"/op/attachments/2026/{n:03}.pdf": 30 for n in range(30)})  # 900: split
    layout["/op/attachments/2026/link"] = None  # an empty directory among the files
    layout["/op/readme [1] *.txt"] = 4
    tree, plan = planned(verify, layout, budget=400)
    chosen = covered_once(layout, plan)
    assert plan.streamed == [("/op/database/dump.sql.gz", 700)]  # more than half a batch
    assert "/op/attachments/2025" in chosen and "/op/attachments/2026" not in chosen
    assert all(b.bytes <= 400 for b in plan.batches)
    assert sum(b.bytes for b in plan.batches) + 700 == tree.bytes == 1904
    assert sum(b.files for b in plan.batches) + 1 == tree.files == 42
    # in the listing's order, each filled until the next path would pass 400
    assert [b.bytes for b in plan.batches] == [390, 390, 390, 34]
    assert verify.escaped("/op/readme [1] *.txt") == "/op/readme \\[1] \\*.txt"


def test_a_flat_directory_of_many_files_is_cut_by_the_length_of_its_arguments(verify):
    names = {f"/flat/{'x' * 200}-{n:06}": 1 for n in range(6000)}
    layout = {"/flat": None, **names}
    _, plan = planned(verify, layout, budget=3000)  # the bytes would fit 3000 files a batch
    covered_once(layout, plan)
    assert all(b.pattern_bytes <= verify.BATCH_PATTERN_BYTES for b in plan.batches)
    assert len(plan.batches) == 3 and min(len(b.paths) for b in plan.batches) > 1000


def test_planning_a_production_tree_keeps_directories_not_files_in_memory(verify):
    """300,000 files of 600 GB in dated directories (a year of attachments, a day a directory) and
    a database dump of 40 GB, planned into batches of 20 GB: the first pass holds the directories'
    totals only, the plan holds one path per day."""
    import tracemalloc

    def entries():
        yield "dir", "/op", 0
        yield "dir", "/op/database", 0
        yield "file", "/op/database/dump.sql.gz", 40 << 30
        yield "dir", "/op/attachments", 0
        for day in range(365):
            yield "dir", f"/op/attachments/{day:03}", 0
            for n in range(822):
                yield "file", f"/op/attachments/{day:03}/{n:06}-scan.pdf", 2 << 20

    tracemalloc.start()
    try:
        tree = verify.Tree.read(entries())
        plan = verify.plan_batches(entries(), tree, 20 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tree.files == 300_031 and tree.bytes == (40 << 30) + 300_030 * (2 << 20)
    assert plan.streamed == [("/op/database/dump.sql.gz", 40 << 30)]
    assert sum(len(b.paths) for b in plan.batches) == 365 and len(plan.batches) == 31
    assert peak < 2 << 20, peak  # a list of 300,000 paths alone would take about 30 MB

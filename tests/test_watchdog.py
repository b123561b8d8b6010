"""The watchdog (templates/daktela-watchdog.py): the deadlines of every restic command the jobs run,
and the one reader of restic's output that gives the cause in one line. Real processes, real
/proc/PID/io; restic's own output as Debian's restic 0.14 printed it (tests/fixtures/restic/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.templates import TEMPLATES, watchdog

FIXTURES = Path(__file__).parent / "fixtures" / "restic"
PROGRAM = [sys.executable, str(TEMPLATES / "daktela-watchdog.py")]


@pytest.mark.parametrize("fixture,cause,kind", [
    ("copy-damaged-pack.txt", "StreamPack: ciphertext verification failed", "damage"),
    ("check-damaged-pack.txt", "repository contains errors: Pack ID does not match, want "
     "5327ae8642b90b0e9466ae9538111f254bc4cf276c23471484e700091e81d878, got "
     "ba7c6bca6157925ba2131d02d36f8c325fa24b4dcd2c814b125cfd6ebb0f1702", "damage"),
    ("restore-damaged-pack.txt", "There were 1 errors: /data/big: ciphertext verification failed", "damage"),
    ("check-deleted-index.txt", "repository contains errors: error for tree caa53ba4: id "
     "caa53ba4964e4a65dcc62b5d95b5413ae25374cac196278376fa41c5cdaffaf2 not found in repository", "damage"),
    ("backup-refused.txt", 'unable to open config file: Stat: Head "http://127.0.0.1:1/bucket2/restic/y/config": '
     "dial tcp 127.0.0.1:1: connect: connection refused", "unreachable"),
    ("snapshots-wrong-password.txt", "wrong password or no key found", "denied"),
])
def test_the_cause_of_what_restic_printed(fixture, cause, kind):
    """Issue 23.2: the drill named a damaged pack's failure `runtime/asm_amd64.s:1594`, the last line
    of a Go trace; restic's "ciphertext verification failed" was four lines up."""
    text = (FIXTURES / fixture).read_text()
    found = watchdog().cause_of(text, 1)
    assert found == cause
    assert "runtime/" not in found and ".go:" not in found
    assert watchdog().kind_of(found, text) == kind


def test_a_network_error_behind_restics_summary_is_not_damage():
    text = ("Load(<data/5327ae86>, 0, 0) returned error, retrying after 1.2s: Get \"https://s3/x\": dial tcp "
            "10.0.0.1:443: connect: connection refused\nFatal: repository contains errors\n")
    cause = watchdog().cause_of(text, 1)
    assert cause.startswith("repository contains errors: Load(<data/5327ae86>")
    assert watchdog().kind_of(cause, text) == "unreachable"  # not sticky: the next check reads it again


def run(*arguments: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([*PROGRAM, "--poll", "0.1", *arguments], capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def test_output_passes_through_and_a_failure_says_its_cause(tmp_path):
    cause = tmp_path / "cause.json"
    result, _ = run("--what", "location 1", "--cause-file", str(cause), "--", "sh", "-c",
                    'echo \'{"message_type":"summary"}\'; echo "Fatal: unable to open config file" >&2; exit 3')
    assert result.returncode == 3
    assert result.stdout == '{"message_type":"summary"}\n'
    assert result.stderr.splitlines() == ["Fatal: unable to open config file",
                                          "location 1: unable to open config file"]
    assert json.loads(cause.read_text()) == {"cause": "unable to open config file", "kind": "failed", "exit_code": 3}
    succeeded, _ = run("--cause-file", str(tmp_path / "none.json"), "--", "true")
    assert succeeded.returncode == 0 and not (tmp_path / "none.json").exists()


def test_a_command_that_stops_doing_io_is_ended_with_its_children(tmp_path):
    """A location that accepts and never answers: restic waits with no I/O at all."""
    cause = tmp_path / "cause.json"
    marker = tmp_path / "child.pid"
    result, took = run("--what", "location 1 (eu-central-1)", "--silence", "1.5", "--grace", "1",
                       "--cause-file", str(cause), "--", "sh", "-c", f"sleep 300 & echo $! > {marker}; wait")
    assert result.returncode == 124
    assert json.loads(cause.read_text())["kind"] == "silent"
    assert result.stderr.strip().endswith("location 1 (eu-central-1): no progress for 2 s (the location stopped "
                                          "answering); given up so that the rest of the run goes on")
    assert took < 30
    child = int(marker.read_text())
    assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z"


def test_talking_is_not_progress_and_neither_is_a_trickle(tmp_path):
    """restic's retry messages (what it prints), and a lock refreshed into a connection nobody
    answers (a few hundred bytes), must not keep a hung run alive."""
    talker = ("import sys, time\nwhile True:\n    print('Load(<config>) returned error, retrying', "
              "file=sys.stderr, flush=True)\n    time.sleep(0.1)\n")
    result, _ = run("--silence", "1.5", "--", sys.executable, "-c", talker)
    assert result.returncode == 124 and "no progress for 2 s" in result.stderr
    trickle = (f"import time\nwith open({str(tmp_path / 'lock')!r}, 'wb', buffering=0) as f:\n"
               "    while True:\n        f.write(b'x' * 500)\n        time.sleep(0.2)\n")
    result, _ = run("--silence", "1.5", "--", sys.executable, "-c", trickle)
    assert result.returncode == 124 and "no progress for 2 s" in result.stderr


def test_a_stream_of_data_passed_through_is_progress_and_lines_read_are_not(tmp_path):
    """`--stdout pass` (the drill's `restic dump`): what the command writes to its standard output is
    the data, written straight to ours, and keeps it alive; copied as lines, the same output does not."""
    streamer = ("import sys, time\nfor _ in range(12):\n    sys.stdout.buffer.write((b'x' * 999 + b'\\n') * 200)\n"
                "    sys.stdout.flush()\n    time.sleep(0.25)\n")
    passed, _ = run("--silence", "1.5", "--stdout", "pass", "--", sys.executable, "-c", streamer)
    assert passed.returncode == 0, passed.stderr
    assert len(passed.stdout) == 12 * 200_000
    copied, _ = run("--silence", "1.5", "--", sys.executable, "-c", streamer)
    assert copied.returncode == 124 and "no progress for 2 s" in copied.stderr
    wrong, _ = run("--stdout", "keep", "--", "true")
    assert wrong.returncode == 2 and "invalid choice: 'keep'" in wrong.stderr


def test_a_slow_but_progressing_command_runs_until_its_window_ends(tmp_path):
    """A crawling link: far longer than the silence limit, ended only at --until."""
    writer = (f"import time\nwith open({str(tmp_path / 'data')!r}, 'wb', buffering=0) as f:\n"
              "    while True:\n        f.write(b'x' * 65536)\n        time.sleep(0.25)\n")
    cause = tmp_path / "cause.json"
    result, took = run("--silence", "1", "--until", str(time.time() + 5), "--cause-file", str(cause), "--",
                       sys.executable, "-c", writer)
    assert result.returncode == 124 and took >= 4.5  # five times the silence limit, never ended by it
    ended = json.loads(cause.read_text())
    assert ended["kind"] == "deadline" and ended["cause"].startswith("still running when its window ended")
    quick = (f"import time\nwith open({str(tmp_path / 'more')!r}, 'wb', buffering=0) as f:\n"
             "    for _ in range(12):\n        f.write(b'x' * 65536)\n        time.sleep(0.25)\n")
    finished, took = run("--silence", "1", "--", sys.executable, "-c", quick)
    assert finished.returncode == 0 and took >= 3  # slow, progressing, done


def test_a_command_that_cannot_start_is_a_failure_with_its_cause(tmp_path):
    cause = tmp_path / "cause.json"
    result, _ = run("--what", "location 2", "--cause-file", str(cause), "--", str(tmp_path / "no-restic-here"))
    assert result.returncode == 127
    assert "location 2: [Errno 2] No such file or directory" in result.stderr

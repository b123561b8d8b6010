#!/usr/bin/env python3
"""Run one restic command with deadlines, and say in one line why it failed.

    daktela-watchdog [--what LABEL] [--silence SECONDS] [--until EPOCH] [--log FILE]
                     [--cause-file FILE] [--clock-url URL] [--grace SECONDS] -- COMMAND [ARGUMENTS]

restic 0.14 has no request timeout: a location that accepts the connection and never answers (a
half-open firewall, a stuck proxy) holds it forever. This program ends the command
- when it has been silent for --silence seconds: it and its children read and wrote less than
  PROGRESS_BYTES (files and sockets, /proc/PID/io, what they print not counted). A slow but
  progressing run keeps going; a hung one is ended within --silence of its last progress;
- when it still runs at --until (seconds since the epoch): the end of its window, progressing or not.
Ended means SIGTERM to its process group, SIGKILL --grace seconds later (restic's cleanup on
SIGTERM would wait on the hung location too).

Standard output passes through unchanged (restic's JSON summary). Standard error is copied to --log
(appended) or to ours as it comes. When the command fails or is ended, the last line on standard
error is "LABEL: CAUSE", and --cause-file gets {"cause", "kind", "exit_code"} as one line of JSON.
The cause is restic's own `Fatal:` line (with its first error when it gives none of its own), or the
messages of a Go error trace, never a trace's file line (`cause_of`); its kind says what it means for
the operator (`kind_of`): "silent", "deadline", "denied", "skew", "space", "unreachable", "damage"
(the repository's data is damaged: only a repair clears it) or "failed". A refusal is checked against
the location's clock (--clock-url, its Date header): S3 answers restic's first request, a HEAD, with a
bare 403 whether the key is wrong or this host's clock is more than 15 minutes off.

Exit: the command's own code, or 124 when it was ended. The measure of progress counts read()
and write() calls, which is how Go programs such as restic do their I/O; curl and awscli (send and
recv) have their own no-progress limits and are not run through this.
One file with no imports beyond Python's standard library: hosts and instances run it as
/usr/local/sbin/daktela-watchdog, the toolkit's restore (components/host/restore.py) through SSH,
and the tests import it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, Iterable, Optional

ENDED = 124
# Less I/O than this since the last progress is not progress: a lock refresh (a few hundred bytes
# written into a connection nobody answers) must not keep a hung run alive.
PROGRESS_BYTES = 64 * 1024
KEPT_LINES = 400  # of standard error, for the cause; the log has all of it
MAX_CAUSE = 400

# -- the cause -----------------------------------------------------------------------------------

_TRACE_FILE = re.compile(r"^\s+\S+\.(go|s):\d+")  # "\tgithub.com/restic/restic/internal/x.go:968"
_TRACE_FUNCTION = re.compile(r"^[\w.\-/]+\.[\w.*()\[\]\-]+$")  # "runtime.goexit", "main.main"
_GOROUTINE = re.compile(r"^goroutine \d+ \[")
_PROGRESS = re.compile(r"^\[\d+:\d+(:\d+)?\]")  # "[0:00] 80.00%  4 / 5 packs copied"
_ERRORISH = re.compile(
    r"error|fail|denied|refused|invalid|does not match|no such|does not exist|timeout|timed out|"
    r"unable|cannot|can't|no space|not found|unreachable|forbidden|skewed", re.IGNORECASE)
_IGNORING = re.compile(r"^ignoring error for ", re.IGNORECASE)

# The kinds, first match wins (a network error during a read is not damage, however restic sums it up).
KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("skew", re.compile(r"RequestTimeTooSkewed|request time and the server's time|clock skew", re.I)),
    ("denied", re.compile(r"Access ?Denied|InvalidAccessKeyId|SignatureDoesNotMatch|not authorized|"
                          r"Forbidden|\b403\b|wrong password|no key found|KMS\.|kms:", re.I)),
    ("space", re.compile(r"no space left on device|not enough space|disk quota exceeded", re.I)),
    ("unreachable", re.compile(
        r"connection refused|no such host|server misbehaving|i/o timeout|TLS handshake timeout|"
        r"network is unreachable|connection reset|no route to host|Could not resolve host|"
        r"Failed to connect|timed out|temporary failure in name resolution|broken pipe|"
        r"Connection was closed|EndpointConnectionError|Could not connect", re.I)),
    ("damage", re.compile(
        r"repository contains errors|ciphertext verification failed|Pack ID does not match|"
        r"does not match|There were \d+ errors|invalid data returned|not found in (index|repository)|"
        r"unexpected end of|is damaged|hash mismatch|ciphertext|decrypt", re.I)),
]


def _is_trace(line: str, following: str) -> bool:
    return bool(_TRACE_FILE.match(line) or _GOROUTINE.match(line)
                or (_TRACE_FUNCTION.match(line) and _TRACE_FILE.match(following)))


def cause_of(text: str, exit_code: Optional[int] = None) -> str:
    """One line for people from a command's standard error: restic's `Fatal:` line (and its first
    error when the Fatal line names none), else the messages of a Go error trace joined outermost
    first, else the last line that reads as an error, else the last line."""
    raw = [line.rstrip() for line in text.splitlines()]
    lines: list[str] = []
    for line in raw:
        if not line.strip() or _PROGRESS.match(line.strip()):
            continue
        if lines and lines[-1].endswith(":") and line[:1] in (" ", "\t") and not _TRACE_FILE.match(line):
            lines[-1] += " " + line.strip()  # "error for tree caa53ba4:" and, indented, what the error is
        else:
            lines.append(line)
    trace = [_is_trace(line, lines[i + 1] if i + 1 < len(lines) else "") for i, line in enumerate(lines)]
    fatal = next((line[len("Fatal: "):].strip() for line in reversed(lines) if line.startswith("Fatal: ")), None)
    details = [_IGNORING.sub("", line.strip()) for line, is_trace in zip(lines, trace)
               if not is_trace and not line.startswith("Fatal: ") and _ERRORISH.search(line)]
    if fatal is not None:
        cause = fatal
        if ":" not in fatal and details and details[0] not in fatal:
            cause = f"{fatal}: {details[0]}"  # "repository contains errors: Pack ID does not match, want …"
    elif any(trace):
        first = trace.index(True)
        start = first - 1 if first > 0 else first
        messages = [line.strip() for line, is_trace in zip(lines[start:], trace[start:]) if not is_trace]
        cause = ": ".join(reversed(messages)) or lines[first].strip()
    elif details:
        cause = details[-1]
    elif lines:
        cause = lines[-1].strip()
    else:
        cause = f"exit code {exit_code}, no output" if exit_code is not None else "no output"
    cause = " ".join(cause.split())
    return cause if len(cause) <= MAX_CAUSE else cause[:MAX_CAUSE - 1] + "…"


def kind_of(cause: str, text: str = "") -> str:
    """What the cause means (see the module's docstring); `text`, all of standard error, lets a
    network error behind a summary ("repository contains errors") win over damage."""
    errors = " ".join(line for line in text.splitlines() if _ERRORISH.search(line))
    for kind, pattern in KINDS:
        if kind != "damage" and (pattern.search(cause) or pattern.search(errors)):
            return kind
    return "damage" if KINDS[-1][1].search(cause) else "failed"


SKEW_LIMIT_SECONDS = 15 * 60  # S3 refuses a request dated further than this from its own clock


def clock_offset(url: str, timeout: float = 10.0) -> Optional[float]:
    """Seconds this machine's clock is ahead of the server at `url` (its Date header, which S3 sends
    with every answer, a refusal too), or None when it cannot be read. Imported here: only a
    refusal asks, and every run of restic pays for what the watchdog imports."""
    import ssl
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl.create_default_context()) as answer:
            date = answer.headers.get("Date")
    except urllib.error.HTTPError as refused:
        date = refused.headers.get("Date")
    except (OSError, ValueError):
        return None
    try:
        return time.time() - parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        return None


def skewed(cause: str, url: str) -> Optional[str]:
    """The cause of a refusal that is the clock's: S3 answers a HEAD request (restic's first) with a
    bare 403, so only the location's own clock tells "denied" from "too far off"."""
    offset = clock_offset(url)
    if offset is None or abs(offset) <= SKEW_LIMIT_SECONDS:
        return None
    return (f"this host's clock is {abs(offset) / 60:.0f} minutes {'ahead of' if offset > 0 else 'behind'} the "
            f"location's, and S3 refuses requests more than 15 minutes off: set the time (NTP); restic said: {cause}")


# -- progress ------------------------------------------------------------------------------------

def _group_counters(group: int) -> dict[int, int]:
    """{pid: read + written bytes} of every process in the process group (root reads any /proc/PID/io)."""
    counters = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getpgid(pid) != group:
                continue
            with open(f"/proc/{pid}/io") as handle:
                values = dict(line.split(": ") for line in handle.read().splitlines())
            counters[pid] = int(values["rchar"]) + int(values["wchar"])
        except (OSError, ValueError, KeyError):
            continue
    return counters


class Progress:
    """Bytes the process group read and wrote, less what it printed (ours to read)."""

    def __init__(self, group: int):
        self.group = group
        self.seen: dict[int, int] = {}
        self.total = 0
        self.printed = 0
        self.lock = threading.Lock()

    def add_printed(self, count: int) -> None:
        with self.lock:
            self.printed += count

    def sample(self) -> int:
        for pid, value in _group_counters(self.group).items():
            self.total += max(0, value - self.seen.get(pid, 0))
            self.seen[pid] = value
        with self.lock:
            return self.total - self.printed


# -- running -------------------------------------------------------------------------------------

def _copy(source: IO[bytes], sinks: Iterable[IO[bytes]], progress: Progress, kept: Optional[deque]) -> None:
    for line in iter(source.readline, b""):
        progress.add_printed(len(line))
        for sink in sinks:
            sink.write(line)
            sink.flush()
        if kept is not None:
            kept.append(line.decode(errors="replace"))
    source.close()


def _end(process: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def watch(command: list[str], *, what: str, silence: float, until: Optional[float], grace: float,
          log: Optional[IO[bytes]], poll: float) -> tuple[int, str, str]:
    """Run `command`; (exit code, its standard error as kept, why it was ended or "")."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    progress = Progress(process.pid)
    kept: deque = deque(maxlen=KEPT_LINES)
    assert process.stdout is not None and process.stderr is not None
    copiers = [
        threading.Thread(target=_copy, args=(process.stdout, [sys.stdout.buffer], progress, None), daemon=True),
        threading.Thread(target=_copy, args=(process.stderr, [log or sys.stderr.buffer], progress, kept),
                         daemon=True),
    ]
    for copier in copiers:
        copier.start()
    # A thread blocks in wait() and says when the command ends: the loop learns it at once (Popen's
    # own wait with a timeout polls, and every restic run would pay for it).
    finished = threading.Event()

    def waiter() -> None:
        process.wait()
        finished.set()

    threading.Thread(target=waiter, daemon=True).start()
    ended = ""
    started = last_progress = time.monotonic()
    baseline = 0
    while not finished.wait(poll):
        now = time.monotonic()
        done = progress.sample()
        if done - baseline >= PROGRESS_BYTES:
            baseline, last_progress = done, now
        if until is not None and time.time() >= until:
            minutes = (now - started) / 60
            ended = (f"still running when its window ended, after {minutes:.0f} min "
                     f"({done / 1e6:.0f} MB read and written; the link is too slow for the window)")
        elif now - last_progress >= silence:
            ended = (f"no progress for {silence:.0f} s (the location stopped answering); "
                     "given up so that the rest of the run goes on")
        if ended:
            _end(process, grace)
            break
    code = process.wait()
    for copier in copiers:
        copier.join(timeout=10)
    return (ENDED if ended else code), "".join(kept), ended


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="command", help="who this is, for the cause line (e.g. 'location 1')")
    parser.add_argument("--silence", type=float, default=180.0, help="seconds without progress before it is ended")
    parser.add_argument("--until", type=float, help="end it at this time, seconds since the epoch")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--log", help="append its standard error here instead of to ours")
    parser.add_argument("--cause-file", help="write the failure's cause here as JSON")
    parser.add_argument("--clock-url", help="on a refusal, compare this machine's clock with this server's")
    parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    log = open(args.log, "ab") if args.log else None
    try:
        code, stderr, ended = watch(command, what=args.what, silence=args.silence, until=args.until,
                                    grace=args.grace, log=log, poll=min(args.poll, max(args.silence / 10, 0.1)))
    except OSError as error:  # the command could not be started
        code, stderr, ended = 127, str(error), ""
    finally:
        if log:
            log.close()
    if code == 0:
        return 0
    if ended:
        said = cause_of(stderr) if stderr.strip() else ""
        cause, kind = ended + (f"; it last said: {said}" if said else ""), (
            "deadline" if ended.startswith("still running") else "silent")
    else:
        cause = cause_of(stderr, code)
        kind = kind_of(cause, stderr)
        clock = skewed(cause, args.clock_url) if args.clock_url and kind in ("denied", "skew") else None
        if clock:
            cause, kind = clock, "skew"
    if args.cause_file:
        with open(args.cause_file, "w") as handle:
            handle.write(json.dumps({"cause": cause, "kind": kind, "exit_code": code}) + "\n")
    sys.stderr.write(f"{args.what}: {cause}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

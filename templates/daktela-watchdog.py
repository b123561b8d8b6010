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

# Only os and sys before the command starts: every restic run waits for what is imported before it
# (about 30 ms of a 45 ms start); the rest is imported while the command runs.
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections import deque
    from typing import IO, Iterable, Optional

ENDED = 124
# Less I/O than this since the last progress is not progress: a lock refresh (a few hundred bytes
# written into a connection nobody answers) must not keep a hung run alive.
PROGRESS_BYTES = 64 * 1024
KEPT_LINES = 400  # of standard error, for the cause; the log has all of it
MAX_CAUSE = 400
RETRYING = "returned error, retrying after"  # restic's line for a request it will try again

# -- the cause -----------------------------------------------------------------------------------

class _Patterns:
    """restic's output as the cause reader sees it (compiled on first use: not before the command)."""

    def __init__(self) -> None:
        import re

        self.trace_file = re.compile(r"^\s+\S+\.(go|s):\d+")  # "\tgithub.com/restic/restic/internal/x.go:968"
        self.trace_function = re.compile(r"^[\w.\-/]+\.[\w.*()\[\]\-]+$")  # "runtime.goexit", "main.main"
        self.goroutine = re.compile(r"^goroutine \d+ \[")
        self.progress = re.compile(r"^\[\d+:\d+(:\d+)?\]")  # "[0:00] 80.00%  4 / 5 packs copied"
        self.errorish = re.compile(
            r"error|fail|denied|refused|invalid|does not match|no such|does not exist|timeout|timed out|"
            r"unable|cannot|can't|no space|not found|unreachable|forbidden|skewed|not authorized", re.IGNORECASE)
        self.ignoring = re.compile(r"^ignoring error for ", re.IGNORECASE)
        # The kinds, first match wins (a network error during a read is not damage, however restic
        # sums it up).
        self.kinds: list[tuple[str, re.Pattern[str]]] = [
            ("skew", re.compile(r"RequestTimeTooSkewed|request time and the (server's|current) time|clock skew", re.I)),
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


_patterns: list[_Patterns] = []


def patterns() -> _Patterns:
    if not _patterns:
        _patterns.append(_Patterns())
    return _patterns[0]


def _is_trace(line: str, following: str) -> bool:
    p = patterns()
    return bool(p.trace_file.match(line) or p.goroutine.match(line)
                or (p.trace_function.match(line) and p.trace_file.match(following)))


def cause_of(text: str, exit_code: Optional[int] = None) -> str:
    """One line for people from a command's standard error: restic's `Fatal:` line (and its first
    error when the Fatal line names none), else the messages of a Go error trace joined outermost
    first, else the last line that reads as an error, else the last line."""
    p = patterns()
    raw = [line.rstrip() for line in text.splitlines()]
    lines: list[str] = []
    for line in raw:
        if not line.strip() or p.progress.match(line.strip()):
            continue
        if lines and lines[-1].endswith(":") and line[:1] in (" ", "\t") and not p.trace_file.match(line):
            lines[-1] += " " + line.strip()  # "error for tree caa53ba4:" and, indented, what the error is
        else:
            lines.append(line)
    trace = [_is_trace(line, lines[i + 1] if i + 1 < len(lines) else "") for i, line in enumerate(lines)]
    fatal = next((line[len("Fatal: "):].strip() for line in reversed(lines) if line.startswith("Fatal: ")), None)
    details = [p.ignoring.sub("", line.strip()) for line, is_trace in zip(lines, trace)
               if not is_trace and not line.startswith("Fatal: ") and p.errorish.search(line)]
    if fatal is not None:
        cause = fatal
        if ":" not in fatal and details and details[0] not in fatal:
            cause = f"{fatal}: {details[0]}"  # "repository contains errors: Pack ID does not match, want …"
    elif any(trace):
        first = trace.index(True)
        # A wrapped error prints its cause first, then each wrap's message and its stack: every
        # message line right before the first stack belongs to it (restic's retry lines do not).
        start = first - 1 if first > 0 else first
        if start > 0 and not trace[start - 1] and p.errorish.search(lines[start - 1]) \
                and RETRYING not in lines[start - 1]:
            start -= 1
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
    p = patterns()
    errors = " ".join(line for line in text.splitlines() if p.errorish.search(line))
    for kind, pattern in p.kinds:
        if kind != "damage" and (pattern.search(cause) or pattern.search(errors)):
            return kind
    return "damage" if p.kinds[-1][1].search(cause) else "failed"


SKEW_LIMIT_SECONDS = 15 * 60  # S3 refuses a request dated further than this from its own clock


def clock_offset(url: str, timeout: float = 10.0) -> Optional[float]:
    """Seconds this machine's clock is ahead of the server at `url` (its Date header, which S3 sends
    with every answer, a refusal too), or None when it cannot be read. Imported here: only a
    refusal asks, and every run of restic pays for what the watchdog imports."""
    import ssl
    import time
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
        import threading

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


class Child:
    """The command, started at once (os.posix_spawnp, in a session of its own, its output in pipes)
    and reaped by a thread blocked in waitpid, which says the moment it ends."""

    def __init__(self, command: list[str], pass_stdout: bool = False):
        """`pass_stdout`: the command writes straight to our standard output (a stream of data, not
        lines to read: what it writes there is progress)."""
        out_read, out_write = os.pipe() if not pass_stdout else (-1, -1)
        err_read, err_write = os.pipe()
        own = [end for end in (out_read, out_write, err_read, err_write) if end >= 0]
        try:
            self.pid = os.posix_spawnp(command[0], command, os.environ, setsid=True, file_actions=[
                *([(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_CLOSE, out_read)] if not pass_stdout else []),
                (os.POSIX_SPAWN_DUP2, err_write, 2), (os.POSIX_SPAWN_CLOSE, err_read)])
        except OSError:
            for end in own:
                os.close(end)
            raise
        for end in (out_write, err_write):
            if end >= 0:
                os.close(end)
        self.stdout = os.fdopen(out_read, "rb") if not pass_stdout else None
        self.stderr = os.fdopen(err_read, "rb")
        self.code: Optional[int] = None

    def reap(self, finished) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.code = os.waitstatus_to_exitcode(status)
        if self.code < 0:  # ended by a signal: the shell's way of saying so
            self.code = 128 - self.code
        finished.set()

    def end(self, grace: float, finished) -> None:
        """SIGTERM to its process group, SIGKILL `grace` seconds later if it is still there."""
        import signal

        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            if finished.wait(wait):
                return


def watch(child: Child, *, silence: float, until: Optional[float], grace: float,
          log: Optional[IO[bytes]], poll: float) -> tuple[int, str, str]:
    """Watch the started command; (exit code, its standard error as kept, why it was ended or "")."""
    import threading
    import time
    from collections import deque

    progress = Progress(child.pid)
    kept: deque = deque(maxlen=KEPT_LINES)
    copiers = [
        *([threading.Thread(target=_copy, args=(child.stdout, [sys.stdout.buffer], progress, None), daemon=True)]
          if child.stdout is not None else []),
        threading.Thread(target=_copy, args=(child.stderr, [log or sys.stderr.buffer], progress, kept), daemon=True),
    ]
    for copier in copiers:
        copier.start()
    finished = threading.Event()
    threading.Thread(target=child.reap, args=(finished,), daemon=True).start()
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
            child.end(grace, finished)
            break
    finished.wait()
    for copier in copiers:
        copier.join(timeout=10)
    assert child.code is not None
    return (ENDED if ended else child.code), "".join(kept), ended


OPTIONS = {"--what": str, "--silence": float, "--until": float, "--grace": float, "--log": str,
           "--cause-file": str, "--clock-url": str, "--poll": float, "--stdout": str}


def _options(argv: list[str]) -> Optional[tuple[dict, list[str]]]:
    """OPTIONS and the command after "--", read without argparse (whose import every restic run
    would wait for); None when they are not that simple (argparse then says what is wrong)."""
    values: dict = {"--what": "command", "--silence": 180.0, "--until": None, "--grace": 10.0, "--log": None,
                    "--cause-file": None, "--clock-url": None, "--poll": 1.0, "--stdout": "copy"}
    position = 0
    while position < len(argv) and argv[position] != "--":
        name, _, inline = argv[position].partition("=")
        if name not in OPTIONS:
            return None
        if inline:
            text, position = inline, position + 1
        elif position + 1 < len(argv):
            text, position = argv[position + 1], position + 2
        else:
            return None
        try:
            values[name] = OPTIONS[name](text)
        except ValueError:
            return None
    if values["--stdout"] not in ("copy", "pass"):
        return None
    command = argv[position + 1:]
    return (values, command) if command else None


def _usage(argv: list[str]) -> int:
    """Help, or what is wrong with the arguments, as argparse words it."""
    import argparse

    parser = argparse.ArgumentParser(prog="daktela-watchdog", description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="command", help="who this is, for the cause line (e.g. 'location 1')")
    parser.add_argument("--silence", type=float, default=180.0, help="seconds without progress before it is ended")
    parser.add_argument("--until", type=float, help="end it at this time, seconds since the epoch")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--log", help="append its standard error here instead of to ours")
    parser.add_argument("--cause-file", help="write the failure's cause here as JSON")
    parser.add_argument("--clock-url", help="on a refusal, compare this machine's clock with this server's")
    parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--stdout", choices=("copy", "pass"), default="copy",
                        help="copy: the command's output is read as lines (not progress); pass: it is a stream "
                             "of data written straight to ours (progress)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- and the command")
    parser.parse_args(argv)
    parser.error("give the options, then -- and the command")
    return 2


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parsed = _options(argv)
    if parsed is None:
        return _usage(argv)
    options, command = parsed
    try:  # the command first: what this program imports from here on overlaps the command's run
        child: Optional[Child] = Child(command, pass_stdout=options["--stdout"] == "pass")
    except OSError as error:  # the command could not be started
        child, code, stderr, ended = None, 127, str(error), ""
    if child is not None:
        log = open(options["--log"], "ab") if options["--log"] else None
        try:
            code, stderr, ended = watch(child, silence=options["--silence"], until=options["--until"],
                                        grace=options["--grace"], log=log,
                                        poll=min(options["--poll"], max(options["--silence"] / 10, 0.1)))
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
        clock = skewed(cause, options["--clock-url"]) if options["--clock-url"] and kind in ("denied", "skew") else None
        if clock:
            cause, kind = clock, "skew"
    if options["--cause-file"]:
        import json

        with open(options["--cause-file"], "w") as handle:
            handle.write(json.dumps({"cause": cause, "kind": kind, "exit_code": code}) + "\n")
    sys.stderr.write(f"{options['--what']}: {cause}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

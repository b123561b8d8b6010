"""The one template renderer: jinja2 over templates/, undefined names are errors, not blanks.

Every script the toolkit runs on a host or an instance is a template here, each value in it passed
through `q` (shell quoting) unless the template says why not; Python builds only single commands
(a restic invocation, `cat FILE`) with shlex.quote. The host facts script's template lays out the
facts' own commands (components/host/facts.py, FACTS).
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import shlex
from types import ModuleType
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from components import names

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_environment.filters["b64"] = lambda text: base64.b64encode(text.encode()).decode()
_environment.filters["q"] = lambda value: shlex.quote(str(value))
_environment.globals["dump_commands"] = names.DUMP_COMMANDS


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with `context`; a name the template uses but `context` lacks raises."""
    return _environment.get_template(name).render(**context)


def verify_program() -> str:
    """The one program of restore drills and deep checks on hosts and instances (installed as
    names.DRILL_PROGRAM and names.CHECK_PROGRAM; it acts by the name it is run under)."""
    return (TEMPLATES / "daktela-verify.py").read_text()


def watchdog_program() -> str:
    """The one runner of the jobs' restic commands: deadlines and the cause (names.WATCHDOG_PROGRAM)."""
    return (TEMPLATES / "daktela-watchdog.py").read_text()


@functools.lru_cache(maxsize=1)
def watchdog() -> ModuleType:
    """The watchdog program as a module: its `cause_of` is the one reader of restic's output, for
    what the toolkit runs over SSH as for what runs on the host."""
    spec = importlib.util.spec_from_file_location("daktela_watchdog", TEMPLATES / "daktela-watchdog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def watched_cause(stderr: str, what: str) -> str:
    """Why a command the watchdog ran as `what` failed, in one line: the watchdog's own cause line
    (its last line, "<what>: cause"), else the one reader of restic's output (`cause_of`: restic's
    Fatal line, never a Go trace's file line), for a host whose jobs predate the watchdog."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if lines and lines[-1].startswith(f"{what}: "):
        return lines[-1][len(what) + 2:]
    return watchdog().cause_of(stderr) if lines else "restic failed without a message"


def timer_job_units(name: str, description: str, exec_start: str, requires_mounts: list[str],
                    calendars: list[str], timeout_seconds: Optional[int],
                    exec_start_pre: Optional[str] = None) -> dict[str, str]:
    """The one way to build a scheduled job's systemd units: {path: content} of its service (a
    oneshot bounded by `timeout_seconds`, needing `requires_mounts`, after `exec_start_pre`) and
    its timer (`calendars`)."""
    service = render("systemd-backup.service.j2", description=description, exec_start=exec_start,
                     exec_start_pre=exec_start_pre, requires_mounts=requires_mounts,
                     runtime_max_seconds=timeout_seconds)
    timer = render("systemd-backup.timer.j2", description=f"{description} (schedule)",
                   calendars=calendars, unit=f"{name}.service")
    return {f"/etc/systemd/system/{name}.service": service, f"/etc/systemd/system/{name}.timer": timer}

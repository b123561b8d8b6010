"""The one template renderer: jinja2 over templates/, undefined names are errors, not blanks.

Every script the toolkit runs on a host or an instance is a template here, each value in it passed
through `q` (shell quoting) unless the template says why not; Python builds only single commands
(a restic invocation, `cat FILE`) with shlex.quote. The host facts script's template lays out the
facts' own commands (components/host/facts.py, FACTS).
"""

from __future__ import annotations

import base64
import shlex
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


def restore_drill_program() -> str:
    """The one restore drill program of hosts and instances (installed at names.DRILL_PROGRAM)."""
    return (TEMPLATES / "daktela-restore-drill.py").read_text()


def timer_job_units(name: str, description: str, exec_start: str, requires_mounts: list[str],
                    calendars: list[str], timeout_seconds: Optional[int]) -> dict[str, str]:
    """The one way to build a scheduled job's systemd units: {path: content} of its service (a
    oneshot bounded by `timeout_seconds`, needing `requires_mounts`) and its timer (`calendars`)."""
    service = render("systemd-backup.service.j2", description=description, exec_start=exec_start,
                     requires_mounts=requires_mounts, runtime_max_seconds=timeout_seconds)
    timer = render("systemd-backup.timer.j2", description=f"{description} (schedule)",
                   calendars=calendars, unit=f"{name}.service")
    return {f"/etc/systemd/system/{name}.service": service, f"/etc/systemd/system/{name}.timer": timer}

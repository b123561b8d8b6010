"""The one template renderer: jinja2 over templates/, undefined names are errors, not blanks."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_environment.filters["b64"] = lambda text: base64.b64encode(text.encode()).decode()


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with `context`; a name the template uses but `context` lacks raises."""
    return _environment.get_template(name).render(**context)

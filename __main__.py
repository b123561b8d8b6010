"""Pulumi entry point: builds one Daktela CC installation from this stack's config."""

import pulumi

from components.config import ConfigError
from components.program import build

try:
    build()
except ConfigError as error:
    # A clean, readable stop (no traceback): every config problem with its path and a hint.
    raise pulumi.RunError(str(error)) from None

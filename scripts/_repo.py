"""Lets a script run as `python scripts/<name>.py` from anywhere: puts the repo root on sys.path."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

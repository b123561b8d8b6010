"""Lets a script run as `./scripts/<name>.py` or `python scripts/<name>.py` from anywhere: puts the
repo root on sys.path and, when started by another Python than the project's virtualenv (`.venv`,
which `make plan` creates and Pulumi.yaml names), re-runs the script under that one."""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"

if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve() \
        and not os.environ.get("DAKTELA_NO_VENV_REEXEC"):
    os.environ["DAKTELA_NO_VENV_REEXEC"] = "1"  # once, whatever happens
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def parser(doc: str):  # -> argparse.ArgumentParser
    """The command's parser: its docstring's first paragraph, whole, as the description (the
    first line alone can stop mid-sentence), the rest, as written, after the options."""
    import argparse

    first, _, rest = doc.strip().partition("\n\n")
    return argparse.ArgumentParser(description=first, epilog=rest or None,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: an interrupted write leaves the old file. An existing
    file keeps its mode; a new one is its owner's only (mkstemp's 0600)."""
    import tempfile

    mode = path.stat().st_mode & 0o777 if path.exists() else None
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

"""The workflows' matrices: the fleet's stacks cut into batches, so that any number of installations
fits what GitHub Actions allows.

GitHub runs at most 256 jobs from one matrix. A job per stack (how drift, previews and the weekly
prune first ran) stops working at the 257th installation: the whole matrix is refused and nothing
runs. Here a matrix has at most `jobs` entries (default DEFAULT_JOBS), each a batch of stacks the
job works through one after another:

    shard(["a", "b", "c"], jobs=2) == [{"batch": "1-of-2", "stacks": "a b"}, {"batch": "2-of-2", "stacks": "c"}]

Stacks are sorted and cut into contiguous batches whose sizes differ by at most one, so the same
fleet always gives the same matrix. Stack names are checked: a job reads its batch as a
space-separated list, so a name must be one word (letters, digits, `.`, `_`, `-`), which is what
scripts/onboard.py writes.

Only the standard library: the workflow runs this before it installs anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

GITHUB_MATRIX_LIMIT = 256  # jobs one matrix may make (GitHub Actions' documented limit)
# Jobs per matrix by default: GitHub's free and Team plans run 20 and 60 jobs at once, so more
# would queue anyway. At about 2 minutes per `pulumi preview --refresh`, 1,000 stacks take about
# 100 minutes a job, well inside a job's 6 hours; --jobs raises it.
DEFAULT_JOBS = 20
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.yaml$")


class MatrixError(ValueError):
    pass


def stacks_of(files: Iterable[Path | str], include_examples: bool = False) -> list[str]:
    """The stack names of stack files (`Pulumi.<stack>.yaml`); the examples only when asked."""
    names = []
    for file in files:
        found = STACK_FILE.match(Path(file).name)
        if not found:
            continue
        if include_examples or not found["stack"].startswith("example-"):
            names.append(found["stack"])
    return names


def read_stack_list(path: Path) -> list[str]:
    """A JSON list of stack names (scripts/pr_preview.py's stacks.json); MatrixError says what is wrong."""
    import json

    try:
        stacks = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise MatrixError(f"{path}: cannot read a JSON list of stack names: {error}") from None
    if not isinstance(stacks, list) or not all(isinstance(s, str) for s in stacks):
        raise MatrixError(f"{path}: expected a JSON list of stack names")
    return stacks


def shard(stacks: Sequence[str], jobs: int = DEFAULT_JOBS) -> list[dict[str, str]]:
    """At most `jobs` matrix entries covering every stack exactly once (see the module's docstring)."""
    if not 1 <= jobs <= GITHUB_MATRIX_LIMIT:
        raise MatrixError(f"--jobs must be between 1 and {GITHUB_MATRIX_LIMIT} (GitHub's matrix limit), not {jobs}")
    bad = sorted(s for s in set(stacks) if not STACK_NAME.match(s))
    if bad:
        raise MatrixError(f"stack name {bad[0]!r} (Pulumi.{bad[0]}.yaml) is not one word of letters, digits, "
                          "'.', '_' or '-': rename the stack file (pulumi stack rename) before it can be batched")
    names = sorted(set(stacks))
    if not names:
        return []
    count = min(jobs, len(names))
    size, larger = divmod(len(names), count)
    entries, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < larger else 0)
        entries.append({"batch": f"{index + 1}-of-{count}", "stacks": " ".join(names[start:end])})
        start = end
    return entries

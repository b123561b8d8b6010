"""A config problem (where, what to do) and the error that lists every problem."""

from __future__ import annotations

from dataclasses import dataclass





@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack config: where, and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The stack config is invalid; `problems` lists every problem found, in a stable order."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        lines = [f"The stack config has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  {problem}" for problem in problems]
        super().__init__("\n".join(lines))


"""Rolling a change out to the fleet in waves: canary installations first, then the rest in growing
batches, each wave behind an approval and checked before the next (docs/operate.md, "Rolling a
change out"; .github/workflows/rollout.yml runs the waves).

    plan_waves({"acme": True, "beta": False, ...}, first=5, growth=3, largest=50)

- wave 1: the canaries (`installation.rollout.canary: true`). With none flagged, the first stack in
  name order goes alone: a rollout never starts on many installations at once;
- then every other stack in name order, in waves of `first`, `first * growth`, ... stacks, none
  larger than `largest`.
A pure function of the stacks and their flags: the same fleet always gives the same waves, so a
rollout stopped at wave N resumes at wave N with the same stacks in it. At most 256 waves, GitHub's
limit for one matrix. Only the standard library: the workflow plans before it installs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from components.matrix import GITHUB_MATRIX_LIMIT, STACK_NAME, MatrixError


@dataclass(frozen=True)
class Wave:
    number: int
    canary: bool
    stacks: tuple[str, ...]


def plan_waves(canary_of: Mapping[str, bool], first: int = 5, growth: int = 3, largest: int = 50) -> list[Wave]:
    if first < 1 or growth < 1 or largest < first:
        raise MatrixError(f"waves need first >= 1, growth >= 1 and largest >= first (got {first}, {growth}, {largest})")
    bad = sorted(s for s in canary_of if not STACK_NAME.match(s))
    if bad:
        raise MatrixError(f"stack name {bad[0]!r} is not one word of letters, digits, '.', '_' or '-'")
    names = sorted(canary_of)
    if not names:
        return []
    canaries = [s for s in names if canary_of[s]] or names[:1]
    rest = [s for s in names if s not in canaries]
    waves = [Wave(1, True, tuple(canaries))]
    size = first
    while rest:
        waves.append(Wave(len(waves) + 1, False, tuple(rest[:size])))
        rest = rest[size:]
        size = min(largest, size * growth)
    if len(waves) > GITHUB_MATRIX_LIMIT:
        raise MatrixError(f"{len(waves)} waves: more than GitHub's {GITHUB_MATRIX_LIMIT} jobs a matrix; raise --largest")
    return waves


def matrix_of(waves: list[Wave]) -> list[dict[str, str]]:
    """The waves as `strategy.matrix.include` entries, in order."""
    return [{"wave": f"{w.number}-of-{len(waves)}", "kind": "canary" if w.canary else "batch",
             "stacks": " ".join(w.stacks)} for w in waves]


def render(waves: list[Wave], total: int | None = None) -> str:
    """One line per wave; `total`, the rollout's number of waves when `waves` resumes part of it."""
    total = total or len(waves)
    lines = []
    for wave in waves:
        shown = " ".join(wave.stacks) if len(wave.stacks) <= 8 else \
            f"{' '.join(wave.stacks[:3])} ... {' '.join(wave.stacks[-2:])}"
        lines.append(f"wave {wave.number} of {total}{' (canary)' if wave.canary else ''}: "
                     f"{len(wave.stacks)} stack{'s' if len(wave.stacks) != 1 else ''}: {shown}")
    return "\n".join(lines) + ("\n" if lines else "no stack to roll out\n")

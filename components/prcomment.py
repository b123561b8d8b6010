"""Pull-request comments: one per changed stack, with the resource diff and the guardrail results.

Rendered from plans only (no cloud credentials); secrets are already `[secret]` in every plan.
Each comment starts with a marker so the workflow edits it in place instead of adding another.
"""

from __future__ import annotations

from typing import Optional

from components.guardrails import Violation
from components.planview import PlanDiff, render_diff

MARKER = "<!-- daktela-plan: {stack} -->"
MAX_DIFF_CHARS = 60000  # GitHub comments hold 65536 characters


def render_comment(stack: str, diff: Optional[PlanDiff], violations: list[Violation],
                   error: Optional[str] = None, note: str = "") -> str:
    lines = [MARKER.format(stack=stack), f"### Plan of `{stack}` (offline, from the stack file; no cloud access)"]
    if note:
        lines.append(note)
    if error is not None:
        lines += ["", "**The stack cannot be planned:**", "", "```", error.strip(), "```"]
        return "\n".join(lines) + "\n"
    assert diff is not None
    counts = diff.counts
    verdict = "all passed" if not violations else f"**{len(violations)} violation(s)**"
    lines += ["", f"**{counts}** · guardrails: {verdict}", ""]
    body = "\n".join(render_diff(diff).splitlines()[1:])  # the same markers as plan.py --diff
    if len(body) > MAX_DIFF_CHARS:
        body = body[:MAX_DIFF_CHARS] + "\n… (cut; run scripts/plan.py --diff locally for the whole diff)"
    if body.strip():
        lines += ["`+` added, `-` removed, `~` changed, `=` kept through an alias (as `scripts/plan.py --diff` prints it)", "",
                  "```diff", body, "```"]
    else:
        lines.append("No resource changes.")
    if violations:
        lines += ["", "Guardrail violations:", ""] + [f"- {v}" for v in violations]
    return "\n".join(lines) + "\n"


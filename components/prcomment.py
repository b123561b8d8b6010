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
    counts = f"{len(diff.added)} to add, {len(diff.changed)} to change, {len(diff.removed)} to remove"
    verdict = "all passed" if not violations else f"**{len(violations)} violation(s)**"
    lines += ["", f"**{counts}** · guardrails: {verdict}", ""]
    body = render_diff(diff)
    body = "\n".join(_diff_marker(line) for line in body.splitlines()[1:])
    if len(body) > MAX_DIFF_CHARS:
        body = body[:MAX_DIFF_CHARS] + "\n… (cut; run scripts/plan.py --diff locally for the whole diff)"
    if body.strip():
        lines += ["```diff", body, "```"]
    else:
        lines.append("No resource changes.")
    if violations:
        lines += ["", "Guardrail violations:", ""] + [f"- {v}" for v in violations]
    return "\n".join(lines) + "\n"


def _diff_marker(line: str) -> str:
    # GitHub colours "+" and "-" lines; "~" (changed) and detail lines stay neutral.
    if line.startswith("~ "):
        return "! " + line[2:]
    return line

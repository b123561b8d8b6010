"""Pull-request comments: one per changed stack, with the resource diff and the guardrail results.

Rendered from plans only (no cloud credentials); secrets are already `[secret]` in every plan.
Each comment starts with a marker so the workflow edits it in place instead of adding another.
"""

from __future__ import annotations

from typing import Optional, Sequence

from components.guardrails import Violation
from components.planview import PlanDiff, render_diff
from components.stackplan import secret_commands

MARKER = "<!-- daktela-plan: {stack} -->"
MAX_DIFF_CHARS = 60000  # GitHub comments hold 65536 characters


def render_comment(stack: str, diff: Optional[PlanDiff], violations: list[Violation],
                   error: Optional[str] = None, note: str = "", waiting: Sequence[str] = ()) -> str:
    lines = [MARKER.format(stack=stack), f"### Plan of `{stack}` (offline, from the stack file; no cloud access)"]
    if note:
        lines.append(note)
    if error is not None:
        lines += ["", "**The stack cannot be planned:**", "", "```", error.strip(), "```"]
        return "\n".join(lines) + "\n"
    assert diff is not None
    counts = diff.counts
    verdict = "all passed" if not violations else f"**{len(violations)} violation(s)**"
    if waiting:  # the one rule for such a stack (components/stackplan.py)
        verdict += " · **waits for its secrets**: planned with placeholders; `pulumi up` stops until they are set"
    lines += ["", f"**{counts}** · guardrails: {verdict}", ""]
    if waiting:
        lines += ["A person with the Pulumi CLI sets them (docs/operate.md, \"From onboarding to the first "
                  "preview\"), then commits the stack file:", "", "```sh", *secret_commands(stack, waiting), "```", ""]
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


"""One rule for a stack whose secrets are not set yet, the same in every tool.

A stack whose only config problems are secrets that are not set (`components/config`'s SECRET_KEYS)
*waits for its secrets*: a newly onboarded stack does, until a person with the Pulumi CLI sets them
(onboarding stores none). Every tool plans such a stack with "[secret]" placeholders (a secret prints
as [secret] in every plan anyway, so the plan is the one the stack will have), runs the guardrails
on that plan, and says in the same words that it waits for its secrets, with the commands that set
them. It is planned but not deployable (`pulumi up` stops at the first missing secret), so:

- `scripts/plan.py`: planned (exit 0), the commands on stderr;
- `scripts/plan.py --check`: the guardrails first (exit 3 when violated), then exit 4, "waits for
  its secrets";
- `scripts/fleet.py`: the guardrails column says "passed; waits for its secrets", and the row is not
  ok (exit 1);
- the pull request's comment: its verdict line says it and lists the commands; the preview's exit
  code is about guardrails and planning, so a waiting stack alone does not fail it.

The plan's JSON carries the keys as `waiting_for_secrets` (absent when none), so tools that read
saved plans (the PR preview) know it without planning again. Any other config problem is a
ConfigError, as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from components.config import SECRET_KEYS, ConfigError
from components.offline import SECRET, StackInput, run_program

WAITING_KEY = "waiting_for_secrets"


def secret_commands(stack: str, keys: Sequence[str]) -> list[str]:
    """The commands that set these secret keys, in order, for a person with the Pulumi CLI."""
    how = {secret.full_key: secret.how_to_set for secret in SECRET_KEYS}
    return [f"pulumi stack select {stack}"] + [how[key] for key in keys]


def waiting_hint(stack: str, keys: list[str]) -> str:
    return (f"stack {stack} waits for its secrets; set them with the Pulumi CLI:\n"
            + "\n".join(f"  {command}" for command in secret_commands(stack, keys)))


def missing_secrets(error: ConfigError) -> Optional[list[str]]:
    """The secret keys, when the only problems are secrets not set yet; else None."""
    secrets = {secret.full_key for secret in SECRET_KEYS}
    if not error.problems or any(p.path not in secrets or "is required" not in p.message for p in error.problems):
        return None
    return [p.path for p in error.problems]


@dataclass(frozen=True)
class StackPlan:
    stack: str
    plan: dict[str, Any]
    waiting: tuple[str, ...] = ()  # secret keys not set yet: planned with placeholders

    @property
    def hint(self) -> str:
        return waiting_hint(self.stack, list(self.waiting)) if self.waiting else ""


def plan_stack(stack_input: StackInput) -> StackPlan:
    """The stack's plan by the rule above; ConfigError when something else is wrong."""
    try:
        return StackPlan(stack_input.stack, run_program(stack_input).to_json())
    except ConfigError as error:
        keys = missing_secrets(error)
        if keys is None:
            raise
    placeholders = dataclasses.replace(stack_input, config={**stack_input.config, **{k: SECRET for k in keys}},
                                       secret_keys=tuple(sorted({*stack_input.secret_keys, *keys})))
    plan = run_program(placeholders).to_json()
    plan[WAITING_KEY] = keys
    return StackPlan(stack_input.stack, plan, tuple(keys))


def waiting_of(plan: dict[str, Any]) -> list[str]:
    """The secret keys a saved plan (its JSON) was waiting for; [] when none."""
    return list(plan.get(WAITING_KEY) or [])

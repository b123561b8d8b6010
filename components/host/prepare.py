"""Prepare a host: plan from fresh facts, apply exactly those steps, verify. Also a dry run.

Apply re-reads the facts first and aborts if what the plan depends on changed since it was made.
Verify re-reads once more and re-plans: a prepared host must plan zero steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from components.host.errors import ConnectionLost, FactsUnreadable, HostError, StalePlan, StepFailed, VerifyFailed
from components.host.facts import HostFacts, gather
from components.host.layout import DesiredLayout
from components.host.planner import plan, relevant_facts
from components.host.ssh import Connection
from components.host.steps import Step

Progress = Callable[[str], None]


@dataclass
class Prepared:
    facts: HostFacts  # as read by the last check
    steps: list[Step]  # what was planned (and, unless a dry run, applied)
    applied: bool


def read_plan(connection: Connection, layout: DesiredLayout) -> tuple[HostFacts, list[Step]]:
    """Facts and the plan made from them. Raises PlanRefused when the host cannot be prepared."""
    facts = gather(connection, layout.paths(), layout.file_paths())
    return facts, plan(facts, layout)


def apply(
    connection: Connection,
    layout: DesiredLayout,
    planned_facts: HostFacts,
    steps: list[Step],
    progress: Optional[Progress] = None,
) -> HostFacts:
    """Run `steps` (made from `planned_facts`) and verify. Returns the verified facts."""
    say = progress or (lambda line: None)
    name = connection.access.name
    current = gather(connection, layout.paths(), layout.file_paths())
    if relevant_facts(current, layout) != relevant_facts(planned_facts, layout):
        raise StalePlan(f"{name}: the drives, mounts or /etc/fstab changed since the plan was made; "
                        "nothing was applied. Plan again.")
    for number, step in enumerate(steps, 1):
        say(f"[{number}/{len(steps)}] {step} ...")
        try:
            connection.run(step.script(), stdin=step.stdin())
        except ConnectionLost as error:
            raise StepFailed(f"{name}: the connection was lost during step {number} of {len(steps)} ({step}); "
                             "whether it finished is unknown. Every step is safe to repeat: re-run to continue") from error
        except HostError as error:
            raise StepFailed(f"{name}: step {number} of {len(steps)} failed ({step}): {error}") from error
        say(f"[{number}/{len(steps)}] done")
    return verify(connection, layout)


def verify(connection: Connection, layout: DesiredLayout) -> HostFacts:
    try:
        facts = gather(connection, layout.paths(), layout.file_paths())
    except FactsUnreadable as error:
        raise VerifyFailed(f"{error} (while verifying, after the steps ran)") from error
    remaining = plan(facts, layout)
    if remaining:
        raise VerifyFailed(
            f"{connection.access.name}: after apply the host still needs: "
            + "; ".join(str(step) for step in remaining)
        )
    for drive in layout.drives:
        mounts = facts.mounts_at(drive.mount_point)
        signatures = [s for m in mounts for s in facts.signatures.get(m.source, ())]
        if not any(s.uuid == drive.filesystem_uuid for s in signatures):
            raise VerifyFailed(f"{connection.access.name}: {drive.mount_point} is not the "
                               f"{drive.role} drive's filesystem (UUID {drive.filesystem_uuid})")
    return facts


def prepare(
    connection: Connection,
    layout: DesiredLayout,
    dry_run: bool = False,
    progress: Optional[Progress] = None,
) -> Prepared:
    """Plan and, unless `dry_run`, apply and verify. A prepared host costs one round trip."""
    facts, steps = read_plan(connection, layout)
    if dry_run or not steps:
        return Prepared(facts, steps, applied=False)
    verified = apply(connection, layout, facts, steps, progress)
    return Prepared(verified, steps, applied=True)

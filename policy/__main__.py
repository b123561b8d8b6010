"""Policy pack: the catalogue's guardrails (components/guardrails.py) on a real preview.

    pulumi preview --policy-pack policy
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy  # noqa: E402

from components.guardrails import GUARDRAILS, check_plan, plan_from_policy_resources  # noqa: E402


def _policy(rule):
    def validate(args, report_violation):
        plan = plan_from_policy_resources(args.resources)
        for violation in check_plan(plan, [rule]):
            report_violation(str(violation))

    return StackValidationPolicy(
        name=rule.__name__.replace("check_", "daktela-").replace("_", "-"),
        description=(rule.__doc__ or rule.__name__).strip().splitlines()[0],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


PolicyPack(name="daktela-catalogue", policies=[_policy(rule) for rule in GUARDRAILS])

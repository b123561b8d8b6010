"""Golden plans of the example stacks: a change to what they register shows up here as a diff.

A renamed or re-parented resource changes its URN and would be replaced on a live installation,
so an unexpected golden diff is a bug until proven otherwise. Refresh deliberately:
    .venv/bin/python -m pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import json

import pytest

from components.offline import read_stack_file, run_program
from components.planview import diff_plans, render_diff, render_text
from tests.conftest import EXAMPLES, REPO

GOLDEN = REPO / "tests" / "golden"


@pytest.mark.parametrize("hosting", sorted(EXAMPLES))
def test_example_plan_matches_golden(hosting, update_golden):
    plan = run_program(read_stack_file(EXAMPLES[hosting])).to_json()
    stack = plan["stack"]
    outputs = {
        GOLDEN / f"{stack}.plan.txt": render_text(plan),
        GOLDEN / f"{stack}.plan.json": json.dumps(plan, indent=2, sort_keys=True) + "\n",
    }
    for path, text in outputs.items():
        if update_golden:
            path.write_text(text)
            continue
        assert path.exists(), f"{path.name} is missing; create it with --update-golden"
        assert text == path.read_text(), (
            f"{path.name} differs from the program's plan; if the change is intended, "
            "refresh with --update-golden and review the diff"
        )


def test_urns_carry_the_whole_type_chain_as_the_engine_makes_them():
    """The engine's URN holds every ancestor's type (the root stack left out): moving a component
    changes its grandchildren's URNs too. The SDK's mock keeps only the parent's type; ours must
    not, or a golden plan would hide a replacement two levels down."""
    plan = run_program(read_stack_file(EXAMPLES["on-premise"]))
    [bucket] = [r for r in plan.resources if r.type == "aws:s3/bucket:Bucket" and r.name.endswith("location-1")]
    chain = bucket.urn.split("::")[2].split("$")
    assert chain == ["daktela:onprem:OnPremInstallation", "daktela:onprem:OffsiteBackupTarget",
                     chain[2], "aws:s3/bucket:Bucket"] and chain[2].endswith(":BackupBucket")
    assert all("pulumi:pulumi:Stack" not in r.urn for r in plan.resources)


# Resources the example stacks gained after the move (issue 23: the deep checks' alarms, and the
# instance's dump and file-level runs' failure alarms; issue 24: the drill's scratch volume, the
# prune principal).
PRUNE = ["prune", "prune-policy", "prune-role"]
ADDED_SINCE_THE_MOVE = {
    "cloud": sorted(["acme-cloud-freshness-check-file-level-failed", "acme-cloud-freshness-check-file-level-stale",
                     "acme-cloud-freshness-database-dump-failed", "acme-cloud-freshness-file-level-failed",
                     "acme-cloud-host-drill-scratch", "acme-cloud-host-drill-scratch-attachment",
                     *(f"acme-cloud-{p}" for p in PRUNE)]),
    "on-premise": sorted([*(f"acme-onprem-freshness-check-location-{n}-{kind}" for n in (1, 2)
                            for kind in ("failed", "stale")), *(f"acme-onprem-{p}" for p in PRUNE)]),
}


@pytest.mark.parametrize("hosting", sorted(EXAMPLES))
def test_moving_shared_parts_to_components_aws_replaces_nothing(hosting):
    """The backup bucket and the freshness watch moved from `daktela:cloud:` to `daktela:aws:`
    (both hostings use them). Every URN the example stacks had before the move (recorded in
    tests/fixtures/urns/) is still a URN of the plan or an alias the engine finds a resource under,
    so `pulumi up` replaces nothing; the diff against the old URNs adds and removes nothing."""
    plan = run_program(read_stack_file(EXAMPLES[hosting])).to_json()
    before = (REPO / "tests" / "fixtures" / "urns" / f"{plan['stack']}.before-aws-package.txt").read_text().split()
    base = {"stack": plan["stack"], "resources": [
        {"urn": urn, "type": urn.split("::")[2].rsplit("$", 1)[-1], "name": urn.split("::")[3],
         "inputs": {}, "options": {}} for urn in before]}
    stripped = {**plan, "resources": [{**r, "inputs": {}, "options": {}, "parent": None, "provider": None}
                                      for r in plan["resources"]]}
    diff = diff_plans(base, stripped)
    assert not diff.removed
    # what came after the move is new, never an old resource under a new name
    assert sorted(r["name"] for r in diff.added) == ADDED_SINCE_THE_MOVE[hosting]
    assert {m[2] for m in diff.moved} >= {"daktela:aws:BackupBucket", "daktela:aws:FreshnessWatch"}
    text = render_diff(diff)
    assert text.startswith(f"Stack {plan['stack']}: {len(diff.added)} to add, 0 to change, 0 to remove, "
                           f"{len(diff.moved)} kept")
    assert "= daktela:aws:FreshnessWatch" in text and "kept through an alias from" in text

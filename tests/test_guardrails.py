"""Each guardrail passes on the example plans and catches a plan that breaks its rule; the same
code runs offline (`plan.py --check`) and in the policy pack."""

from __future__ import annotations

import copy
import json

import pytest
from pulumi_policy import PolicyProviderResource, PolicyResource, PolicyResourceOptions

from components import guardrails
from components.guardrails import check_plan
from components.offline import read_stack_file, run_program
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def plans():
    return {hosting: run_program(read_stack_file(path)).to_json() for hosting, path in EXAMPLES.items()}


def rules_of(violations) -> set[str]:
    return {v.rule for v in violations}


def test_example_plans_pass_every_guardrail(plans):
    for hosting, plan in plans.items():
        assert check_plan(plan) == [], hosting


def edit(plan: dict, type_token: str, change, name_part: str = "") -> dict:
    plan = copy.deepcopy(plan)
    hit = 0
    for resource in plan["resources"]:
        if resource["type"] == type_token and name_part in resource["name"]:
            change(resource)
            hit += 1
    assert hit, f"no {type_token} to edit"
    return plan


def drop(plan: dict, type_token: str, name_part: str = "") -> dict:
    plan = copy.deepcopy(plan)
    plan["resources"] = [r for r in plan["resources"] if not (r["type"] == type_token and name_part in r["name"])]
    return plan


def _timer_at(resource, old, new):
    """The job files' S3 object (what the instance converges to) with a timer moved."""
    resource["inputs"]["content"] = resource["inputs"]["content"].replace(old, new)


def _without_decrypt(resource):
    """The policy with every KMS statement left out."""
    document = json.loads(resource["inputs"]["policy"])
    document["Statement"] = [s for s in document["Statement"]
                             if not any(str(a).startswith("kms:") for a in s["Action"])]
    resource["inputs"]["policy"] = json.dumps(document)


def _allowing(action: str, resource_suffix: str = ""):
    """The policy with one more statement allowing `action` on its first object resource (+ suffix)."""
    def change(resource):
        document = json.loads(resource["inputs"]["policy"])
        target = next(r for s in document["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list)
                                                                    else [s["Resource"]]) if "/" in r)
        document["Statement"].append({"Sid": "Extra", "Effect": "Allow", "Action": [action],
                                      "Resource": [target.rsplit("/", 1)[0] + "/" + resource_suffix if resource_suffix
                                                   else target]})
        resource["inputs"]["policy"] = json.dumps(document)
    return change


def _without_marker_expiry(resource):
    for rule in resource["inputs"]["rules"]:
        rule.pop("expiration", None) if rule.get("expiration", {}).get("expiredObjectDeleteMarker") else None


VIOLATIONS = [
    ("cloud", "cloud-three-technologies", lambda p: drop(p, "aws:backup/plan:Plan")),
    ("cloud", "cloud-distinct-times", lambda p: edit(p, "aws:s3/bucketObjectv2:BucketObjectv2",
        lambda r: _timer_at(r, "OnCalendar=*-*-* 18:00:00 UTC", "OnCalendar=*-*-* 10:00:00 UTC"))),
    ("cloud", "freshness-alarms", lambda p: drop(p, guardrails.ALARM, "file-level")),
    ("cloud", "freshness-alarms", lambda p: edit(p, guardrails.ALARM,
        lambda r: r["inputs"].update(treatMissingData="notBreaching"), "database-dump")),
    ("cloud", "freshness-alarms", lambda p: edit(p, guardrails.ALARM,
        lambda r: r["inputs"].update(threshold=48), "block-level")),
    ("on-premise", "freshness-alarms", lambda p: drop(p, guardrails.ALARM, "location-2")),
    ("on-premise", "onprem-two-regions", lambda p: edit(p, guardrails.PREPARED_HOST,
        lambda r: r["inputs"]["backup_job"]["locations"][1].update(region="eu-central-1"))),
    ("on-premise", "onprem-twice-daily", lambda p: edit(p, guardrails.PREPARED_HOST,
        lambda r: r["inputs"]["backup_job"].update(times=["01:00"]))),
    ("on-premise", "onprem-exclusions", lambda p: edit(p, guardrails.PREPARED_HOST,
        lambda r: r["inputs"]["backup_job"].update(archive_mount="/srv/daktela/archive"))),
    # issue 25.1: a host onboarded before it was reachable plans, but is not deployable
    ("on-premise", "onprem-host-checked", lambda p: edit(p, guardrails.PREPARED_HOST,
        lambda r: r["inputs"].update(host_unchecked=True))),
    ("on-premise", "onprem-backup", lambda p: edit(p, guardrails.PREPARED_HOST,
        lambda r: r["inputs"].update(backup_job="not a job"))),  # malformed: reported, not skipped
    ("cloud", "bucket-private", lambda p: edit(p, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        lambda r: r["inputs"].update(blockPublicPolicy=False), "restic")),
    ("on-premise", "bucket-encrypted", lambda p: drop(p,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "location-2")),
    ("cloud", "bucket-versioned", lambda p: edit(p, "aws:s3/bucketVersioning:BucketVersioning",
        lambda r: r["inputs"].update(versioningConfiguration={"status": "Suspended"}), "db-dumps")),
    ("cloud", "fees-retained", lambda p: edit(p, guardrails.TABLE_ITEM,
        lambda r: r["options"].update(retain_on_delete=False), "9.03-storage")),
    ("on-premise", "fees-one-off-once", lambda p: drop(p, guardrails.TABLE_ITEM, "6.21")),
    ("on-premise", "fees-one-off-once", lambda p: edit(p, guardrails.TABLE_ITEM,
        lambda r: r["options"].update(ignore_changes=[]), "6.21")),
    # issue 25.6: a stack destroyed without contract.end_date went on being billed every month
    ("cloud", "fees-open-contract-protected", lambda p: edit(p, guardrails.TABLE_ITEM,
        lambda r: r["options"].update(protect=False), "fees-contract")),
    ("on-premise", "storage-metered", lambda p: drop(p, guardrails.ALARM, "storage-readings-missing")),
    ("cloud", "restore-drilled", lambda p: drop(p, guardrails.ALARM, "drill-database-dump-stale")),
    ("cloud", "restore-drilled", lambda p: drop(p, guardrails.ALARM, "drill-file-level-failed")),
    ("on-premise", "restore-drilled", lambda p: drop(p, guardrails.ALARM, "drill-location-2-stale")),
    ("cloud", "storage-metered", lambda p: drop(p, guardrails.ALARM, "storage-above-included")),
    ("cloud", "storage-metered", lambda p: drop(p, guardrails.TABLE_ITEM, "fees-contract")),
    ("cloud", "repositories-verified", lambda p: drop(p, guardrails.ALARM, "check-file-level-stale")),
    ("on-premise", "repositories-verified", lambda p: drop(p, guardrails.ALARM, "check-location-1-failed")),
    # issue 23.3: the drill alarms treated missing data as not breaching, so a checker that could not
    # read the drill results kept them quiet
    ("cloud", "silence-alarms", lambda p: edit(p, guardrails.ALARM,
        lambda r: r["inputs"].update(treatMissingData="notBreaching"), "drill-database-dump-failed")),
    ("on-premise", "silence-alarms", lambda p: edit(p, guardrails.ALARM,
        lambda r: r["inputs"].update(treatMissingData="notBreaching"), "location-2-failed")),
    # issue 23.3: the checker could read the drill results in the SSE-KMS dumps bucket, but not decrypt them
    ("cloud", "kms-keys", lambda p: edit(p, "aws:iam/rolePolicy:RolePolicy", _without_decrypt, "freshness")),
    ("cloud", "kms-keys", lambda p: edit(p, "aws:iam/rolePolicy:RolePolicy", _without_decrypt, "host-least")),
    # issue 24: retention is a job with its own principal; nobody removes a version or a lock
    ("cloud", "retention-job", lambda p: drop(p, "aws:iam/rolePolicy:RolePolicy", "prune-policy")),
    ("on-premise", "retention-job", lambda p: drop(p, guardrails.PRUNE_PRINCIPAL)),
    ("on-premise", "retention-principal", lambda p: edit(p, "aws:iam/rolePolicy:RolePolicy",
        _allowing("s3:DeleteObjectVersion"), "prune-policy")),
    ("on-premise", "retention-principal", lambda p: edit(p, "aws:iam/userPolicy:UserPolicy",
        _allowing("s3:DeleteObject", "*"), "host-policy")),
    ("cloud", "retention-lifecycle", lambda p: edit(p,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", _without_marker_expiry, "restic")),
]


@pytest.mark.parametrize("hosting,rule,breaks", VIOLATIONS, ids=[f"{v[1]}-{i}" for i, v in enumerate(VIOLATIONS)])
def test_each_guardrail_catches_its_violation(plans, hosting, rule, breaks):
    violations = check_plan(breaks(plans[hosting]))
    assert rule in rules_of(violations), [str(v) for v in violations]
    assert all(str(v).startswith("[") for v in violations)


def test_every_rule_has_a_violating_fixture():
    rules = {v[1] for v in VIOLATIONS}
    assert rules == {"cloud-three-technologies", "cloud-distinct-times", "freshness-alarms", "onprem-two-regions",
                     "onprem-twice-daily", "onprem-exclusions", "bucket-private", "bucket-encrypted",
                     "bucket-versioned", "fees-retained", "fees-one-off-once", "fees-open-contract-protected",
                     "storage-metered", "onprem-host-checked",
                     "restore-drilled", "onprem-backup", "repositories-verified", "silence-alarms", "kms-keys",
                     "retention-job", "retention-principal", "retention-lifecycle"}


def test_unknown_values_of_a_real_preview_are_not_violations(plans):
    plan = edit(plans["on-premise"], guardrails.PREPARED_HOST, lambda r: r["inputs"].update(backup_job="[unknown]"))
    assert check_plan(plan) == []


def _as_policy_resources(plan: dict) -> list[PolicyResource]:
    by_key: dict[str, PolicyResource] = {}
    out = []
    for resource in plan["resources"]:
        provider = None
        if resource["provider"] and "(" in resource["provider"]:
            name, region = resource["provider"].rstrip(")").split(" (")
            provider = PolicyProviderResource("pulumi:providers:aws", {"region": region}, f"urn::{name}", name)
        options = PolicyResourceOptions(
            protect=resource["options"]["protect"], ignore_changes=resource["options"]["ignore_changes"],
            delete_before_replace=resource["options"]["delete_before_replace"], aliases=[],
            custom_timeouts=None, additional_secret_outputs=resource["options"].get("additional_secret_outputs", []),
        )
        policy_resource = PolicyResource(resource["type"], resource["inputs"], resource["urn"], resource["name"],
                                         options, provider, by_key.get(resource["parent"] or ""), [], {})
        by_key[f"{resource['type']}::{resource['name']}"] = policy_resource
        out.append(policy_resource)
    return out


@pytest.mark.parametrize("hosting", ["cloud", "on-premise"])
def test_the_policy_pack_sees_the_same_plan(plans, hosting):
    adapted = guardrails.plan_from_policy_resources(_as_policy_resources(plans[hosting]))
    assert check_plan(adapted) == []
    broken = edit(plans[hosting], "aws:s3/bucketVersioning:BucketVersioning",
                  lambda r: r["inputs"].update(versioningConfiguration={"status": "Suspended"}))
    adapted_broken = guardrails.plan_from_policy_resources(_as_policy_resources(broken))
    assert rules_of(check_plan(adapted_broken)) == rules_of(check_plan(broken)) == {"bucket-versioned"}


def test_policy_pack_registers_every_guardrail(monkeypatch):
    import runpy

    from tests.conftest import REPO

    registered = {}

    class Recorder:
        def __init__(self, name, policies, **kwargs):
            registered["name"], registered["policies"] = name, policies

    monkeypatch.setattr("pulumi_policy.PolicyPack", Recorder)
    runpy.run_path(str(REPO / "policy" / "__main__.py"))
    assert registered["name"] == "daktela-catalogue"
    assert [p.name for p in registered["policies"]] == [
        "daktela-cloud-backups", "daktela-freshness-alarms", "daktela-onprem-backups",
        "daktela-backup-buckets", "daktela-fees", "daktela-storage-metering", "daktela-restore-drills",
        "daktela-deep-checks", "daktela-silence-alarms", "daktela-kms-readers", "daktela-retention",
        "daktela-aws-limits"]


def test_plan_check_exits_3_on_a_violation(monkeypatch, capsys):
    import importlib
    import sys as system

    from components import schedule
    from tests.conftest import REPO

    system.path.insert(0, str(REPO / "scripts"))
    plan_script = importlib.import_module("plan")
    assert plan_script.main([str(EXAMPLES["cloud"]), "--check"]) == 0
    assert "guardrails: all passed" in capsys.readouterr().out
    original = schedule.cloud_slots
    monkeypatch.setattr(schedule, "cloud_slots", lambda inst: [
        schedule.Slot(s.technology, original(inst)[1].start, s.window_minutes) for s in original(inst)])
    monkeypatch.setattr("components.cloud.instance.slot",
                        lambda inst, tech: next(s for s in schedule.cloud_slots(inst) if s.technology == tech))
    monkeypatch.setattr("components.cloud.block_backup.slot",
                        lambda inst, tech: next(s for s in schedule.cloud_slots(inst) if s.technology == tech))
    assert plan_script.main([str(EXAMPLES["cloud"]), "--check"]) == 3
    assert "[cloud-distinct-times]" in capsys.readouterr().out

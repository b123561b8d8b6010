"""Every IAM document both example plans create, linted with parliament (duo-labs): zero findings.

Identity policies, bucket and topic policies go in as they are. A trust policy has no Resource
(its resource is the role itself), which parliament cannot read; it is linted with the role's ARN
as Resource, so its actions and principals are still checked. Parliament's default auditors; the
"community" ones flag sts:AssumeRole in every trust policy, which only concerns identity policies.
"""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from tests.conftest import example_installation, plan_of


def documents(hosting: str) -> list[tuple[str, str]]:
    found = []
    for resource in plan_of(example_installation(hosting)).resources:
        for key in ("policy", "assumeRolePolicy"):
            document = resource.inputs.get(key)
            if not (isinstance(document, str) and document.startswith("{")):
                continue
            if key == "assumeRolePolicy":
                parsed = json.loads(document)
                for statement in parsed["Statement"]:
                    statement["Resource"] = f"arn:aws:iam::123456789012:role/{resource.name}"
                document = json.dumps(parsed)
            found.append((f"{resource.name} ({key})", document))
    return found


@pytest.mark.parametrize("hosting", ["cloud", "on-premise"])
def test_every_policy_document_passes_parliament(hosting):
    linted = documents(hosting)
    assert len(linted) >= (8 if hosting == "cloud" else 5)  # roles, users, buckets, topic
    findings = [
        f"{where}: {finding.issue} {finding.detail}"
        for where, document in linted
        for finding in analyze_policy_string(document, ignore_private_auditors=True).findings
    ]
    assert findings == []


def test_parliament_would_catch_a_broken_document():
    broken = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:s3:::bucket"},
    ]})
    issues = {f.issue for f in analyze_policy_string(broken, ignore_private_auditors=True).findings}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


# -- the pipeline's read-only role (iam/, created once per AWS account by hand: docs/review.md) ------

PLACEHOLDERS = {"ACCOUNT_ID": "123456789012", "STATE_BUCKET": "team-pulumi-state", "GITHUB_REPOSITORY": "team/infra"}
READ_ONLY = ("Describe", "Get", "List")


def filled(name: str) -> dict:
    from tests.conftest import REPO

    text = (REPO / "iam" / name).read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def test_the_preview_role_passes_parliament_and_writes_nothing_but_its_state_lock():
    policy = filled("preview-role-policy.json")
    findings = [f"{f.issue} {f.detail}" for f in analyze_policy_string(json.dumps(policy), ignore_private_auditors=True).findings]
    assert findings == []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Sid"] == "LockAStackWhilePreviewing":  # the state backend's lock object, and only that
            assert statement["Resource"] == "arn:aws:s3:::team-pulumi-state/.pulumi/locks/*"
            continue
        if statement["Sid"] == "ReadSecureParametersAsRefreshDoes":  # what refreshing a SecureString needs
            assert actions == ["kms:Decrypt"] and statement["Condition"]["StringLike"]["kms:ViaService"].startswith("ssm.")
            continue
        assert all(a.split(":", 1)[1].startswith(READ_ONLY) for a in actions), actions


def test_the_preview_role_trusts_only_this_repositorys_preview_and_drift_environments():
    """Linted like the plans' trust policies, but parliament 1.6 predates GitHub's OIDC provider: it
    reports the federation source and its two condition keys as unknown, and only those."""
    trust = filled("preview-role-trust.json")
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    assert statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] == [
        "repo:team/infra:environment:preview", "repo:team/infra:environment:drift"]
    statement["Resource"] = "arn:aws:iam::123456789012:role/daktela-preview"
    issues = {f.issue for f in analyze_policy_string(json.dumps(trust), ignore_private_auditors=True).findings}
    assert issues == {"UNKNOWN_FEDERATION_SOURCE", "UNKNOWN_CONDITION_FOR_ACTION"}

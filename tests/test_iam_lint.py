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

"""AWS's name and size limits for every resource the toolkit names or fills, checked on a plan.

A name the engine makes (no explicit name input) is the resource name, a dash and seven random
characters (Pulumi's autonaming), so its limit applies to the resource name plus 8. Policy sizes
count characters without white space, as IAM does. Sources: each service's API reference
("Length Constraints") and IAM's quotas page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterator, Optional

AUTONAME_SUFFIX = 8  # "-" + 7 random characters


@dataclass(frozen=True)
class NameLimit:
    field: Optional[str]  # the input that names the resource; None: the engine autonames it
    max_length: int
    pattern: str = r".*"  # what the whole name must match
    autonamed_when_missing: bool = True


LIMITS: dict[str, NameLimit] = {
    "aws:s3/bucket:Bucket": NameLimit("bucket", 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]"),
    "aws:iam/role:Role": NameLimit("name", 64, r"[\w+=,.@-]+"),
    "aws:iam/user:User": NameLimit("name", 64, r"[\w+=,.@-]+"),
    "aws:iam/instanceProfile:InstanceProfile": NameLimit("name", 128, r"[\w+=,.@-]+"),
    "aws:iam/rolePolicy:RolePolicy": NameLimit("name", 128, r"[\w+=,.@-]+"),
    "aws:iam/userPolicy:UserPolicy": NameLimit("name", 128, r"[\w+=,.@-]+"),
    "aws:lambda/function:Function": NameLimit("name", 64, r"[a-zA-Z0-9_-]+"),
    "aws:cloudwatch/logGroup:LogGroup": NameLimit("name", 512, r"[\w/.#-]+"),
    "aws:cloudwatch/eventRule:EventRule": NameLimit("name", 64, r"[\w.-]+"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameLimit("name", 255),
    "aws:sns/topic:Topic": NameLimit("name", 256, r"[\w-]+"),
    "aws:backup/vault:Vault": NameLimit("name", 50, r"[a-zA-Z0-9_-]+"),
    "aws:backup/plan:Plan": NameLimit("name", 50, r"[a-zA-Z0-9_.-]+"),
    "aws:backup/selection:Selection": NameLimit("name", 50, r"[a-zA-Z0-9_.-]+"),
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": NameLimit("name", 50, r"[a-zA-Z0-9_]+"),
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": NameLimit("name", 50, r"[a-zA-Z0-9_]+"),
    "aws:ssm/parameter:Parameter": NameLimit("name", 1011, r"/[a-zA-Z0-9_.\-/]+"),
    "aws:ec2/securityGroup:SecurityGroup": NameLimit("name", 255),
    "aws:dynamodb/table:Table": NameLimit("name", 255, r"[a-zA-Z0-9_.-]+"),
    "aws:kms/alias:Alias": NameLimit("name", 256, r"alias/[a-zA-Z0-9/_-]+"),
}

# Inline policy sizes (characters without white space): IAM's quotas.
POLICY_LIMITS = {
    "aws:iam/userPolicy:UserPolicy": 2048,  # all inline policies of one user together
    "aws:iam/rolePolicy:RolePolicy": 10240,  # all inline policies of one role together
    "aws:iam/role:Role": 2048,  # the trust policy (assumeRolePolicy), default quota
}
POLICY_FIELDS = {"aws:iam/role:Role": "assumeRolePolicy"}

# Sizes of values (bytes, UTF-8): EC2 user data before base64 (16 KB), an SSM parameter's value by
# tier (standard 4 KB, advanced 8 KB). The cloud instance's user data and job-files parameter are
# close to theirs: a larger job script needs another channel (docs/development.md).
USER_DATA_BYTES = 16384
PARAMETER_BYTES = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def value_sizes(resource: dict) -> list[tuple[str, int, int]]:
    """(what, size, limit) of the resource's sized values."""
    inputs = resource.get("inputs") or {}
    out = []
    if resource["type"] == "aws:ec2/instance:Instance" and isinstance(inputs.get("userData"), str):
        out.append(("user data", len(inputs["userData"].encode()), USER_DATA_BYTES))
    if resource["type"] == "aws:ssm/parameter:Parameter":
        value = inputs.get("insecureValue", inputs.get("value"))
        if isinstance(value, str) and value != "[secret]":
            out.append(("value", len(value.encode()), PARAMETER_BYTES.get(inputs.get("tier") or "Standard", 4096)))
    return out


def _name_of(resource: dict, limit: NameLimit) -> Optional[str]:
    inputs = resource.get("inputs") or {}
    explicit = inputs.get(limit.field) if limit.field else None
    if isinstance(explicit, str) and explicit and not explicit.startswith("<"):
        return explicit
    if explicit is None and limit.autonamed_when_missing:
        return resource["name"] + "-" + "x" * (AUTONAME_SUFFIX - 1)
    return None  # unknown until deploy


def policy_size(document: str) -> int:
    return len(re.sub(r"\s", "", json.dumps(json.loads(document), separators=(",", ":"))))


def _names(plan: dict) -> Iterator[tuple[dict, str, NameLimit]]:
    """(resource, the name AWS will see, its limit) of every resource with a known name."""
    for resource in plan.get("resources", []):
        limit = LIMITS.get(resource["type"])
        name = _name_of(resource, limit) if limit is not None else None
        if limit is not None and name is not None:
            yield resource, name, limit


def problems(plan: dict) -> list[str]:
    """Every name and policy in the plan that AWS would refuse, with the limit it breaks."""
    out = []
    for resource, name, limit in _names(plan):
        where = f"{resource['type']} {resource['name']}"
        if len(name) > limit.max_length:
            out.append(f"{where}: name {name!r} has {len(name)} characters; AWS allows {limit.max_length}")
        elif not re.fullmatch(limit.pattern, name):
            out.append(f"{where}: name {name!r} is not allowed ({limit.pattern})")
    per_owner: dict[tuple[str, str], int] = {}
    for resource in plan.get("resources", []):
        kind = resource["type"]
        if kind in POLICY_LIMITS:
            document = (resource.get("inputs") or {}).get(POLICY_FIELDS.get(kind, "policy"))
            if isinstance(document, str) and document.startswith("{"):
                owner = (resource.get("inputs") or {}).get("user") or (resource.get("inputs") or {}).get("role") \
                    or resource["name"]
                key = (kind, str(owner))
                per_owner[key] = per_owner.get(key, 0) + policy_size(document)
    for (kind, owner), size in sorted(per_owner.items()):
        if size > POLICY_LIMITS[kind]:
            out.append(f"{kind} of {owner}: {size} characters of policy; AWS allows {POLICY_LIMITS[kind]}")
    for resource in plan.get("resources", []):
        for what, size, allowed in value_sizes(resource):
            if size > allowed:
                out.append(f"{resource['type']} {resource['name']}: {what} has {size} bytes; AWS allows {allowed}")
    return out


def longest(plan: dict) -> list[tuple[int, int, str]]:
    """(length, limit, resource) of every name, tightest first: what a longer id would break."""
    rows = sorted((limit.max_length - len(name), len(name), limit.max_length, f"{resource['type']} {resource['name']}")
                  for resource, name, limit in _names(plan))
    return [(length, max_length, what) for _, length, max_length, what in rows]


__all__ = ["LIMITS", "POLICY_LIMITS", "NameLimit", "longest", "problems", "policy_size"]

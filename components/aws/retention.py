"""The prune principal: the one identity that may remove what restic's retention lets go.

Neither the host's key nor the instance role can delete backups (components/offsite.py,
components/cloud/instance.py). The weekly prune (components/retention.py, scripts/prune.py, run by
the team's designated runner) assumes this role instead. What it may do:
- list the installation's buckets, read and write its restic repositories (prune writes new packs
  and indexes), and delete objects in them: on these versioned buckets a delete only adds a delete
  marker; the version stays (and, on-premise, stays locked) until the lifecycle expires it;
- write and read its own results (`status/<id>/retention-*.json`);
- use the installation's keys through S3 only (the cloud's buckets are SSE-KMS).
It can never remove a version, shorten a lock or change a bucket: `FORBIDDEN` is checked by the
guardrail `retention-principal` and by tests/test_retention.py against the strict double.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import names
from components.aws.base import child, policy_document

FORBIDDEN = ("s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
             "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration",
             "s3:PutBucketPolicy", "s3:DeleteBucket")


@dataclass(frozen=True)
class Repository:
    """One restic repository the prune keeps in bounds, and where its result goes."""
    name: str  # location-1, location-2, file-level
    region: str
    bucket: str
    prefix: str
    status_bucket: str
    status_region: str


@dataclass(frozen=True)
class RetentionTargets:
    installation_id: str
    keep_within_days: int
    keep_daily: int
    keep_weekly: int
    keep_monthly: int
    repositories: tuple[Repository, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RetentionTargets":
        data = json.loads(text)
        data["repositories"] = tuple(Repository(**r) for r in data["repositories"])
        return cls(**data)


def prune_policy(installation_id: str, repositories: list[tuple[str, str]], status_arns: list[str],
                 key_arns: list[str], regions: list[str]) -> str:
    """`repositories`: (bucket ARN, prefix) of each repository; `status_arns`: the buckets its
    results go to."""
    status = names.status_prefix(installation_id)
    statements: list[dict] = [
        {"Sid": "ListOwnBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": sorted({arn for arn, _ in repositories} | set(status_arns))},
        {"Sid": "ReadAndWriteRepositories", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": sorted(f"{arn}/{prefix}*" for arn, prefix in repositories)},
        # a delete marker: the version stays until the bucket's lifecycle expires it
        {"Sid": "ForgetWhatRetentionLetsGo", "Effect": "Allow", "Action": ["s3:DeleteObject"],
         "Resource": sorted(f"{arn}/{prefix}*" for arn, prefix in repositories)},
        {"Sid": "RecordRetentionResults", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": sorted(f"{arn}/{status}retention-*" for arn in set(status_arns))},
    ]
    if key_arns:
        statements.append({
            "Sid": "UseKeysThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": sorted(key_arns),
            "Condition": {"StringEquals": {"kms:ViaService": sorted(f"s3.{r}.amazonaws.com" for r in regions)}}})
    return policy_document(statements)


def trust_policy(runner_arn: Optional[str], account_id: str) -> str:
    principal = runner_arn or f"arn:aws:iam::{account_id}:root"
    return policy_document([{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}])


class PrunePrincipal(pulumi.ComponentResource):
    """The installation's prune role (`daktela-<id>-prune`) and what it may do."""

    role: aws.iam.Role

    def __init__(self, name: str, *, installation_id: str, runner_arn: Optional[str],
                 repositories: list[tuple[pulumi.Input[str], str]], status_arns: list[pulumi.Input[str]],
                 key_arns: list[pulumi.Input[str]], regions: list[str], provider: aws.Provider,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("daktela:aws:PrunePrincipal", name, None, opts)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=provider)).account_id
        self.role = aws.iam.Role(
            f"{name}-role", name=f"daktela-{installation_id}-prune", path="/daktela/",
            assume_role_policy=account.apply(lambda account_id: trust_policy(runner_arn, account_id)),
            max_session_duration=12 * 3600,  # a prune of hundreds of GB takes hours
            description=f"Daktela CC {installation_id}: the weekly prune of the restic repositories",
            opts=child(self, provider),
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id,
            policy=pulumi.Output.all(
                arns=[arn for arn, _ in repositories], status=status_arns, keys=key_arns,
            ).apply(lambda v: prune_policy(installation_id, list(zip(v["arns"], [p for _, p in repositories])),
                                           v["status"], v["keys"], regions)),
            opts=child(self, provider),
        )
        self.register_outputs({"role_arn": self.role.arn})

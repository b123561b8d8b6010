"""The cloud side of on-premise backups: two locked buckets in two regions, one write-only key.

The operational drive is backed up twice a day into both locations, one after the other. Each
location is a bucket in its own region with S3 Object Lock (governance mode) for
`on_premise.backup_lock_days`, so nothing the host holds, not even its own key, can destroy a
backup before then. The host's IAM user may write backups, read them back (restore, check), list
its buckets, remove restic's lock files and probe upload speed; it cannot delete object versions,
shorten locks or change any bucket setting. Both buckets are this installation's alone, so listing
them is granted without a prefix condition: restic 0.14 asks HeadBucket (s3:ListBucket, no prefix)
before `init` and fails on its 403 (restic #4085, fixed in 0.15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import names
from components.aws.base import child, policy_document, regional_provider
from components.aws.buckets import BackupBucket
from components.config import OnPremConfig


@dataclass(frozen=True)
class Prefixes:
    installation_id: str

    @property
    def repository(self) -> str:
        return names.repository_prefix(self.installation_id)

    @property
    def status(self) -> str:
        return names.status_prefix(self.installation_id)

    @property
    def connectivity(self) -> str:
        return names.connectivity_prefix(self.installation_id)


# Never granted to the host: what would let it destroy or weaken backups.
FORBIDDEN_ACTIONS = (
    "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
    "s3:PutObjectLegalHold", "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning", "s3:PutBucketPolicy", "s3:DeleteBucket", "s3:DeleteBucketPolicy",
    "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
)


def host_policy(bucket_arns: list[str], prefixes: Prefixes) -> str:
    repo, status, probe = prefixes.repository, prefixes.status, prefixes.connectivity
    return policy_document([
        {"Sid": "WriteAndReadBackups", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": sorted(f"{arn}/{p}*" for arn in bucket_arns for p in (repo, status))},
        {"Sid": "RemoveResticLocks", "Effect": "Allow", "Action": ["s3:DeleteObject"],
         "Resource": sorted(f"{arn}/{repo}locks/*" for arn in bucket_arns)},
        {"Sid": "ProbeUploadSpeed", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": sorted(f"{arn}/{probe}*" for arn in bucket_arns)},
        {"Sid": "ListOwnBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": sorted(bucket_arns)},
        {"Sid": "LocateBuckets", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": sorted(bucket_arns)},
    ])


class OffsiteBackupTarget(pulumi.ComponentResource):
    """Backup location 1 in regions.primary, location 2 in regions.secondary, and the host's key."""

    buckets: list[BackupBucket]
    regions: list[str]
    access_key: aws.iam.AccessKey

    def __init__(self, name: str, installation: OnPremConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("daktela:onprem:OffsiteBackupTarget", name, None, opts)
        onprem = installation.on_premise
        self.prefixes = Prefixes(installation.id)
        self.regions = [installation.regions.primary, installation.regions.secondary]
        self.providers = [
            regional_provider(f"{name}-location-{n}", region, installation.id, self)
            for n, region in enumerate(self.regions, 1)
        ]
        self.buckets = [
            BackupBucket(
                f"{name}-location-{n}", kms_key=None, provider=provider,
                object_lock_days=onprem.backup_lock_days, noncurrent_days=onprem.backup_lock_days,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for n, provider in enumerate(self.providers, 1)
        ]
        user = aws.iam.User(
            f"{name}-host-user", name=f"daktela-{installation.id}-backup", path="/daktela/",
            opts=child(self, self.providers[0]),
        )
        aws.iam.UserPolicy(
            f"{name}-host-policy", user=user.name,
            policy=pulumi.Output.all(*[b.bucket.arn for b in self.buckets]).apply(
                lambda arns: host_policy(list(arns), self.prefixes)),
            opts=child(self, self.providers[0]),
        )
        self.access_key = aws.iam.AccessKey(
            f"{name}-host-key", user=user.name,
            opts=child(self, self.providers[0], additional_secret_outputs=["secret"]),
        )
        self.register_outputs({
            "buckets": [b.bucket.bucket for b in self.buckets],
            "regions": self.regions,
            "access_key_id": self.access_key.id,
        })

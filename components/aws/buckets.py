"""A backup bucket: versioned, encrypted, private, TLS-only, old versions and stale uploads expire,
optionally with S3 Object Lock."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.base import moved_from, child, policy_document

NONCURRENT_VERSION_DAYS = 30
ABORT_INCOMPLETE_UPLOAD_DAYS = 7


class BackupBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        *,
        kms_key: Optional[aws.kms.Key],
        provider: aws.Provider,
        expire_prefix: Optional[str] = None,
        expire_after_days: Optional[int] = None,
        object_lock_days: Optional[int] = None,
        noncurrent_days: int = NONCURRENT_VERSION_DAYS,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`kms_key` None encrypts with S3-managed keys; `object_lock_days` locks every object
        version in governance mode for that long (old versions then expire `noncurrent_days` after
        they stop being current)."""
        # BackupBucket was daktela:cloud:BackupBucket until both hostings shared it
        super().__init__("daktela:aws:BackupBucket", name, None, moved_from("daktela:cloud:BackupBucket", opts))
        # Backups outlive the stack: destroying it leaves the bucket and its objects.
        self.bucket = aws.s3.Bucket(
            name, force_destroy=False, object_lock_enabled=True if object_lock_days else None,
            opts=child(self, provider, retain_on_delete=True),
        )
        bucket_id = self.bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self, provider),
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=bucket_id,
            block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True,
            opts=child(self, provider),
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(self, provider),
        )
        encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=kms_key.arn,
        ) if kms_key is not None else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256",
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket_id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=encryption,
                bucket_key_enabled=True if kms_key is not None else None,
            )],
            opts=child(self, provider),
        )
        if object_lock_days:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock", bucket=bucket_id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode="GOVERNANCE", days=object_lock_days,
                    ),
                ),
                opts=child(self, provider),
            )
        aws.s3.BucketPolicy(
            f"{name}-tls-only", bucket=bucket_id,
            policy=self.bucket.arn.apply(lambda arn: policy_document([{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }])),
            opts=child(self, provider),
        )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-old-versions-and-stale-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=noncurrent_days),
                # what a prune deleted leaves a delete marker; once its versions expired, it goes too
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS),
            ),
        ]
        if expire_prefix is not None and expire_after_days is not None:
            rules.append(aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-backups-after-retention",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=expire_prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_after_days),
            ))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket_id, rules=rules, opts=child(self, provider),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})

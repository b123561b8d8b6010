"""Block-level backups: AWS Backup of the data volumes, by tag, once a day, copied to a second region."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.cloud.base import INSTALLATION_TAG, assume_role_policy, child
from components.config import Installation
from components.schedule import AWS_BACKUP_START_WINDOW_MINUTES, BLOCK, slot

VAULT_LOCK_CHANGEABLE_DAYS = 3  # grace period in which a new vault lock can still be removed


class BlockBackup(pulumi.ComponentResource):
    vault: aws.backup.Vault
    copy_vault: aws.backup.Vault
    plan: aws.backup.Plan

    def __init__(
        self,
        name: str,
        *,
        installation: Installation,
        primary: aws.Provider,
        secondary: aws.Provider,
        primary_key: aws.kms.Key,
        secondary_key: aws.kms.Key,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("daktela:cloud:BlockBackup", name, None, opts)
        cloud = installation.cloud
        assert cloud is not None
        retention = aws.backup.PlanRuleLifecycleArgs(delete_after=cloud.backup_retention_days)
        self.vault = aws.backup.Vault(
            f"{name}-vault", name=f"daktela-{installation.id}", kms_key_arn=primary_key.arn,
            opts=child(self, primary, retain_on_delete=True),
        )
        self.copy_vault = aws.backup.Vault(
            f"{name}-copy-vault", name=f"daktela-{installation.id}-copy", kms_key_arn=secondary_key.arn,
            opts=child(self, secondary, retain_on_delete=True),
        )
        if cloud.vault_lock_days is not None:
            for vault, provider, suffix in ((self.vault, primary, "vault"), (self.copy_vault, secondary, "copy-vault")):
                aws.backup.VaultLockConfiguration(
                    f"{name}-{suffix}-lock", backup_vault_name=vault.name,
                    min_retention_days=cloud.vault_lock_days,
                    changeable_for_days=VAULT_LOCK_CHANGEABLE_DAYS,
                    opts=child(self, provider),
                )
        block = slot(installation, BLOCK)
        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"daktela-{installation.id}-block-level",
            rules=[aws.backup.PlanRuleArgs(
                rule_name="block-level-daily",
                target_vault_name=self.vault.name,
                schedule=block.aws_cron(),
                schedule_expression_timezone="Etc/UTC",
                # The job must start within an hour and finish before the next technology starts.
                start_window=AWS_BACKUP_START_WINDOW_MINUTES,
                completion_window=block.window_minutes - AWS_BACKUP_START_WINDOW_MINUTES,
                lifecycle=retention,
                copy_actions=[aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=self.copy_vault.arn, lifecycle=retention,
                )],
                recovery_point_tags={INSTALLATION_TAG: installation.id, "daktela-technology": BLOCK},
            )],
            opts=child(self, primary),
        )
        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=assume_role_policy("backup.amazonaws.com"),
            description=f"Daktela CC {installation.id}: AWS Backup service role",
            opts=child(self, primary),
        )
        for purpose in ("Backup", "Restores"):
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{purpose.lower()}", role=role.name,
                policy_arn=f"arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor{purpose}",
                opts=child(self, primary),
            )
        aws.backup.Selection(
            f"{name}-selection",
            name=f"daktela-{installation.id}-volumes",
            plan_id=self.plan.id,
            iam_role_arn=role.arn,
            resources=["arn:aws:ec2:*:*:volume/*"],
            conditions=[aws.backup.SelectionConditionArgs(
                string_equals=[aws.backup.SelectionConditionStringEqualArgs(
                    key=f"aws:ResourceTag/{INSTALLATION_TAG}", value=installation.id,
                )],
            )],
            opts=child(self, primary),
        )
        self.register_outputs({"vault": self.vault.name, "copy_vault": self.copy_vault.name})

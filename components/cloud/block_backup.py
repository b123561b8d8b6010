"""Block-level backups: AWS Backup of the data volumes, by tag, once a day, copied to a second region;
a failed, aborted, expired or partial backup job or a failed copy reaches the ops topic at once.
Once a week AWS Backup restore testing restores every data volume's latest recovery point; the
freshness checker validates each restored volume and reports the result back (components/freshness.py)."""

from __future__ import annotations

import functools
import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.base import (
    DATA_CLASS_TAG, INSTALLATION_TAG, SCRATCH_DATA_CLASS, assume_role_policy, child, policy_document,
)
from components.config import CloudConfig
from components.schedule import AWS_BACKUP_START_WINDOW_MINUTES, BLOCK, slot

VAULT_LOCK_CHANGEABLE_DAYS = 3  # grace period in which a new vault lock can still be removed
FAILED_JOB_STATES = ["ABORTED", "EXPIRED", "FAILED", "PARTIAL"]
RESTORE_TEST_SELECTION_DAYS = 7  # the latest recovery point of the past week is restored
RESTORE_TEST_START_WINDOW_HOURS = 4
RESTORE_TEST_VALIDATION_HOURS = 2  # the checker (every 15 minutes) validates within this window


def restore_testing_name(installation_id: str, suffix: str) -> str:
    """Restore testing names allow letters, digits and underscores only (50 at most)."""
    return f"daktela_{installation_id.replace('-', '_')}_{suffix}"


class BlockBackup(pulumi.ComponentResource):
    vault: aws.backup.Vault
    copy_vault: aws.backup.Vault
    plan: aws.backup.Plan

    def __init__(
        self,
        name: str,
        *,
        installation: CloudConfig,
        primary: aws.Provider,
        secondary: aws.Provider,
        primary_key: aws.kms.Key,
        secondary_key: aws.kms.Key,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("daktela:cloud:BlockBackup", name, None, opts)
        cloud = installation.cloud
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
                    destination_vault_arn=self.copy_vault.arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=cloud.backup_retention_days),
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
        self.role = role
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
                # the restore drill's scratch volume (instance.py, SCRATCH) holds nothing to keep
                string_not_equals=[aws.backup.SelectionConditionStringNotEqualArgs(
                    key=f"aws:ResourceTag/{DATA_CLASS_TAG}", value=SCRATCH_DATA_CLASS,
                )],
            )],
            opts=child(self, primary),
        )
        self.installation, self.primary, self.resource_name = installation, primary, name
        self.register_outputs({"vault": self.vault.name, "copy_vault": self.copy_vault.name})

    def restore_tests(self, volume_arns: list[pulumi.Output[str]]) -> aws.backup.RestoreTestingPlan:
        """The weekly restore drill of the block level: AWS Backup restores each data volume's latest
        recovery point of the past week (in the primary vault) as a new volume, waits for the
        validation the checker reports, and deletes the restored volume."""
        installation = self.installation
        drill = installation.cloud.restore_drill
        plan = aws.backup.RestoreTestingPlan(
            f"{self.resource_name}-restore-test",
            name=restore_testing_name(installation.id, "drill"),
            schedule_expression=f"cron({drill.time.minute} {drill.time.hour} ? * {drill.weekday.upper()} *)",
            schedule_expression_timezone="Etc/UTC",
            start_window_hours=RESTORE_TEST_START_WINDOW_HOURS,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW", include_vaults=[self.vault.arn],
                recovery_point_types=["SNAPSHOT"], selection_window_days=RESTORE_TEST_SELECTION_DAYS,
            ),
            opts=child(self, self.primary),
        )
        aws.backup.RestoreTestingSelection(
            f"{self.resource_name}-restore-test-volumes",
            name=restore_testing_name(installation.id, "volumes"),
            restore_testing_plan_name=plan.name,
            protected_resource_type="EBS",
            protected_resource_arns=volume_arns,
            iam_role_arn=self.role.arn,
            validation_window_hours=RESTORE_TEST_VALIDATION_HOURS,
            opts=child(self, self.primary),
        )
        return plan

    def alert_failures(self, topic: aws.sns.Topic) -> list[aws.cloudwatch.EventRule]:
        """AWS Backup's own events, filtered to this installation's vaults, published to `topic`;
        the topic's policy lets exactly these rules and this installation's alarms publish."""
        installation = self.installation
        patterns = {
            "backup-job-failed": (
                "Backup Job State Change", self.vault.name.apply(lambda v: {"backupVaultName": [v]})),
            "copy-job-failed": (
                "Copy Job State Change", self.copy_vault.arn.apply(lambda a: {"destinationBackupVaultArn": [a]})),
        }
        rules = []
        for suffix, (detail_type, match) in patterns.items():
            rule = aws.cloudwatch.EventRule(
                f"{self.resource_name}-{suffix}",
                name=f"daktela-{installation.id}-{suffix}",  # within EventBridge's 64 for any allowed id
                description=f"Daktela CC {installation.id}: {detail_type}, not completed",
                event_pattern=match.apply(functools.partial(event_pattern, detail_type)),
                opts=child(self, self.primary),
            )
            aws.cloudwatch.EventTarget(f"{self.resource_name}-{suffix}-target", rule=rule.name, arn=topic.arn,
                                       opts=child(self, self.primary))
            rules.append(rule)
        aws.sns.TopicPolicy(
            f"{self.resource_name}-ops-topic-policy", arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, *[r.arn for r in rules]).apply(
                lambda values: ops_topic_policy(installation.id, values[0], sorted(values[1:]))),
            opts=child(self, self.primary),
        )
        return rules


def event_pattern(detail_type: str, match: dict) -> str:
    return json.dumps({"source": ["aws.backup"], "detail-type": [detail_type],
                       "detail": {**match, "state": FAILED_JOB_STATES}}, sort_keys=True)


def ops_topic_policy(installation_id: str, topic_arn: str, rule_arns: list[str]) -> str:
    _, _, _, region, account, _ = topic_arn.split(":", 5)
    return policy_document([
        {"Sid": "BackupEventsPublish", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}}},
        {"Sid": "OwnAlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:daktela-{installation_id}-*"}}},
    ])

"""Watching the promises: per-technology backup freshness alarms fed by the checker Lambda, and the
storage alarms that tell billing when comments and email attachments pass the included GB or stop
being measured."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import freshness, names
from components.aws.base import assume_role_policy, child, moved_from, policy_document

# The checker ships as a package of its own two modules (and nothing else of the repository).
CHECKER_FILES = {f"components/{Path(str(m.__file__)).name}": Path(str(m.__file__)) for m in (freshness, names)}
CHECKER_FILES["components/__init__.py"] = Path(str(freshness.__file__)).with_name("__init__.py")
CHECK_EVERY_MINUTES = 15
CHECK_EVERY = f"rate({CHECK_EVERY_MINUTES} minutes)"
ALARM_PERIOD_SECONDS = 3600
# A failure alarm looks at the last two check periods and fires on one failed result, or when
# neither has any (the checker stopped, or cannot publish): a check that runs late and leaves one
# period empty does not alarm, a silent series does within two periods.
FAILURE_PERIODS = 2


class FreshnessWatch(pulumi.ComponentResource):
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    checker: aws.lambda_.Function

    def __init__(
        self,
        name: str,
        *,
        installation_id: str,
        max_age_hours: int,  # the promise: 24 h + reserve_hours
        reserve_hours: int,
        watch: pulumi.Output[str],  # freshness.Watch as JSON
        read_statements: pulumi.Output[list],  # IAM statements that let the checker see the backups
        technologies: tuple[str, ...],  # one age alarm each (the Technology dimension)
        reports_runs: tuple[str, ...] = (),  # targets whose failed last run alarms at once
        drills: tuple[str, ...] = (),  # restore drill targets: a failed drill and an old success alarm
        drill_limit_hours: float = 0,
        drill_setting: str = "",  # the config key people change the drill's limit with
        checks: tuple[str, ...] = (),  # deep check targets: a failed check and a part unread too long alarm
        check_limit_hours: float = 0,
        ops_topic: aws.sns.Topic,
        provider: aws.Provider,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        # FreshnessWatch was daktela:cloud:FreshnessWatch until both hostings shared it
        super().__init__("daktela:aws:FreshnessWatch", name, None, moved_from("daktela:cloud:FreshnessWatch", opts))
        function_name = f"daktela-{installation_id}-backup-freshness"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/lambda/{function_name}", retention_in_days=30,
            opts=child(self, provider),
        )
        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=f"Daktela CC {installation_id}: backup freshness checker",
            opts=child(self, provider),
        )
        aws.iam.RolePolicy(
            f"{name}-least-privilege", role=role.id,
            policy=pulumi.Output.all(log_group.arn, read_statements).apply(
                lambda values: checker_policy(installation_id, values[0], values[1])),
            opts=child(self, provider),
        )
        self.checker = aws.lambda_.Function(
            f"{name}-checker",
            name=function_name,
            runtime="python3.12",
            handler="components.freshness.handler",
            role=role.arn,
            timeout=60,
            memory_size=128,
            code=pulumi.AssetArchive({path: pulumi.FileAsset(str(source)) for path, source in sorted(CHECKER_FILES.items())}),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={freshness.TARGETS_VARIABLE: watch}),
            opts=child(self, provider, depends_on=[log_group]),
        )
        schedule = aws.cloudwatch.EventRule(
            f"{name}-schedule", schedule_expression=CHECK_EVERY,
            description=f"Daktela CC {installation_id}: check backup freshness",
            opts=child(self, provider),
        )
        aws.cloudwatch.EventTarget(f"{name}-target", rule=schedule.name, arn=self.checker.arn,
                                   opts=child(self, provider))
        aws.lambda_.Permission(
            f"{name}-invoke", action="lambda:InvokeFunction", function=self.checker.name,
            principal="events.amazonaws.com", source_arn=schedule.arn, opts=child(self, provider),
        )
        limit = max_age_hours
        self.alarms = {
            technology: metric_alarm(
                f"{name}-{technology}", installation_id, f"{technology}-backup-stale",
                description=(
                    f"Daktela CC {installation_id}: the newest {technology} backup is older than "
                    f"{limit} h (24 h + {reserve_hours} h reserve), or its age "
                    "is not being reported (a dead checker alarms too)"
                ),
                metric=freshness.AGE_METRIC, dimensions={"Technology": technology}, threshold=limit,
                missing_data="breaching", topic=ops_topic, provider=provider, parent=self,
            )
            for technology in technologies
        }
        self.failure_alarms = {
            technology: failure_alarm(
                f"{name}-{technology}-failed", installation_id, f"{technology}-backup-failed",
                description=(
                    f"Daktela CC {installation_id}: the last backup run into {technology} failed, its "
                    "repository has damage not repaired, its run did not report when due, or its state "
                    "cannot be read (scripts/backup_status.py says which, with the cause)"
                ),
                metric=names.FAILED_METRIC, technology=technology, topic=ops_topic, provider=provider, parent=self,
            )
            for technology in reports_runs
        }
        for drill in drills:
            self._stale_and_failed(
                name, installation_id, ops_topic, provider, drill,
                age=(names.DRILL_AGE_METRIC, drill_limit_hours,
                     f"no successful restore drill of {drill.removeprefix('drill-')} for {drill_limit_hours:.0f} h "
                     f"({drill_setting})"),
                failure=(names.DRILL_FAILED_METRIC,
                         f"the last restore drill of {drill.removeprefix('drill-')} failed (its backup may not "
                         "restore), found damage not repaired since, or cannot be read (the drill's result and "
                         "scripts/backup_status.py say why)"))
        for check in checks:
            repository = check.removeprefix("check-")
            self._stale_and_failed(
                name, installation_id, ops_topic, provider, check,
                age=(names.CHECK_AGE_METRIC, check_limit_hours,
                     f"part of the {repository} repository has not been read back and verified for "
                     f"{check_limit_hours:.0f} h (backup.verify_cycle_days + 1 day): the daily deep check "
                     "(daktela-backup-check) fails or does not run"),
                failure=(names.CHECK_FAILED_METRIC,
                         f"the last deep check of the {repository} repository failed, or found damage not "
                         "repaired since (docs/restore.md, Repairing a location), or cannot be read"))
        self.register_outputs({"alarms": [a.name for a in self.alarms.values()]})


    def _stale_and_failed(self, name: str, installation_id: str, topic: aws.sns.Topic, provider: aws.Provider,
                          technology: str, *, age: tuple[str, float, str],
                          failure: tuple[str, str]) -> None:
        """A series' two alarms: its age past `age`'s limit (published on every check, so silence
        alarms too) and a failed result; each description says what it means after the installation."""
        metric, limit, meaning = age
        self.alarms[technology] = metric_alarm(
            f"{name}-{technology}-stale", installation_id, f"{technology}-stale",
            description=f"Daktela CC {installation_id}: {meaning}", metric=metric,
            dimensions={"Technology": technology}, threshold=limit, missing_data="breaching", topic=topic,
            provider=provider, parent=self,
        )
        failed_metric, failed_meaning = failure
        self.failure_alarms[technology] = failure_alarm(
            f"{name}-{technology}-failed", installation_id, f"{technology}-failed",
            description=f"Daktela CC {installation_id}: {failed_meaning}", metric=failed_metric,
            technology=technology, topic=topic, provider=provider, parent=self,
        )


def failure_alarm(resource_name: str, installation_id: str, suffix: str, *, description: str, metric: str,
                  technology: str, topic: aws.sns.Topic, provider: aws.Provider,
                  parent: pulumi.Resource) -> aws.cloudwatch.MetricAlarm:
    """A failed result (1) of the last two check periods alarms, and so do two periods without any."""
    return metric_alarm(resource_name, installation_id, suffix, description=description, metric=metric,
                        dimensions={"Technology": technology}, threshold=0.5, missing_data="breaching",
                        topic=topic, provider=provider, parent=parent, period_seconds=CHECK_EVERY_MINUTES * 60,
                        evaluation_periods=FAILURE_PERIODS, datapoints_to_alarm=1)


def checker_policy(installation_id: str, log_group: str, read_statements: list[dict]) -> str:
    return policy_document([
        {"Sid": "WriteOwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [f"{log_group}:*"]},
        *read_statements,
        {"Sid": "PublishOwnMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"],
         "Resource": "*",  # PutMetricData has no resource ARN; the namespace condition scopes it
         "Condition": {"StringEquals": {"cloudwatch:namespace": names.metrics_namespace(installation_id)}}},
    ])


def list_objects_statement(bucket_arns: list[str], prefixes: list[str]) -> dict:
    """Let the checker list objects under these prefixes (backups, and the results it reads: listed
    first, so that a missing result is told from one it may not read), and nothing else."""
    return {"Sid": "ListOwnBackupObjects", "Effect": "Allow", "Action": ["s3:ListBucket"],
            "Resource": sorted(bucket_arns),
            "Condition": {"StringLike": {"s3:prefix": sorted(f"{p}*" for p in prefixes)}}}


def metric_alarm(resource_name: str, installation_id: str, suffix: str, *, description: str, metric: str,
                 dimensions: dict[str, str], threshold: float, missing_data: str, topic: aws.sns.Topic,
                 provider: aws.Provider, parent: pulumi.Resource,
                 period_seconds: int = ALARM_PERIOD_SECONDS, statistic: str = "Maximum",
                 comparison: str = "GreaterThanThreshold", evaluation_periods: int = 1,
                 datapoints_to_alarm: Optional[int] = None) -> aws.cloudwatch.MetricAlarm:
    """An alarm on the installation's own metric, by default maximum per period above `threshold`,
    to `topic`."""
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=f"daktela-{installation_id}-{suffix}",
        alarm_description=description,
        namespace=names.metrics_namespace(installation_id),
        metric_name=metric,
        dimensions={"Installation": installation_id, **dimensions},
        statistic=statistic,
        period=period_seconds,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        threshold=threshold,
        comparison_operator=comparison,
        treat_missing_data=missing_data,
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        opts=child(parent, provider),
    )


STORAGE_PERIOD_SECONDS = 86400  # the meters read every 6 hours; billing counts days


def storage_alarms(name: str, installation_id: str, included_gb: int, billing_topic: aws.sns.Topic,
                   provider: aws.Provider, parent: pulumi.Resource) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """Billing learns when comments and email attachments pass the included GB, and when a whole
    day passes without a storage reading (a month without readings cannot be billed for storage)."""
    included = included_gb
    return {
        "above-included": metric_alarm(
            f"{name}-above-included", installation_id, "storage-above-included",
            description=(
                f"Daktela CC {installation_id}: comments and email attachments use more than the "
                f"{included} GB included in 9.03; storage above it is billed per GB"
            ),
            metric=names.ATTACHMENTS_METRIC, dimensions={}, threshold=included, missing_data="missing",
            topic=billing_topic, provider=provider, parent=parent, period_seconds=STORAGE_PERIOD_SECONDS,
        ),
        "readings-missing": metric_alarm(
            f"{name}-readings-missing", installation_id, "storage-readings-missing",
            description=(
                f"Daktela CC {installation_id}: no storage reading for a whole day; the meter "
                "(daktela-attachments-meter on the instance, daktela-storage-meter on an on-premise "
                "host) is not reporting, and storage cannot be billed for days without readings"
            ),
            metric=names.ATTACHMENTS_METRIC, dimensions={}, threshold=1, missing_data="breaching",
            topic=billing_topic, provider=provider, parent=parent, period_seconds=STORAGE_PERIOD_SECONDS,
            statistic="SampleCount", comparison="LessThanThreshold",
        ),
    }

"""The two kinds of installation, each a component that owns everything one customer's stack makes.

Cloud: compute, a volume per data class, three backup technologies at three times, freshness and
storage alarms, fees. On-premise: the prepared host with its drives and jobs, two backup locations,
freshness and storage alarms, fees. Type tokens and names stay fixed: a rename would replace
resources.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.base import kms_key, notification_topic, regional_provider
from components.aws.retention import PrunePrincipal, Repository, RetentionTargets
from components.cloud.block_backup import BlockBackup
from components.aws.buckets import BackupBucket
from components.cloud.instance import BackupTargets, CloudHost
from components.aws.watch import FreshnessWatch, list_objects_statement, storage_alarms
from components.config import CloudConfig, Installation, OnPremConfig
from components import names
from components.freshness import Target, Watch
from components.names import BLOCK, BLOCK_COPY, DATABASE, FILES, LOCATIONS, TECHNOLOGIES
from components.fees import FeeLedger
from components.host.backup_job import files_digest, job_files, job_from_config
from components.host.layout import layout_from_config
from components.offsite import OffsiteBackupTarget
from components.prepared_host import PreparedHost


class _Installation(pulumi.ComponentResource):
    type_token = ""

    def __init__(self, installation: Installation, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.type_token, installation.id, None, opts)
        self.installation = installation
        self.fee_ledger = FeeLedger(
            f"{installation.id}-fees", installation, opts=pulumi.ResourceOptions(parent=self)
        )

    def _topics(self, provider: aws.Provider) -> tuple[aws.sns.Topic, aws.sns.Topic]:
        """The ops topic and the billing topic. Somebody must receive the storage alarms: without
        billing addresses, the ops addresses do."""
        name, notifications = self.installation.id, self.installation.notifications
        return (notification_topic(f"{name}-ops", notifications.ops, provider, self),
                notification_topic(f"{name}-billing", notifications.billing or notifications.ops, provider, self))

    def _storage_alarms(self, billing_topic: aws.sns.Topic,
                        provider: aws.Provider) -> dict[str, aws.cloudwatch.MetricAlarm]:
        return storage_alarms(f"{self.installation.id}-storage", self.installation.id,
                              self.installation.contract.included_storage_gb, billing_topic, provider, self)

    def _outputs(self) -> dict:
        return {"installation_id": self.installation.id, "hosting": self.installation.hosting}


# No resource-level permissions exist for these (AWS's service authorization reference): the checker
# lists its own plan's restore jobs, describes their volumes and reports each validation.
RESTORE_TEST_ACTIONS = ("backup:ListRestoreJobs", "backup:PutRestoreValidationResult", "ec2:DescribeVolumes")


class CloudInstallation(_Installation):
    """A Daktela CC installation in Daktela Cloud (AWS)."""

    type_token = "daktela:cloud:CloudInstallation"

    def __init__(self, installation: CloudConfig, secrets: dict[str, pulumi.Output[str]],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(installation, opts)
        cloud = installation.cloud
        name, regions = installation.id, installation.regions
        primary = regional_provider(f"{name}-primary", regions.primary, name, self)
        secondary = regional_provider(f"{name}-secondary", regions.secondary, name, self)
        primary_key = kms_key(f"{name}-key-primary", f"Daktela CC {name}: volumes, dumps, vault", primary, self)
        secondary_key = kms_key(f"{name}-key-secondary", f"Daktela CC {name}: restic, vault copies", secondary, self)
        ops_topic, billing_topic = self._topics(primary)

        dump_prefix, restic_prefix = names.dump_prefix(name), names.repository_prefix(name)
        # A dump is written once under its final name and never overwritten, so an old dump's
        # noncurrent version is only ever the one its expiry leaves: gone a day later.
        dumps = BackupBucket(
            f"{name}-db-dumps", kms_key=primary_key, provider=primary, expire_prefix=dump_prefix,
            expire_after_days=cloud.backup_retention_days, noncurrent_days=1,
            opts=pulumi.ResourceOptions(parent=self),
        )
        restic = BackupBucket(f"{name}-restic", kms_key=secondary_key, provider=secondary,
                              opts=pulumi.ResourceOptions(parent=self))
        self.host = CloudHost(
            f"{name}-host", installation=installation, secrets=secrets, provider=primary,
            kms_key=primary_key,
            backups=BackupTargets(dumps.bucket, dump_prefix, restic.bucket, restic_prefix,
                                  regions.secondary, (primary_key, secondary_key)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.block_backup = BlockBackup(
            f"{name}-block-backup", installation=installation, primary=primary, secondary=secondary,
            primary_key=primary_key, secondary_key=secondary_key, opts=pulumi.ResourceOptions(parent=self),
        )
        volume_arns = [self.host.volumes[data_class].arn for data_class in sorted(self.host.volumes)]
        restore_test = self.block_backup.restore_tests(volume_arns)
        self.freshness_targets = pulumi.Output.all(
            self.block_backup.vault.name, self.block_backup.copy_vault.name, dumps.bucket.bucket,
            restic.bucket.bucket, pulumi.Output.all(*volume_arns), restore_test.arn,
        ).apply(lambda values: freshness_watch(installation, *values).to_json())
        read_statements = pulumi.Output.all(
            self.block_backup.vault.arn, self.block_backup.copy_vault.arn, dumps.bucket.arn, restic.bucket.arn,
            primary_key.arn,
        ).apply(lambda arns: [
            {"Sid": "ListOwnRecoveryPoints", "Effect": "Allow",
             "Action": ["backup:ListRecoveryPointsByBackupVault"], "Resource": sorted(arns[:2])},
            list_objects_statement(arns[2:4], [dump_prefix, restic_prefix, names.status_prefix(name)]),
            {"Sid": "ReadDrillAndCheckResults", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": [f"{arns[2]}/{names.status_prefix(name)}*"]},
            # The results are in the dumps bucket, encrypted with the primary key: reading them needs
            # it, and only through S3 in that region.
            decrypt_through_s3_statement([arns[4]], [regions.primary]),
            # Restore jobs and their validation have no resource ARN to scope to; the checker reads
            # only its own plan's jobs (ByRestoreTestingPlanArn) and describes their volumes.
            {"Sid": "ValidateRestoreTests", "Effect": "Allow",
             "Action": list(RESTORE_TEST_ACTIONS), "Resource": "*"},
        ])
        retention = installation.backup.retention
        self.prune = PrunePrincipal(
            f"{name}-prune", installation_id=name, runner_arn=retention.runner_arn,
            repositories=[(restic.bucket.arn, restic_prefix)], status_arns=[dumps.bucket.arn],
            key_arns=[primary_key.arn, secondary_key.arn], regions=[regions.primary, regions.secondary],
            provider=primary, opts=pulumi.ResourceOptions(parent=self))
        self.retention_targets = pulumi.Output.all(restic.bucket.bucket, dumps.bucket.bucket).apply(
            lambda buckets: retention_targets(installation, cloud.backup_retention_days, [
                Repository(FILES, regions.secondary, buckets[0], restic_prefix, buckets[1], regions.primary)]))
        self.watch = FreshnessWatch(
            f"{name}-freshness", installation_id=name, max_age_hours=installation.backup_max_age_hours,
            reserve_hours=installation.backup.reserve_hours, watch=self.freshness_targets,
            read_statements=read_statements, technologies=(*TECHNOLOGIES, BLOCK_COPY), ops_topic=ops_topic,
            drills=tuple(names.drill_of(t) for t in (BLOCK, DATABASE, FILES)),
            drill_limit_hours=cloud.restore_drill.alarm_after_hours,
            drill_setting="cloud.restore_drill.alarm_after_days",
            reports_runs=(DATABASE, FILES),  # their jobs' results; damage the restic drill or check found
            checks=(names.check_of(FILES),), check_limit_hours=check_limit_hours(installation),
            provider=primary, opts=pulumi.ResourceOptions(parent=self),
        )
        self.block_backup.alert_failures(ops_topic)
        self.storage_alarms = self._storage_alarms(billing_topic, primary)
        self.register_outputs({**self._outputs(), "instance_id": self.host.instance.id,
                               "freshness_targets": self.freshness_targets})


def freshness_watch(installation: CloudConfig, vault: str, copy_vault: str, dump_bucket: str, restic_bucket: str,
                    volume_arns: list[str], restore_testing_plan: Optional[str] = None) -> Watch:
    """What the freshness checker looks at for this installation (the Lambda's and the script's
    input): every data volume in the vault and in its copy, the dumps, the restic snapshots, the
    weekly restore test of the volumes, and the instance's weekly drills of the newest dump and
    restic snapshot (their results in the dumps bucket; never drilled: dated by the first backup)."""
    regions = installation.regions
    volumes = tuple(sorted(volume_arns))
    drill_limit = installation.cloud.restore_drill.alarm_after_hours

    def results(technology: str) -> tuple[tuple[str, str, str], ...]:  # where the instance's drill writes
        return ((regions.primary, dump_bucket, names.drill_key(installation.id, technology)),)

    # the drill and the deep check of the restic repository: damage either found fails its targets
    verified = results(FILES) + ((regions.primary, dump_bucket, names.check_key(installation.id, FILES)),)

    def runs(technology: str) -> tuple[tuple[str, str, str], ...]:  # the instance job's last run
        return ((regions.primary, dump_bucket, names.run_key(installation.id, technology)),)

    return Watch(
        installation_id=installation.id,
        namespace=names.metrics_namespace(installation.id),
        metrics_region=regions.primary,
        limit_hours=float(installation.backup_max_age_hours),
        targets=(
            Target(BLOCK, regions.primary, vault=vault, resources=volumes),
            Target(DATABASE, regions.primary, bucket=dump_bucket, prefix=names.dump_prefix(installation.id),
                   suffix=names.DUMP_SUFFIX, status_sources=runs(DATABASE)),
            Target(FILES, regions.secondary, bucket=restic_bucket, prefix=names.snapshots_prefix(installation.id),
                   status_sources=runs(FILES), damage_sources=verified),
            Target(BLOCK_COPY, regions.secondary, vault=copy_vault, resources=volumes),
        ) + ((Target(names.drill_of(BLOCK), regions.primary, kind="restore-test", limit_hours=drill_limit,
                     resources=volumes, restore_testing_plan=restore_testing_plan),) if restore_testing_plan else ()) + (
            Target(names.drill_of(DATABASE), regions.primary, kind="drill", bucket=dump_bucket,
                   prefix=names.dump_prefix(installation.id), suffix=names.DUMP_SUFFIX, limit_hours=drill_limit,
                   status_sources=results(DATABASE)),
            Target(names.drill_of(FILES), regions.secondary, kind="drill", bucket=restic_bucket,
                   prefix=names.snapshots_prefix(installation.id), limit_hours=drill_limit, status_sources=results(FILES),
                   damage_sources=verified),
            Target(names.check_of(FILES), regions.secondary, kind="check", bucket=restic_bucket,
                   prefix=names.snapshots_prefix(installation.id), limit_hours=check_limit_hours(installation),
                   status_sources=verified[1:], damage_sources=verified),
        ),
    )


def check_limit_hours(installation: Installation) -> float:
    """How old the part of a repository read back longest ago may be: a cycle, and a day for a
    daily check that failed once."""
    return float((installation.backup.verify_cycle_days + 1) * 24)


def decrypt_through_s3_statement(key_arns: list[str], regions: list[str]) -> dict:
    """Let a reader of SSE-KMS objects decrypt them with their bucket's key, only as S3 asks for it."""
    return {"Sid": "DecryptResultsThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt"],
            "Resource": sorted(key_arns),
            "Condition": {"StringEquals": {"kms:ViaService": sorted(f"s3.{r}.amazonaws.com" for r in regions)}}}


class OnPremInstallation(_Installation):
    """A Daktela CC installation on the customer's own server, prepared over SSH, backed up twice
    a day into two cloud locations."""

    type_token = "daktela:onprem:OnPremInstallation"

    def __init__(self, installation: OnPremConfig, secrets: dict[str, pulumi.Output[str]],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(installation, opts)
        settings = installation.on_premise
        name = installation.id
        self.offsite = OffsiteBackupTarget(f"{name}-offsite", installation, opts=pulumi.ResourceOptions(parent=self))
        layout = layout_from_config(settings)
        bucket_names = [b.bucket.bucket for b in self.offsite.buckets]
        job = pulumi.Output.all(*bucket_names).apply(lambda names: job_from_config(installation, layout, names))
        backup_secrets = pulumi.Output.all(
            self.offsite.access_key.id, self.offsite.access_key.secret,
            secrets["backupRepositoryPassword"], secrets["databasePassword"],
        ).apply(lambda values: dict(zip(
            ("access_key_id", "secret_access_key", "restic_password", "database_password"), values)))
        host = settings.host
        self.prepared_host = PreparedHost(
            f"{name}-host",
            address=host.address,
            port=host.port,
            user=host.user,
            ssh_private_key=secrets["hostSshPrivateKey"],
            host_key_fingerprint=host.host_key_fingerprint,
            known_hosts_file=host.known_hosts_file,
            layout=layout.to_dict(),
            backup_job=job.apply(lambda j: j.to_dict()),
            backup_secrets=backup_secrets,
            files_digest=job.apply(lambda j: files_digest(job_files(j))),
            host_unchecked=installation.on_premise.host_unchecked,
            opts=pulumi.ResourceOptions(parent=self),
        )

        primary = self.offsite.providers[0]
        ops_topic, billing_topic = self._topics(primary)
        self.freshness_targets = pulumi.Output.all(*bucket_names).apply(
            lambda names: onprem_freshness_watch(installation, names).to_json())
        # The location buckets are encrypted with S3's own keys (SSE-S3): reading needs no KMS key.
        read_statements = pulumi.Output.all(*[b.bucket.arn for b in self.offsite.buckets]).apply(
            lambda arns: [
                list_objects_statement(list(arns), [names.snapshots_prefix(name), names.status_prefix(name)]),
                {"Sid": "ReadRunResults", "Effect": "Allow", "Action": ["s3:GetObject"],
                 "Resource": sorted(f"{arn}/{names.status_prefix(name)}*" for arn in arns)},
            ])
        self.watch = FreshnessWatch(
            f"{name}-freshness", installation_id=name, max_age_hours=installation.backup_max_age_hours,
            reserve_hours=installation.backup.reserve_hours, watch=self.freshness_targets,
            read_statements=read_statements, technologies=LOCATIONS,
            reports_runs=LOCATIONS,
            drills=tuple(names.drill_of(location) for location in LOCATIONS),
            drill_limit_hours=settings.restore_drill.alarm_after_hours, ops_topic=ops_topic,
            drill_setting="on_premise.restore_drill.alarm_after_days",
            checks=tuple(names.check_of(location) for location in LOCATIONS),
            check_limit_hours=check_limit_hours(installation),
            provider=primary, opts=pulumi.ResourceOptions(parent=self),
        )
        self.storage_alarms = self._storage_alarms(billing_topic, primary)
        retention = installation.backup.retention
        self.prune = PrunePrincipal(
            f"{name}-prune", installation_id=name, runner_arn=retention.runner_arn,
            repositories=[(b.bucket.arn, names.repository_prefix(name)) for b in self.offsite.buckets],
            status_arns=[b.bucket.arn for b in self.offsite.buckets], key_arns=[], regions=self.offsite.regions,
            provider=primary, opts=pulumi.ResourceOptions(parent=self))
        self.retention_targets = pulumi.Output.all(*bucket_names).apply(
            lambda buckets: retention_targets(installation, settings.backup_lock_days, [
                Repository(location, region, bucket, names.repository_prefix(name), bucket, region)
                for location, region, bucket in zip(LOCATIONS, self.offsite.regions, buckets)]))
        self.register_outputs({**self._outputs(), "freshness_targets": self.freshness_targets})


def retention_targets(installation: Installation, keep_within_days: int, repositories: list[Repository]) -> str:
    """What the weekly prune keeps, and where: the stack output `retention_targets` (scripts/prune.py)."""
    retention = installation.backup.retention
    return RetentionTargets(installation.id, keep_within_days, retention.keep_daily, retention.keep_weekly,
                            retention.keep_monthly, tuple(repositories)).to_json()


def onprem_freshness_watch(installation: OnPremConfig, bucket_names: list[str]) -> Watch:
    """Each location's newest restic snapshot must be at most 24 h + reserve old, its last run must
    have succeeded and the next must report when due (its result is in every location the host could
    reach), its weekly drill and daily deep check must succeed, and damage they find fails the
    location until a repair is recorded."""
    regions = (installation.regions.primary, installation.regions.secondary)
    snapshots = names.snapshots_prefix(installation.id)  # also dates a location never drilled or checked

    def everywhere(key: str) -> tuple[tuple[str, str, str], ...]:  # each result is written into both
        return tuple((r, b, key) for r, b in zip(regions, bucket_names))

    def verified(location: str) -> tuple[tuple[str, str, str], ...]:
        return everywhere(names.drill_key(installation.id, location)) + everywhere(names.check_key(installation.id, location))

    return Watch(
        installation_id=installation.id,
        namespace=names.metrics_namespace(installation.id),
        metrics_region=regions[0],
        limit_hours=float(installation.backup_max_age_hours),
        targets=tuple(
            Target(location, region, bucket=bucket, prefix=snapshots,
                   status_sources=everywhere(names.status_key(installation.id, number)),
                   damage_sources=verified(location))
            for number, (location, region, bucket) in enumerate(zip(LOCATIONS, regions, bucket_names), 1)
        ) + tuple(
            Target(names.drill_of(location), region, kind="drill", bucket=bucket, prefix=snapshots,
                   limit_hours=installation.on_premise.restore_drill.alarm_after_hours,
                   status_sources=everywhere(names.drill_key(installation.id, location)),
                   damage_sources=verified(location))
            for location, region, bucket in zip(LOCATIONS, regions, bucket_names)
        ) + tuple(
            Target(names.check_of(location), region, kind="check", bucket=bucket, prefix=snapshots,
                   limit_hours=check_limit_hours(installation),
                   status_sources=everywhere(names.check_key(installation.id, location)),
                   damage_sources=verified(location))
            for location, region, bucket in zip(LOCATIONS, regions, bucket_names)
        ),
        meter_sources=tuple((r, b, names.storage_key(installation.id)) for r, b in zip(regions, bucket_names)),
    )

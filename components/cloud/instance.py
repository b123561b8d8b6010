"""The instance: Debian 12 EC2 with a volume per data class, a contact-centre security group, a
least-privilege role, its secrets in SSM, and cloud-init that mounts volumes and starts the
converger, which installs the database-dump, restic, metering and restore-drill timers.

How the job files reach the instance (docs/design.md, "Compute": the converger): they are
an S3 object in the dumps bucket named by its SHA-256; the SSM parameter holds the converger, which
names that object and its digest; user data writes only what the first boot needs. A change of
any job file is a new object and a new converger, which a running instance picks up within 15
minutes; user data (16 KB) and a parameter (8 KB) are both too small for the jobs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components.aws.base import DATA_CLASS_TAG, SCRATCH_DATA_CLASS, assume_role_policy, child, policy_document
from components import names
from components.config import CloudConfig
from components.schedule import DATABASE, FILES, REPORT_GRACE_SECONDS, Slot, check_start, slot
from components.templates import render, timer_job_units, verify_program, watchdog_program

DEBIAN_OWNER = "136693071363"  # Debian's AWS account: the official Debian cloud images
DEBIAN_12_NAME = "debian-12-amd64-*"
DATA_ROOT = names.CLOUD_DATA_ROOT
ATTACHMENTS_METRIC = names.ATTACHMENTS_METRIC


@dataclass(frozen=True)
class DataClass:
    name: str
    device_name: str  # what the EC2 API wants; the instance finds volumes by id, not by this
    counted: bool  # counted toward the storage above the included GB


# Comments and email attachments are the only data counted toward 9.03's storage.
DATA_CLASSES = (
    DataClass("application", "/dev/sdf", False),
    DataClass("database", "/dev/sdg", False),
    DataClass("attachments", "/dev/sdh", True),
    DataClass("recordings", "/dev/sdi", False),
)


def mount_point(data_class: str) -> str:
    return f"{DATA_ROOT}/{data_class}"


# The restore drill's scratch volume: not customer data, never backed up (block_backup.py leaves
# this tag out of its selection), replaced freely; mounted at cloud.restore_drill.scratch_dir.
SCRATCH = DataClass(SCRATCH_DATA_CLASS, "/dev/sdj", False)
SCRATCH_PROGRAM = "/usr/local/sbin/daktela-drill-scratch"  # mounts it (formats it only when blank)


@dataclass(frozen=True)
class BackupTargets:
    """Where the instance's own backup jobs write (created by the installation before the instance)."""

    dump_bucket: aws.s3.Bucket
    dump_prefix: str
    restic_bucket: aws.s3.Bucket
    restic_prefix: str
    restic_region: str
    keys: tuple[aws.kms.Key, ...]


class CloudHost(pulumi.ComponentResource):
    instance: aws.ec2.Instance
    volumes: dict[str, aws.ebs.Volume]
    role: aws.iam.Role
    security_group: aws.ec2.SecurityGroup

    def __init__(
        self,
        name: str,
        *,
        installation: CloudConfig,
        secrets: dict[str, Any],
        provider: aws.Provider,
        kms_key: aws.kms.Key,
        backups: BackupTargets,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("daktela:cloud:CloudHost", name, None, opts)
        cloud = installation.cloud
        invoke = pulumi.InvokeOptions(provider=provider)
        subnet = aws.ec2.get_subnet_output(id=cloud.subnet_id, opts=invoke)
        ami = aws.ec2.get_ami_output(
            most_recent=True,
            owners=[DEBIAN_OWNER],
            filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=[DEBIAN_12_NAME]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
            ],
            opts=invoke,
        )

        self.security_group = self._security_group(name, installation, subnet.vpc_id, provider)

        parameters = {
            key: aws.ssm.Parameter(
                f"{name}-{slug}",
                name=f"/daktela/{installation.id}/{slug}",
                type="SecureString",
                key_id=kms_key.arn,
                value=secrets[key],
                description=description,
                opts=child(self, provider),
            )
            for key, slug, description in (
                ("databasePassword", "database-password", "password of the database backup user"),
                ("backupRepositoryPassword", "restic-password", "password of the restic repository"),
            )
        }

        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description=f"Daktela CC {installation.id}: instance role", opts=child(self, provider),
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-least-privilege", role=self.role.id,
            policy=pulumi.Output.all(
                dump=backups.dump_bucket.arn, restic=backups.restic_bucket.arn,
                parameters=[p.arn for p in parameters.values()], keys=[k.arn for k in backups.keys],
            ).apply(lambda arns: instance_policy(installation, backups, {
                **arns, "parameters": [*arns["parameters"], job_files_arn(installation, arns["parameters"][0])]})),
            opts=child(self, provider),
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=self.role.name, opts=child(self, provider))

        self.volumes = {
            data_class.name: aws.ebs.Volume(
                f"{name}-{data_class.name}",
                availability_zone=subnet.availability_zone,
                size=getattr(cloud.volumes_gb, data_class.name),
                type="gp3",
                encrypted=True,
                kms_key_id=kms_key.arn,
                tags={DATA_CLASS_TAG: data_class.name, "Name": f"{installation.id}-{data_class.name}",
                      "daktela-counted-storage": "yes" if data_class.counted else "no"},
                # Customer data: destroying it takes an explicit `pulumi state unprotect`.
                opts=child(self, provider, protect=True),
            )
            for data_class in DATA_CLASSES
        }

        scratch_gb = cloud.drill_scratch_gb
        self.scratch = aws.ebs.Volume(
            f"{name}-{SCRATCH.name}",
            availability_zone=subnet.availability_zone,
            size=scratch_gb, type="gp3", encrypted=True, kms_key_id=kms_key.arn,
            tags={DATA_CLASS_TAG: SCRATCH.name, "Name": f"{installation.id}-{SCRATCH.name}",
                  "daktela-counted-storage": "no"},
            opts=child(self, provider),
        ) if scratch_gb else None

        values = pulumi.Output.all(
            volume_ids={**{k: v.id for k, v in self.volumes.items()},
                        **({SCRATCH.name: self.scratch.id} if self.scratch else {})},
            dump_bucket=backups.dump_bucket.bucket,
            restic_bucket=backups.restic_bucket.bucket,
            parameter_names={k: p.name for k, p in parameters.items()},
        )
        # The job files as the stack wants them now; the instance converges to them (user data
        # only starts a new instance, and changing it would not reach a running one).
        files = values.apply(lambda v: job_files_value(installation, backups, v))
        self.job_files_object = aws.s3.BucketObjectv2(
            f"{name}-job-files-object",
            bucket=backups.dump_bucket.id,
            key=files.apply(lambda text: names.job_files_key(installation.id, sha256(text))),
            content=files,  # shown in previews: no secrets
            content_type="application/json",
            opts=child(self, provider),
        )
        self.job_files = aws.ssm.Parameter(
            f"{name}-job-files",
            name=job_files_parameter(installation),
            type="String",
            tier="Advanced",  # kept: a parameter cannot go back to the standard tier in place
            insecure_value=pulumi.Output.all(values, files).apply(
                lambda both: converger_value(installation, both[0], both[1])),  # shown in previews
            description=f"Daktela CC {installation.id}: the converger of the instance's jobs (no secrets)",
            # the object it names exists before any instance can read the parameter
            opts=child(self, provider, depends_on=[self.job_files_object]),
        )
        user_data = pulumi.Output.all(values, files).apply(lambda both: cloud_init(installation, both[0], both[1]))

        self.instance = aws.ec2.Instance(
            name,
            ami=ami.id,
            instance_type=cloud.instance_type,
            subnet_id=cloud.subnet_id,
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=profile.name,
            user_data=user_data,
            disable_api_termination=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required", http_endpoint="enabled"),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=20, volume_type="gp3", encrypted=True, kms_key_id=kms_key.arn,
            ),
            tags={"Name": f"daktela-{installation.id}"},
            # A newer Debian image or changed user data must not replace (or stop) a live contact
            # centre: they apply to new instances; see docs/design.md.
            opts=child(self, provider, ignore_changes=["ami", "userData"]),
        )
        for data_class, volume in [*((dc, self.volumes[dc.name]) for dc in DATA_CLASSES),
                                   *([(SCRATCH, self.scratch)] if self.scratch else [])]:
            aws.ec2.VolumeAttachment(
                f"{name}-{data_class.name}-attachment",
                device_name=data_class.device_name,
                volume_id=volume.id,
                instance_id=self.instance.id,
                opts=child(self, provider),
            )
        self.register_outputs({"instance_id": self.instance.id})

    def _security_group(self, name: str, installation: CloudConfig, vpc_id: pulumi.Input[str],
                        provider: aws.Provider) -> aws.ec2.SecurityGroup:
        cloud = installation.cloud
        anywhere: dict[str, Any] = {"cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"]}
        ingress = [
            aws.ec2.SecurityGroupIngressArgs(description="HTTPS", protocol="tcp", from_port=443, to_port=443, **anywhere),
            aws.ec2.SecurityGroupIngressArgs(description="SIP (TCP, TLS)", protocol="tcp", from_port=5060, to_port=5061, **anywhere),
            aws.ec2.SecurityGroupIngressArgs(description="SIP (UDP)", protocol="udp", from_port=5060, to_port=5061, **anywhere),
            aws.ec2.SecurityGroupIngressArgs(
                description="RTP media", protocol="udp",
                from_port=cloud.rtp_ports.first, to_port=cloud.rtp_ports.last, **anywhere),
        ]
        if cloud.admin_cidrs:
            ingress.append(aws.ec2.SecurityGroupIngressArgs(
                description="SSH from admin networks", protocol="tcp", from_port=22, to_port=22,
                cidr_blocks=sorted(c for c in cloud.admin_cidrs if ":" not in c),
                ipv6_cidr_blocks=sorted(c for c in cloud.admin_cidrs if ":" in c),
            ))
        return aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"Daktela CC {installation.id}: contact centre traffic",
            vpc_id=vpc_id,
            ingress=ingress,
            egress=[aws.ec2.SecurityGroupEgressArgs(description="all outbound", protocol="-1",
                                                    from_port=0, to_port=0, **anywhere)],
            opts=child(self, provider),
        )


# Session Manager and Run Command on the instance, without AmazonSSMManagedInstanceCore: that
# policy also grants ssm:GetParameter(s) on every parameter of the account.
SESSION_MANAGER_ACTIONS = [
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
]


def instance_policy(installation: CloudConfig, backups: BackupTargets, arns: dict[str, Any]) -> str:
    """The instance's own permissions: nothing with a wildcard action, resources this installation's.

    Both buckets belong to this installation alone, so s3:ListBucket is granted on them without a
    prefix condition: restic 0.14 asks HeadBucket (which needs s3:ListBucket, no prefix) before
    `init` and fails on its 403 (restic #4085, fixed in 0.15)."""
    dump, restic = arns["dump"], arns["restic"]
    return policy_document([
        {
            "Sid": "PublishOwnMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",  # PutMetricData has no resource ARN; the namespace condition scopes it
            "Condition": {"StringEquals": {"cloudwatch:namespace": names.metrics_namespace(installation.id)}},
        },
        {
            "Sid": "WriteDatabaseDumps",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
            "Resource": [f"{dump}/{backups.dump_prefix}*"],
        },
        {
            # the restore drill reads the dumps; the converger its job files
            "Sid": "ReadDumpsAndJobFiles",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{dump}/{backups.dump_prefix}*", f"{dump}/{names.toolkit_prefix(installation.id)}*"],
        },
        {
            "Sid": "WriteResults",  # of the dump and restic runs, the drills and the deep checks
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": sorted(f"{dump}/{key}" for key in (names.run_key(installation.id, "*"),
                                                          names.drill_key(installation.id, "*"),
                                                          names.check_key(installation.id, "*"))),
        },
        {
            "Sid": "ResticRepository",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{restic}/{backups.restic_prefix}*"],
        },
        {
            "Sid": "ResticLocks",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject"],
            "Resource": [f"{restic}/{backups.restic_prefix}locks/*"],
        },
        {
            "Sid": "ListOwnBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [dump, restic],
        },
        {
            "Sid": "FindUnfinishedDumps",
            "Effect": "Allow",
            "Action": ["s3:ListBucketMultipartUploads"],
            "Resource": [dump],
        },
        {
            "Sid": "LocateBuckets",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation"],
            "Resource": [dump, restic],
        },
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": sorted(arns["parameters"]),
        },
        {
            "Sid": "UseOwnKeys",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": sorted(arns["keys"]),
        },
        {
            "Sid": "SessionManager",
            "Effect": "Allow",
            "Action": SESSION_MANAGER_ACTIONS,
            "Resource": "*",  # these actions have no resource-level permissions
        },
    ])


def _systemd_job(name: str, description: str, exec_start: str, calendars: list[str],
                 requires: list[str], runtime_max_seconds: Optional[int],
                 exec_start_pre: Optional[str] = None) -> list[dict[str, str]]:
    units = timer_job_units(name, description, exec_start, requires, calendars, runtime_max_seconds, exec_start_pre)
    return [{"path": path, "mode": "0644", "content": content} for path, content in units.items()]


def s3_endpoint(region: str) -> str:
    return f"https://s3.{region}.amazonaws.com"


def job_files(installation: CloudConfig, backups: BackupTargets, values: dict[str, Any],
              endpoint: str = "") -> list[dict[str, str]]:
    """The backup jobs' files: scripts and systemd units (no secrets in any of them), written by
    cloud-init at launch and kept converged from the job-files parameter afterwards. `endpoint`
    replaces AWS's S3 endpoint for restic (tests point it at a loopback double)."""
    region = installation.regions.primary
    database = installation.database
    dump_slot, files_slot = slot(installation, DATABASE), slot(installation, FILES)
    silence = installation.backup.silence_minutes * 60

    def result(technology: str, slot_of: Slot) -> dict[str, Any]:  # where each job's run result goes
        return {"technology": technology, "result_region": region, "result_bucket": values["dump_bucket"],
                "result_key": names.run_key(installation.id, technology), "start": f"{slot_of.start:%H:%M}",
                "window_seconds": slot_of.window_minutes * 60, "report_grace_seconds": REPORT_GRACE_SECONDS}

    scripts = {
        "daktela-db-dump": render(
            "cloud/daktela-db-dump.sh.j2", installation_id=installation.id, region=region,
            bucket=values["dump_bucket"], prefix=backups.dump_prefix, suffix=names.DUMP_SUFFIX,
            password_parameter=values["parameter_names"]["databasePassword"],
            user=database.user, database=database.name,
            engine=database.engine, silence_seconds=silence, **result(DATABASE, dump_slot),
        ),
        "daktela-restic-backup": render(
            "cloud/daktela-restic-backup.sh.j2", installation_id=installation.id,
            region=backups.restic_region, parameter_region=region,
            repository=restic_repository(backups, values, endpoint),
            password_parameter=values["parameter_names"]["backupRepositoryPassword"],
            paths=[mount_point("application"), mount_point("attachments"), mount_point("recordings")],
            watchdog=names.WATCHDOG_PROGRAM, silence_seconds=silence,
            lock=names.CLOUD_RESTIC_LOCK, lock_wait_seconds=CLOUD_LOCK_WAIT_SECONDS,
            endpoint=endpoint or s3_endpoint(backups.restic_region), **result(FILES, files_slot),
        ),
        "daktela-attachments-meter": render(
            "cloud/daktela-attachments-meter.sh.j2", installation_id=installation.id, region=region,
            mount_point=mount_point("attachments"), namespace=names.metrics_namespace(installation.id),
            metric=ATTACHMENTS_METRIC, bytes_per_gb=names.BYTES_PER_GB,
        ),
    }
    files = [{"path": f"/usr/local/sbin/{n}", "mode": "0755", "content": c} for n, c in scripts.items()]
    files += _systemd_job(
        "daktela-db-dump", f"Daktela {installation.id}: database dump to S3 (database-level backup)",
        "/usr/local/sbin/daktela-db-dump", [dump_slot.systemd_calendar()], [mount_point("database")],
        dump_slot.window_minutes * 60)
    files += _systemd_job(
        "daktela-restic-backup", f"Daktela {installation.id}: restic to S3 (file-level backup)",
        "/usr/local/sbin/daktela-restic-backup", [files_slot.systemd_calendar()],
        [mount_point("application"), mount_point("attachments"), mount_point("recordings")],
        files_slot.window_minutes * 60)
    files += _systemd_job(
        "daktela-attachments-meter", f"Daktela {installation.id}: comments and email attachments, GB",
        "/usr/local/sbin/daktela-attachments-meter", [f"{names.METER_CALENDAR} UTC"], [mount_point("attachments")],
        None)
    files.append({"path": names.WATCHDOG_PROGRAM, "mode": "0755", "content": watchdog_program()})
    files.append({"path": names.DRILL_PROGRAM, "mode": "0755", "content": verify_program()})
    files.append({"path": names.CHECK_PROGRAM, "mode": "0755", "content": verify_program()})
    files.append({"path": names.DRILL_CONFIG, "mode": "0644", "content": drill_config(installation, backups, values, endpoint)})
    drill = installation.cloud.restore_drill
    scratch = values["volume_ids"].get(SCRATCH.name)
    if scratch:  # a job file, so that it reaches running instances too (user data does not)
        files.append({"path": SCRATCH_PROGRAM, "mode": "0755", "content": render(
            "cloud/daktela-volumes.sh.j2", installation_id=installation.id,
            volumes=[{"volume_id": scratch, "mount_point": drill.scratch_dir, "label": "dk-scratch"}],
            directories=[])})
    files += _systemd_job(
        "daktela-restore-drill", f"Daktela {installation.id}: weekly restore drill of the dumps and restic",
        names.DRILL_PROGRAM, [f"{drill.weekday} *-*-* {drill.time:%H:%M}:00 UTC"],
        [drill.scratch_dir], names.DRILL_MAX_HOURS * 3600, exec_start_pre=SCRATCH_PROGRAM if scratch else None)
    files += _systemd_job(
        "daktela-backup-check", f"Daktela {installation.id}: daily deep check of the file-level repository",
        names.CHECK_PROGRAM, [f"*-*-* {check_start([f'{files_slot.start:%H:%M}'], files_slot.window_minutes)}:00 UTC"],
        [], None)
    return files


DRILL_STATUS_DIR = "/var/lib/daktela-toolkit"
# The file-level backup waits this long for a deep check that still holds the repository (the check
# stops 5 minutes before the backup's start, so only a check started by hand can be in the way).
CLOUD_LOCK_WAIT_SECONDS = 1800


def drill_config(installation: CloudConfig, backups: BackupTargets, values: dict[str, Any], endpoint: str) -> str:
    """The restore drill's config on the instance: the restic repository (files only: the database
    is in the dumps) and the newest dump, each result into the dumps bucket's status prefix."""
    cloud = installation.cloud
    region, bucket = installation.regions.primary, values["dump_bucket"]

    def result(drill: str) -> list[dict[str, str]]:
        return [{"region": region, "url": f"s3://{bucket}/{names.drill_key(installation.id, drill)}"}]

    return json.dumps({
        "installation_id": installation.id, "database_name": installation.database.name,
        "database_engine": installation.database.engine, "scratch_dir": cloud.restore_drill.scratch_dir,
        "status_dir": DRILL_STATUS_DIR, "uploader": "aws", "watchdog": names.WATCHDOG_PROGRAM,
        "silence_seconds": installation.backup.silence_minutes * 60,
        "verify_cycle_days": installation.backup.verify_cycle_days, "backup_lock": names.CLOUD_RESTIC_LOCK,
        # the deep check stops before the file-level backup starts (the only one it would lock out)
        "backup_times": [f"{slot(installation, FILES).start:%H:%M}"], "timezone": "UTC",
        "password_command": ["aws", "ssm", "get-parameter", "--cli-connect-timeout", "15", "--cli-read-timeout",
                             "60", "--region", region, "--name", values["parameter_names"]["backupRepositoryPassword"],
                             "--with-decryption", "--query", "Parameter.Value", "--output", "text"],
        "drills": [
            {"name": FILES, "kind": "restic", "region": backups.restic_region,
             "repository": restic_repository(backups, values, endpoint), "result_urls": result(FILES),
             "check_result_urls": [{"region": region,
                                    "url": f"s3://{bucket}/{names.check_key(installation.id, FILES)}"}]},
            {"name": DATABASE, "kind": "dump", "region": region, "bucket": bucket, "prefix": backups.dump_prefix,
             "suffix": names.DUMP_SUFFIX, "result_urls": result(DATABASE)},
        ],
    }, indent=2, sort_keys=True) + "\n"


def restic_repository(backups: BackupTargets, values: dict[str, Any], endpoint: str = "") -> str:
    return (f"s3:{endpoint or s3_endpoint(backups.restic_region)}/{values['restic_bucket']}/"
            f"{backups.restic_prefix.rstrip('/')}")


PACKAGES = ("awscli", "restic", "mariadb-client", "gzip", "python3")
CONVERGE_EVERY_MINUTES = 15


def job_files_parameter(installation: CloudConfig) -> str:
    return f"/daktela/{installation.id}/job-files"


def job_files_arn(installation: CloudConfig, sibling_arn: str) -> str:
    """The job-files parameter's ARN, from another parameter of the installation (same region, account)."""
    return sibling_arn.split(":parameter/", 1)[0] + ":parameter" + job_files_parameter(installation)


def job_files_value(installation: CloudConfig, backups: BackupTargets, values: dict[str, Any]) -> str:
    """What daktela-converge writes from S3: {path: {mode, content}}, in a stable order."""
    files = {f["path"]: {"mode": f["mode"], "content": f["content"]} for f in job_files(installation, backups, values)}
    return json.dumps(files, sort_keys=True, indent=1) + "\n"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def converger(installation: CloudConfig, values: dict[str, Any], files: str) -> str:
    """daktela-converge, naming the job-files object of `files` and its digest."""
    digest = sha256(files)
    return render("cloud/daktela-converge.sh.j2", installation_id=installation.id, region=installation.regions.primary,
                  parameter=job_files_parameter(installation), bucket=values["dump_bucket"],
                  key=names.job_files_key(installation.id, digest), digest=digest)


def converger_value(installation: CloudConfig, values: dict[str, Any], files: str) -> str:
    """The job-files parameter: the converger alone (a converger of any version writes it)."""
    return json.dumps({CONVERGER: {"mode": "0755", "content": converger(installation, values, files)}},
                      sort_keys=True, separators=(",", ":"))


CONVERGER = "/usr/local/sbin/daktela-converge"


def first_boot_files(installation: CloudConfig, values: dict[str, Any], files: str) -> list[dict[str, str]]:
    """What cloud-init writes: the volume script (first boot) and the converger with its units."""
    return [
        {"path": "/usr/local/sbin/daktela-volumes", "mode": "0755", "content": render(
            "cloud/daktela-volumes.sh.j2", installation_id=installation.id,
            volumes=[{"volume_id": values["volume_ids"][dc.name], "mount_point": mount_point(dc.name),
                      "label": f"dk-{dc.name}"} for dc in DATA_CLASSES],
            directories=[{"path": mount_point("database"), "mode": "0700"}])},
        {"path": CONVERGER, "mode": "0755", "content": converger(installation, values, files)},
        {"path": "/etc/systemd/system/daktela-converge.service", "mode": "0644", "content": render(
            "cloud/daktela-converge.service.j2", installation_id=installation.id)},
        {"path": "/etc/systemd/system/daktela-converge.timer", "mode": "0644", "content": render(
            "cloud/daktela-converge.timer.j2", installation_id=installation.id,
            every_minutes=CONVERGE_EVERY_MINUTES)},
    ]


def cloud_init(installation: CloudConfig, values: dict[str, Any], files: str) -> str:
    return render("cloud/cloud-init.yaml.j2", installation_id=installation.id, packages=PACKAGES,
                  files=first_boot_files(installation, values, files))

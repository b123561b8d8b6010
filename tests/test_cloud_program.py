"""The cloud installation under mocks: every promise of the catalogue read off the plan."""

from __future__ import annotations

import json
import re

import hashlib

import pytest
import yaml

from components.offline import autoname
from components.cloud.instance import SESSION_MANAGER_ACTIONS
from components.installation import RESTORE_TEST_ACTIONS
from components.schedule import AWS_BACKUP_START_WINDOW_MINUTES
from tests.conftest import cloud_instance_files, example_installation, one, plan_of, run_recorded, stack_input

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def plan():
    return plan_of(example_installation("cloud"))


def user_data(plan) -> dict:
    return yaml.safe_load(one(plan, "aws:ec2/instance:Instance").inputs["userData"])


def written(plan, path) -> str:
    return cloud_instance_files(plan)[path]["content"]


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def test_three_technologies_run_at_the_three_configured_times(plan):
    backup_plan = one(plan, "aws:backup/plan:Plan")
    assert backup_plan.inputs["rules"][0]["schedule"] == "cron(0 2 ? * * *)"
    assert backup_plan.inputs["rules"][0]["scheduleExpressionTimezone"] == "Etc/UTC"
    assert "OnCalendar=*-*-* 10:00:00 UTC" in written(plan, "/etc/systemd/system/daktela-db-dump.timer")
    assert "OnCalendar=*-*-* 18:00:00 UTC" in written(plan, "/etc/systemd/system/daktela-restic-backup.timer")
    assert "--single-transaction" in written(plan, "/usr/local/sbin/daktela-db-dump")
    assert "\"${restic[@]}\" backup" in written(plan, "/usr/local/sbin/daktela-restic-backup")


def test_configured_times_move_every_technology():
    installation = example_installation("cloud")
    installation["backup"]["times"] = ["23:15", "07:45", "15:30"]
    changed = plan_of(installation)
    assert one(changed, "aws:backup/plan:Plan").inputs["rules"][0]["schedule"] == "cron(15 23 ? * * *)"
    assert "OnCalendar=*-*-* 07:45:00 UTC" in written(changed, "/etc/systemd/system/daktela-db-dump.timer")
    assert "OnCalendar=*-*-* 15:30:00 UTC" in written(changed, "/etc/systemd/system/daktela-restic-backup.timer")


def test_no_technology_window_overlaps_the_next(plan):
    rule = one(plan, "aws:backup/plan:Plan").inputs["rules"][0]
    starts = [minutes(t) for t in ("02:00", "10:00", "18:00")]
    assert rule["startWindow"] == AWS_BACKUP_START_WINDOW_MINUTES
    assert rule["startWindow"] + rule["completionWindow"] <= (starts[1] - starts[0])
    for unit, gap in (("daktela-db-dump", starts[2] - starts[1]), ("daktela-restic-backup", 24 * 60 - starts[2] + starts[0])):
        runtime = re.search(r"TimeoutStartSec=(\d+)", written(plan, f"/etc/systemd/system/{unit}.service"))
        assert runtime and int(runtime.group(1)) <= gap * 60, unit


def test_copies_and_file_backups_live_in_the_second_region(plan):
    rule = one(plan, "aws:backup/plan:Plan").inputs["rules"][0]
    assert rule["copyActions"][0]["destinationVaultArn"].startswith("arn:aws:backup:eu-west-1:")
    assert one(plan, "aws:backup/vault:Vault", "copy-vault").provider.endswith("(eu-west-1)")
    assert one(plan, "aws:backup/vault:Vault", "block-backup-vault").provider.endswith("(eu-central-1)")
    assert one(plan, "aws:s3/bucket:Bucket", "restic").provider.endswith("(eu-west-1)")
    restic_job = written(plan, "/usr/local/sbin/daktela-restic-backup")
    assert 'RESTIC_REPOSITORY="s3:https://s3.eu-west-1.amazonaws.com/' in restic_job
    # restic signs for the bucket's region, never for AWS_DEFAULT_REGION (restic 0.14 would)
    assert '-- restic -o "s3.region=eu-west-1")' in restic_job
    assert "export AWS_DEFAULT_REGION" not in restic_job and "--region eu-central-1 --name /daktela/" in restic_job
    assert one(plan, "aws:s3/bucket:Bucket", "db-dumps").provider.endswith("(eu-central-1)")


def test_block_level_selects_this_installations_volumes_by_tag(plan):
    selection = one(plan, "aws:backup/selection:Selection")
    assert selection.inputs["resources"] == ["arn:aws:ec2:*:*:volume/*"]
    assert selection.inputs["conditions"][0]["stringEquals"] == [
        {"key": "aws:ResourceTag/daktela-installation", "value": "acme-cloud"}]
    vault = one(plan, "aws:backup/vault:Vault", "block-backup-vault")
    assert vault.inputs["kmsKeyArn"].startswith("arn:aws:kms:eu-central-1:")
    assert plan.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration") == []


def test_vault_lock_is_optional():
    installation = example_installation("cloud")
    installation["cloud"]["vault_lock_days"] = 14
    locks = plan_of(installation).of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert [lock.inputs["minRetentionDays"] for lock in locks] == [14, 14]


def test_one_freshness_alarm_per_technology_at_24h_plus_reserve_missing_data_breaching(plan):
    alarms = {r.inputs["dimensions"].get("Technology"): r for r in plan.of_type(ALARM)
              if r.inputs["metricName"] == "BackupAgeHours"}
    # the three technologies, and the block-level copies in the second region
    assert set(alarms) == {"block-level", "database-dump", "file-level", "block-level-copy"}
    ops_topic = "arn:aws:sns:eu-central-1:123456789012:acme-cloud-ops"
    for alarm in alarms.values():
        assert alarm.inputs["threshold"] == 24 + 4
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm.inputs["treatMissingData"] == "breaching"
        assert alarm.inputs["namespace"] == "Daktela/acme-cloud"
        assert alarm.inputs["alarmActions"] == [ops_topic]


def test_reserve_from_config_moves_the_thresholds():
    installation = example_installation("cloud")
    installation["backup"]["reserve_hours"] = 7
    thresholds = {r.inputs["threshold"] for r in plan_of(installation).of_type(ALARM)
                  if r.inputs["metricName"] == "BackupAgeHours"}
    assert thresholds == {31}


def test_ops_addresses_are_subscribed(plan):
    endpoints = {r.inputs["endpoint"]: r.inputs["topic"] for r in plan.of_type("aws:sns/topicSubscription:TopicSubscription")}
    assert endpoints["ops@example.com"].endswith(":acme-cloud-ops")
    assert endpoints["billing@example.com"].endswith(":acme-cloud-billing")


def test_checker_lambda_is_this_repos_code_on_a_schedule(plan):
    function = one(plan, "aws:lambda/function:Function")
    assert function.inputs["code"] == "[archive components/__init__.py, components/freshness.py, components/names.py]"
    assert function.inputs["handler"] == "components.freshness.handler"
    watch = json.loads(function.inputs["environment"]["variables"]["DAKTELA_FRESHNESS_TARGETS"])
    assert watch["limit_hours"] == 28
    assert [t["technology"] for t in watch["targets"]] == [
        "block-level", "database-dump", "file-level", "block-level-copy", "drill-block-level",
        "drill-database-dump", "drill-file-level", "check-file-level"]
    assert watch["targets"][2]["region"] == "eu-west-1" and watch["targets"][3]["region"] == "eu-west-1"
    # the instance's drills report into the dumps bucket; a drill never run is dated by its backups
    dumps, restic = watch["targets"][1]["bucket"], watch["targets"][2]["bucket"]
    assert [(t["kind"], t["bucket"], t["prefix"], t["status_sources"]) for t in watch["targets"][5:]] == [
        ("drill", dumps, "dumps/acme-cloud/", [["eu-central-1", dumps, "status/acme-cloud/drill-database-dump.json"]]),
        ("drill", restic, "restic/acme-cloud/snapshots/",
         [["eu-central-1", dumps, "status/acme-cloud/drill-file-level.json"]]),
        ("check", restic, "restic/acme-cloud/snapshots/",
         [["eu-central-1", dumps, "status/acme-cloud/check-file-level.json"]])]
    # damage the restic repository's drill or check found fails the file-level backup, its drill and its check
    verified = [["eu-central-1", dumps, "status/acme-cloud/drill-file-level.json"],
                ["eu-central-1", dumps, "status/acme-cloud/check-file-level.json"]]
    assert [t["technology"] for t in watch["targets"] if t.get("damage_sources") == verified] == [
        "file-level", "drill-file-level", "check-file-level"]
    volumes = watch["targets"][0]["resources"]  # each data volume must have its own newest recovery point
    assert len(set(volumes)) == 4 and watch["targets"][3]["resources"] == volumes
    assert all(re.fullmatch(r"arn:aws:ec2:eu-central-1:123456789012:volume/vol-[0-9a-f]+", v) for v in volumes)
    assert one(plan, "aws:cloudwatch/eventRule:EventRule", "freshness-schedule").inputs["scheduleExpression"] == "rate(15 minutes)"
    assert json.loads(plan.outputs["freshness_targets"]) == watch


def test_a_volume_per_data_class_encrypted_tagged_and_protected(plan):
    volumes = {r.inputs["tags"]["daktela-data-class"]: r for r in plan.of_type("aws:ebs/volume:Volume")}
    assert set(volumes) == {"application", "database", "attachments", "recordings", "drill-scratch"}
    scratch = volumes.pop("drill-scratch")
    for data_class, volume in volumes.items():
        assert volume.inputs["encrypted"] is True and volume.inputs["kmsKeyId"].startswith("arn:aws:kms:")
        assert volume.options["protect"] is True
        assert volume.inputs["tags"]["daktela-counted-storage"] == ("yes" if data_class == "attachments" else "no")
    assert volumes["attachments"].inputs["size"] >= 100
    # the drill's scratch space: as large as the database volume, encrypted, not customer data
    assert scratch.inputs["size"] == volumes["database"].inputs["size"] == 200
    assert scratch.inputs["encrypted"] is True and not scratch.options.get("protect")
    assert scratch.inputs["tags"]["daktela-counted-storage"] == "no"
    assert len(plan.of_type("aws:ec2/volumeAttachment:VolumeAttachment")) == 5


def test_cloud_init_mounts_the_data_volumes_by_volume_id_and_the_drill_its_scratch(plan):
    script = written(plan, "/usr/local/sbin/daktela-volumes")
    scratch = written(plan, "/usr/local/sbin/daktela-drill-scratch")
    for volume in plan.of_type("aws:ebs/volume:Volume"):
        volume_id = volume.urn and next(
            a.inputs["volumeId"] for a in plan.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
            if a.name == f"{volume.name}-attachment")
        data_class = volume.inputs["tags"]["daktela-data-class"]
        if data_class == "drill-scratch":  # a job file: it reaches running instances too
            assert f"mount_volume {volume_id} /var/tmp/daktela-drill dk-scratch" in scratch
            assert volume_id not in script
        else:
            assert f"mount_volume {volume_id} /srv/daktela/{data_class} " in script
    assert "/dev/xvd" not in script and "nvme-Amazon_Elastic_Block_Store_" in script
    drill = written(plan, "/etc/systemd/system/daktela-restore-drill.service")
    assert "ExecStartPre=/usr/local/sbin/daktela-drill-scratch\nExecStart=/usr/local/sbin/daktela-restore-drill" in drill
    assert "RequiresMountsFor=/var/tmp/daktela-drill" in drill


def test_the_drill_scratch_volume_is_never_backed_up_and_can_be_left_out(plan):
    [selection] = plan.of_type("aws:backup/selection:Selection")
    [condition] = selection.inputs["conditions"]
    assert condition["stringNotEquals"] == [{"key": "aws:ResourceTag/daktela-data-class", "value": "drill-scratch"}]
    small = example_installation("cloud")
    small["cloud"]["restore_drill"] = {"scratch_gb": 0}
    without = plan_of(small)
    assert "drill-scratch" not in {r.inputs["tags"]["daktela-data-class"] for r in without.of_type("aws:ebs/volume:Volume")}
    assert "ExecStartPre" not in written(without, "/etc/systemd/system/daktela-restore-drill.service")


def test_storage_metering_counts_attachments_only_and_tells_billing(plan):
    meter = written(plan, "/usr/local/sbin/daktela-attachments-meter")
    assert "used_bytes=$(bytes_of /srv/daktela/attachments)" in meter
    for other in ("recordings", "database", "application"):
        assert other not in meter.split("set -euo pipefail")[1]
    alarm = one(plan, ALARM, "storage-above-included")
    assert alarm.inputs["metricName"] == "AttachmentsUsedGB" and alarm.inputs["threshold"] == 100
    assert alarm.inputs["alarmActions"] == ["arn:aws:sns:eu-central-1:123456789012:acme-cloud-billing"]
    assert alarm.inputs["period"] == 86400  # readings every 6 hours never leave a day without data
    missing = one(plan, ALARM, "storage-readings-missing")
    assert (missing.inputs["metricName"], missing.inputs["statistic"], missing.inputs["comparisonOperator"],
            missing.inputs["threshold"], missing.inputs["treatMissingData"], missing.inputs["period"]) == (
        "AttachmentsUsedGB", "SampleCount", "LessThanThreshold", 1, "breaching", 86400)
    assert missing.inputs["alarmActions"] == alarm.inputs["alarmActions"]


def test_included_storage_from_contract_sets_the_storage_threshold():
    installation = example_installation("cloud")
    installation["contract"]["included_storage_gb"] = 150
    assert one(plan_of(installation), ALARM, "storage-above-included").inputs["threshold"] == 150


def _policy_statements(resource) -> list[dict]:
    return json.loads(resource.inputs["policy"])["Statement"]


@pytest.mark.parametrize("policy_suffix", ["host-least-privilege", "freshness-least-privilege"])
def test_policies_are_least_privilege(plan, policy_suffix):
    statements = _policy_statements(one(plan, "aws:iam/rolePolicy:RolePolicy", policy_suffix))
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resources == ["*"]:
            # Only actions that have no resource ARN: PutMetricData into our own namespace, and
            # Session Manager's channel (never ssm:GetParameter*: AmazonSSMManagedInstanceCore's flaw).
            if actions == ["cloudwatch:PutMetricData"]:
                assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == "Daktela/acme-cloud"
            elif statement.get("Sid") == "ValidateRestoreTests":
                assert tuple(actions) == RESTORE_TEST_ACTIONS
            else:
                assert actions == SESSION_MANAGER_ACTIONS
                assert not [a for a in actions if a.startswith("ssm:Get")]
        elif statement.get("Sid") == "UseOwnKeys":
            # the installation's two keys (a key ARN carries only its id), nothing else
            assert len(resources) == 2 and all(re.fullmatch(r"arn:aws:kms:eu-(central|west)-1:\d+:key/[\w-]+", r)
                                               for r in resources), resources
        elif statement.get("Sid") == "DecryptResultsThroughS3":
            # the checker: the dumps bucket's key, to decrypt the results there, and only through S3
            assert actions == ["kms:Decrypt"] and len(resources) == 1
            assert resources[0].startswith("arn:aws:kms:eu-central-1:")
            assert statement["Condition"] == {"StringEquals": {"kms:ViaService": ["s3.eu-central-1.amazonaws.com"]}}
        else:
            for resource in resources:
                assert "acme-cloud" in resource, resource
    s3_writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    for statement in s3_writes:
        # the backups, and the drill's results (never another installation's, never the job files)
        assert all("/dumps/acme-cloud/" in r or "/restic/acme-cloud/" in r
                   or r.endswith(("/status/acme-cloud/drill-*.json", "/status/acme-cloud/check-*.json",
                                  "/status/acme-cloud/run-*.json"))
                   for r in statement["Resource"]), statement


def test_security_group_opens_contact_centre_ports_and_no_ssh_by_default():
    installation = example_installation("cloud")
    installation["cloud"]["admin_cidrs"] = []
    group = one(plan_of(installation), "aws:ec2/securityGroup:SecurityGroup")
    ports = {(rule["protocol"], rule["fromPort"], rule["toPort"]) for rule in group.inputs["ingress"]}
    assert ports == {("tcp", 443, 443), ("tcp", 5060, 5061), ("udp", 5060, 5061), ("udp", 10000, 20000)}


def test_ssh_only_from_admin_networks(plan):
    group = one(plan, "aws:ec2/securityGroup:SecurityGroup")
    ssh = [rule for rule in group.inputs["ingress"] if rule["fromPort"] == 22]
    assert len(ssh) == 1 and ssh[0]["cidrBlocks"] == ["203.0.113.0/28"]


def test_debian_12_image_by_lookup_and_never_replaced_by_a_newer_one():
    stack = stack_input(example_installation("cloud"))
    error, recorder = run_recorded(stack)
    assert error is None
    [(token, args)] = [(t, a) for t, a in recorder.calls if t == "aws:ec2/getAmi:getAmi"]
    assert args["owners"] == ["136693071363"] and args["mostRecent"] is True
    assert {"name": "name", "values": ["debian-12-amd64-*"]} in args["filters"]
    instance = next(r for r in recorder.resources if r.type == "aws:ec2/instance:Instance")
    assert instance.inputs["ami"] == "ami-newest-debian-12-amd64"  # the offline lookup's placeholder
    assert "ami" in instance.options["ignore_changes"]
    assert instance.inputs["metadataOptions"]["httpTokens"] == "required"


def test_secrets_go_to_ssm_never_into_user_data(plan):
    text = json.dumps(plan.to_json())
    assert "s3cr3t-" not in text
    parameters = {r.inputs["name"]: r for r in plan.of_type("aws:ssm/parameter:Parameter")
                  if r.inputs["type"] == "SecureString"}
    assert set(parameters) == {"/daktela/acme-cloud/database-password", "/daktela/acme-cloud/restic-password"}
    job_files = one(plan, "aws:ssm/parameter:Parameter", "job-files")  # plain: the job files hold no secret
    assert job_files.inputs["type"] == "String" and "s3cr3t" not in json.dumps(job_files.inputs)
    assert "s3cr3t" not in one(plan, "aws:s3/bucketObjectv2:BucketObjectv2", "job-files-object").inputs["content"]
    assert all(p.inputs["value"] == "[secret]" and p.inputs["type"] == "SecureString" for p in parameters.values())


@pytest.mark.parametrize("suffix", ["db-dumps", "restic"])
def test_backup_buckets_are_private_encrypted_versioned_tls_only_with_lifecycle(plan, suffix):
    prefix = f"acme-cloud-{suffix}"
    assert one(plan, "aws:s3/bucketVersioning:BucketVersioning", f"{prefix}-versioning").inputs[
        "versioningConfiguration"]["status"] == "Enabled"
    encryption = one(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", f"{prefix}-encryption")
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    block = one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{prefix}-public-access")
    assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    policy = _policy_statements(one(plan, "aws:s3/bucketPolicy:BucketPolicy", f"{prefix}-tls-only"))
    assert policy[0]["Effect"] == "Deny" and policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{prefix}-lifecycle").inputs["rules"]
    # A dump is never overwritten, so its only noncurrent version is the one its expiry leaves.
    assert rules[0]["noncurrentVersionExpiration"]["noncurrentDays"] == (1 if suffix == "db-dumps" else 30)
    assert rules[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert one(plan, "aws:s3/bucket:Bucket", prefix).options["retain_on_delete"] is True


def test_cloud_fees_are_recorded(plan):
    records = sorted(json.loads(r.inputs["item"])["record"]["S"] for r in plan.of_type("aws:dynamodb/tableItem:TableItem"))
    assert records == ["9.03", "9.03-storage", "contract"]


def test_dumps_are_gone_at_most_a_day_after_the_configured_retention(plan):
    """Issue 10.8: dumps lived 35 days plus 30 as noncurrent versions against a retention of 35."""
    retention = 35  # the config's default, which the example keeps
    rules = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                "acme-cloud-db-dumps-lifecycle").inputs["rules"]
    expiry = next(r for r in rules if (r.get("expiration") or {}).get("days"))
    assert expiry["filter"]["prefix"] == "dumps/acme-cloud/"
    noncurrent = max(r["noncurrentVersionExpiration"]["noncurrentDays"] for r in rules
                     if r.get("noncurrentVersionExpiration"))
    assert expiry["expiration"]["days"] + noncurrent <= retention + 1


def test_instance_role_has_no_managed_policy_that_reads_every_parameter(plan):
    """Issue 10.7: AmazonSSMManagedInstanceCore grants ssm:GetParameter(s) on every parameter."""
    attached = [r.inputs["policyArn"] for r in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if r.parent and "acme-cloud-host" in r.parent]
    assert attached == []
    statements = _policy_statements(one(plan, "aws:iam/rolePolicy:RolePolicy", "host-least-privilege"))
    readers = [s for s in statements if any(a.startswith("ssm:Get") for a in s["Action"])]
    assert [r["Resource"] for r in readers] == [[
        "arn:aws:ssm:eu-central-1:123456789012:parameter/daktela/acme-cloud/database-password",
        "arn:aws:ssm:eu-central-1:123456789012:parameter/daktela/acme-cloud/job-files",
        "arn:aws:ssm:eu-central-1:123456789012:parameter/daktela/acme-cloud/restic-password"]]


def test_failed_backup_and_copy_jobs_reach_the_ops_topic_at_once(plan):
    """Issue 10.5: AWS Backup's own job events, filtered to this installation's vaults."""
    ops_topic = "arn:aws:sns:eu-central-1:123456789012:acme-cloud-ops"
    rules = {r.name.rsplit("-", 3)[-3]: r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
             if r.name.endswith("job-failed")}
    backup = json.loads(rules["backup"].inputs["eventPattern"])
    copy = json.loads(rules["copy"].inputs["eventPattern"])
    assert backup["detail-type"] == ["Backup Job State Change"]
    assert backup["detail"]["backupVaultName"] == ["daktela-acme-cloud"]
    assert copy["detail-type"] == ["Copy Job State Change"]
    assert copy["detail"]["destinationBackupVaultArn"][0].endswith(":backup-vault:daktela-acme-cloud-copy")
    assert "FAILED" in backup["detail"]["state"] and "FAILED" in copy["detail"]["state"]
    targets = [r for r in plan.of_type("aws:cloudwatch/eventTarget:EventTarget") if r.name.endswith("job-failed-target")]
    assert [t.inputs["arn"] for t in targets] == [ops_topic, ops_topic]
    policy = _policy_statements(one(plan, "aws:sns/topicPolicy:TopicPolicy"))
    events = next(s for s in policy if s["Principal"] == {"Service": "events.amazonaws.com"})
    assert sorted(events["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:eu-central-1:123456789012:rule/{r.inputs['name']}" for r in rules.values())
    alarms = next(s for s in policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":alarm:daktela-acme-cloud-*")


def test_a_new_backup_time_previews_as_a_change_that_reaches_the_running_instance():
    """Issue 11: a changed time showed only as "ignored" user data; the instance kept its timers."""
    from components.planview import diff_plans

    changed = example_installation("cloud")
    changed["backup"]["times"] = ["02:00", "11:30", "18:00"]
    diff = diff_plans(plan_of(example_installation("cloud")).to_json(), plan_of(changed).to_json())
    changes = {(d.name, c.path): c for d in diff.changed for c in d.changes}
    timer = "inputs.content./etc/systemd/system/daktela-db-dump.timer.content:"
    [applied] = [c for (name, path), c in changes.items()
                 if name == "acme-cloud-host-job-files-object" and path.startswith(timer)]
    assert "OnCalendar=*-*-* 11:30:00 UTC" in applied.after and not applied.ignored
    assert all(c.ignored for (name, path), c in changes.items() if path.startswith("inputs.userData"))
    # a new object (named by its digest) and the converger that names it, which reaches the instance
    assert not changes[("acme-cloud-host-job-files-object", "inputs.key")].ignored
    converger = [c for (name, path), c in changes.items() if name == "acme-cloud-host-job-files"]
    assert converger and not any(c.ignored for c in converger)


def test_job_files_are_an_object_named_by_its_digest_which_the_parameters_converger_names():
    plan = plan_of(example_installation("cloud"))
    obj = one(plan, "aws:s3/bucketObjectv2:BucketObjectv2", "job-files-object")
    digest = hashlib.sha256(obj.inputs["content"].encode()).hexdigest()
    assert obj.inputs["key"] == f"toolkit/acme-cloud/job-files-{digest}.json"
    assert obj.inputs["bucket"] == autoname(one(plan, "aws:s3/bucket:Bucket", "db-dumps").name)
    parameter = one(plan, "aws:ssm/parameter:Parameter", "job-files")
    assert parameter.inputs["tier"] == "Advanced" and len(parameter.inputs["insecureValue"]) <= 8192
    [(path, converger)] = json.loads(parameter.inputs["insecureValue"]).items()
    assert path == "/usr/local/sbin/daktela-converge"
    assert f'--key {obj.inputs["key"]} ' in converger["content"] and f'!= {digest} ]' in converger["content"]
    assert obj.urn in parameter.dependencies  # written before any instance reads the converger naming it
    assert converger["content"] == written(plan, "/usr/local/sbin/daktela-converge")  # the first boot's too

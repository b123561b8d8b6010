"""Guardrails: the catalogue's rules as plain checks over a plan (resource types and inputs).

One implementation, run three ways: `scripts/plan.py --check` (offline), the policy pack in
`policy/` (`pulumi preview --policy-pack policy`), and the tests. A plan is the offline engine's
JSON (`Plan.to_json()`) or the same shape built from a real preview's resources. Values a real
preview does not know yet (unknowns) never count as violations; options a policy pack cannot see
(`retain_on_delete`) are checked where they are visible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from itertools import product
from typing import Any, Callable, Iterable, Optional


from components import aws_limits
from components.catalogue import CONTRACT_RECORD
from components.names import (AGE_METRIC, ATTACHMENTS_METRIC, BLOCK, BLOCK_COPY, CHECK_AGE_METRIC, CHECK_FAILED_METRIC,
                               DATABASE, DRILL_AGE_METRIC, DRILL_FAILED_METRIC, FAILED_METRIC, FILES, LOCATIONS,
                               TECHNOLOGIES, check_of, drill_of)

CLOUD = "daktela:cloud:CloudInstallation"
ONPREM = "daktela:onprem:OnPremInstallation"
BACKUP_BUCKET = "daktela:aws:BackupBucket"
TABLE_ITEM = "aws:dynamodb/tableItem:TableItem"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
PREPARED_HOST = "pulumi-python:dynamic/onprem:PreparedHost"
UNKNOWN_MARKERS = ("[unknown]", "04da6b54-80e4-46f7-96ec-b56ff0331ba9")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    resource: Optional[str] = None  # "type::name"

    def __str__(self) -> str:
        where = f" ({self.resource})" if self.resource else ""
        return f"[{self.rule}]{where} {self.message}"


def _unknown(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value in UNKNOWN_MARKERS)


def _of(plan: dict, type_token: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_token]


def _key(resource: dict) -> str:
    return f"{resource['type']}::{resource['name']}"


def _document(value: Any) -> Any:
    """A JSON input as data; text that is not JSON stays text (an unknown marker, or a malformed
    value a rule must report rather than skip)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- cloud ------------------------------------------------------------------------------------


def _cloud_job_files(plan: dict) -> list[dict[str, str]]:
    """{path: content} of each cloud instance's job files: the S3 object its converger applies."""
    out = []
    for job_files in _of(plan, "aws:s3/bucketObjectv2:BucketObjectv2"):
        key, content = job_files["inputs"].get("key"), job_files["inputs"].get("content")
        if _unknown(key) or _unknown(content) or not str(key).startswith("toolkit/"):
            continue
        document = _document(content)
        if isinstance(document, dict):
            out.append({path: str((spec or {}).get("content", "")) for path, spec in document.items()})
    return out


def _cloud_backup_times(plan: dict) -> dict[str, Optional[str]]:
    """The time of each technology as the plan schedules it (None: not scheduled or unknown)."""
    times: dict[str, Optional[str]] = dict.fromkeys(TECHNOLOGIES)
    for backup_plan in _of(plan, "aws:backup/plan:Plan"):
        for rule in backup_plan["inputs"].get("rules") or []:
            match = re.fullmatch(r"cron\((\d+) (\d+) \? \* \* \*\)", str(rule.get("schedule", "")))
            if match:
                times[BLOCK] = f"{int(match.group(2)):02d}:{int(match.group(1)):02d}"
    for files in _cloud_job_files(plan):
        for technology, unit in ((DATABASE, "daktela-db-dump"), (FILES, "daktela-restic-backup")):
            timer = files.get(f"/etc/systemd/system/{unit}.timer", "")
            match = re.search(r"^OnCalendar=\*-\*-\* (\d\d:\d\d):00 UTC$", timer, re.M)
            if match:
                times[technology] = match.group(1)
    return times


def check_cloud_backups(plan: dict) -> list[Violation]:
    """Cloud: three backup technologies, each daily, at three distinct times."""
    if not _of(plan, CLOUD):
        return []
    out = []
    times = _cloud_backup_times(plan)
    for technology, when in times.items():
        if when is None:
            out.append(Violation("cloud-three-technologies", f"no daily {technology} backup is scheduled"))
    scheduled = [t for t in times.values() if t]
    if len(set(scheduled)) != len(scheduled):
        out.append(Violation("cloud-distinct-times", f"two technologies run at the same time: {times}"))
    return out


def check_freshness_alarms(plan: dict) -> list[Violation]:
    """One alarm per technology (cloud) or location (on-premise) at the checker's limit, missing
    data breaching."""
    installations = _of(plan, CLOUD) + _of(plan, ONPREM)
    if not installations:
        return []
    expected = {*TECHNOLOGIES, BLOCK_COPY} if _of(plan, CLOUD) else set(LOCATIONS)
    limits = set()
    for function in _of(plan, "aws:lambda/function:Function"):
        variables = ((function["inputs"].get("environment") or {}).get("variables") or {})
        watch = _document(variables.get("DAKTELA_FRESHNESS_TARGETS"))
        if isinstance(watch, dict):
            limits.add(float(watch["limit_hours"]))
    out = []
    alarms: dict[Optional[str], dict] = {}
    for alarm in _of(plan, ALARM):
        inputs = alarm["inputs"]
        if inputs.get("metricName") == AGE_METRIC:
            alarms[(inputs.get("dimensions") or {}).get("Technology")] = alarm
    for name in sorted(expected - {a for a in alarms if a is not None}):
        out.append(Violation("freshness-alarms", f"no freshness alarm for {name}"))
    for technology, alarm in sorted(alarms.items(), key=lambda item: str(item[0])):
        inputs = alarm["inputs"]
        threshold = inputs.get("threshold")
        if not (24 < float(threshold) <= 36):
            out.append(Violation("freshness-alarms", f"{technology}: threshold {threshold} h is not 24 h + a reserve of 1-12 h", _key(alarm)))
        if limits and float(threshold) not in limits:
            out.append(Violation("freshness-alarms", f"{technology}: threshold {threshold} h differs from the checker's limit {sorted(limits)}", _key(alarm)))
        if inputs.get("treatMissingData") != "breaching":
            out.append(Violation("freshness-alarms", f"{technology}: missing data must breach (a dead checker must alarm)", _key(alarm)))
        if inputs.get("comparisonOperator") != "GreaterThanThreshold":
            out.append(Violation("freshness-alarms", f"{technology}: must fire when the age passes the threshold", _key(alarm)))
    return out


def _series_alarms(plan: dict, rule: str, expected: set[str],
                   metrics: tuple[tuple[str, str], ...]) -> list[Violation]:
    """An alarm on each of `metrics` ((metric, what it means)) for each expected Technology."""
    alarms = {(a["inputs"].get("metricName"), (a["inputs"].get("dimensions") or {}).get("Technology"))
              for a in _of(plan, ALARM)}
    return [Violation(rule, f"no alarm on {what} of {technology}")
            for technology in sorted(expected) for metric, what in metrics if (metric, technology) not in alarms]


def check_restore_drills(plan: dict) -> list[Violation]:
    """Every backup is drilled: each cloud technology and each on-premise location has an alarm on a
    failed drill and one on no successful drill."""
    cloud, onprem = _of(plan, CLOUD), _of(plan, ONPREM)
    expected = {drill_of(t) for t in (TECHNOLOGIES if cloud else ())} | {drill_of(l) for l in (LOCATIONS if onprem else ())}
    return _series_alarms(plan, "restore-drilled", expected,
                          ((DRILL_AGE_METRIC, "no successful drill"), (DRILL_FAILED_METRIC, "a failed drill")))


def check_deep_checks(plan: dict) -> list[Violation]:
    """Every restic repository is read back within the verification cycle: each on-premise location
    and the cloud's file-level repository has an alarm on a failed (or damage-finding) check and one
    on a part left unread too long."""
    cloud, onprem = _of(plan, CLOUD), _of(plan, ONPREM)
    expected = {check_of(FILES)} if cloud else set()
    expected |= {check_of(l) for l in (LOCATIONS if onprem else ())}
    return _series_alarms(plan, "repositories-verified", expected,
                          ((CHECK_AGE_METRIC, "a part left unread"), (CHECK_FAILED_METRIC, "a failed check")))


# The series the checker publishes for the promises: when one goes silent (the checker, a host or
# a job stopped reporting, or cannot be read), its alarm must fire, not wait.
SERIES_METRICS = (AGE_METRIC, FAILED_METRIC, DRILL_AGE_METRIC, DRILL_FAILED_METRIC, CHECK_AGE_METRIC, CHECK_FAILED_METRIC)


def check_silence_alarms(plan: dict) -> list[Violation]:
    """Unknown is failure: every alarm on a backup, drill or check series treats missing data as breaching."""
    return [Violation("silence-alarms", f"{a['inputs'].get('metricName')} of "
                                        f"{(a['inputs'].get('dimensions') or {}).get('Technology')}: missing data "
                                        f"is {a['inputs'].get('treatMissingData')!r}, it must breach", _key(a))
            for a in _of(plan, ALARM) if a["inputs"].get("metricName") in SERIES_METRICS
            and not _unknown(a["inputs"].get("treatMissingData")) and a["inputs"].get("treatMissingData") != "breaching"]


# What reading or writing an object of an SSE-KMS bucket needs of its key (S3 asks KMS on the caller's behalf).
KMS_NEEDED = {"s3:GetObject": "kms:Decrypt", "s3:GetObjectVersion": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _allows(statement: dict, action: str, resource: str) -> bool:
    return statement.get("Effect") == "Allow" and any(
        fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action", []))
    ) and any(fnmatchcase(resource, str(r)) for r in _as_list(statement.get("Resource", [])))


def _policy_statements(plan: dict) -> Iterable[tuple[dict, list[dict]]]:
    """(the policy resource, its statements) of every inline IAM policy the plan makes."""
    for policy in _of(plan, "aws:iam/rolePolicy:RolePolicy") + _of(plan, "aws:iam/userPolicy:UserPolicy"):
        document = _document(policy["inputs"].get("policy"))
        if isinstance(document, dict):
            yield policy, _as_list(document.get("Statement") or [])


def _bucket_of(resource: str) -> str:
    return resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]


def check_kms_readers(plan: dict) -> list[Violation]:
    """Every IAM policy that reads (or writes) objects of an SSE-KMS bucket may use that bucket's key:
    without it every read fails on AWS with AccessDenied, and a checker that cannot read is blind."""
    keys: dict[str, str] = {}  # bucket name -> key ARN
    for encryption in _of(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        rule = ((encryption["inputs"].get("rules") or [{}])[0].get("applyServerSideEncryptionByDefault") or {})
        bucket, key = encryption["inputs"].get("bucket"), rule.get("kmsMasterKeyId")
        if rule.get("sseAlgorithm") == "aws:kms" and not _unknown(bucket) and not _unknown(key):
            keys[str(bucket)] = str(key)
    out = []
    for policy, statements in _policy_statements(plan):
        objects = [(statement, str(resource)) for statement in statements
                   for resource in _as_list(statement.get("Resource", []))
                   if "/" in str(resource) and _bucket_of(str(resource)) in keys]
        for (statement, resource), (s3_action, kms_action) in product(objects, KMS_NEEDED.items()):
            key = keys[_bucket_of(resource)]
            if _allows(statement, s3_action, resource) and not any(_allows(s, kms_action, key) for s in statements):
                out.append(Violation("kms-keys", f"{statement.get('Sid', 'a statement')} allows {s3_action} on "
                                                 f"{resource}, an SSE-KMS bucket's, but not {kms_action} on "
                                                 f"its key {key}", _key(policy)))
    return out


PRUNE_PRINCIPAL = "daktela:aws:PrunePrincipal"
# What nobody in a plan may do to a backup: remove a version or weaken a lock (the prune only adds
# delete markers; the buckets' lifecycle removes what the lock lets go).
NEVER_ALLOWED = ("s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention")


def check_retention(plan: dict) -> list[Violation]:
    """Retention is a job: every installation has its prune principal, which may delete (markers)
    in its repositories; nobody may remove a version or weaken a lock; only the prune principal
    deletes more than restic's lock files; every backup bucket's lifecycle clears the delete markers
    whose versions have expired."""
    installations = _of(plan, CLOUD) + _of(plan, ONPREM)
    if not installations:
        return []
    out = []
    principals = {_key(p) for p in _of(plan, PRUNE_PRINCIPAL)}
    if not principals:
        out.append(Violation("retention-job", "no prune principal: the restic repositories would grow without bound"))
    for policy, statements in _policy_statements(plan):
        pruning = policy.get("parent") in principals
        for statement in statements:
            for action in NEVER_ALLOWED:
                if statement.get("Effect") == "Allow" and any(
                        fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action", []))):
                    out.append(Violation("retention-principal", f"{statement.get('Sid', 'a statement')} allows "
                                                                f"{action}", _key(policy)))
            if pruning or not any(fnmatchcase("s3:deleteobject", str(a).lower())
                                  for a in _as_list(statement.get("Action", []))):
                continue
            for resource in _as_list(statement.get("Resource", [])):
                if not _unknown(resource) and "/restic/" in str(resource) and not str(resource).endswith("/locks/*"):
                    out.append(Violation("retention-principal", f"{statement.get('Sid', 'a statement')} deletes in "
                                                                f"{resource}: only the prune principal may", _key(policy)))
    if principals and not any(
            _allows(s, "s3:DeleteObject", str(resource).replace("*", "data/00/pack"))
            for policy, statements in _policy_statements(plan) if policy.get("parent") in principals
            for s in statements for resource in _as_list(s.get("Resource", []))
            if "/restic/" in str(resource) and str(resource).endswith("/*")):
        out.append(Violation("retention-job", "the prune principal cannot delete in the repositories"))
    for lifecycle in _of(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        rules = lifecycle["inputs"].get("rules") or []
        if not _unknown(rules) and not any((r.get("expiration") or {}).get("expiredObjectDeleteMarker") is True
                                           for r in rules):
            out.append(Violation("retention-lifecycle", "expired delete markers are never removed",
                                 _key(lifecycle)))
    return out


# -- on-premise -------------------------------------------------------------------------------


def check_onprem_backups(plan: dict) -> list[Violation]:
    """On-premise: twice a day into two regions, recordings and the archive drive excluded; a host
    onboarded before it was reachable is checked before anything is deployed."""
    if not _of(plan, ONPREM):
        return []
    out = []
    hosts = _of(plan, PREPARED_HOST)
    if not hosts:
        return [Violation("onprem-backup", "no prepared host: nothing installs the backup job")]
    for host in hosts:
        if host["inputs"].get("host_unchecked"):
            out.append(Violation("onprem-host-checked", (
                f"the host {host['inputs'].get('address')} is not checked yet (onboarded with --without-host): "
                "run scripts/check_host.py on the stack file to check it, pin its key, record its drives' sizes "
                "and measure its connectivity; pulumi up refuses the host until then"), _key(host)))
        job = _document(host["inputs"].get("backup_job"))
        if _unknown(job):  # a real preview before the buckets exist: judged once known
            continue
        if not isinstance(job, dict):
            out.append(Violation("onprem-backup", f"the backup job is not a job ({str(job)[:80]!r}); nothing "
                                                  "this guardrail checks can be shown", _key(host)))
            continue
        regions = [l.get("region") for l in job.get("locations", [])]
        if len(regions) != 2 or len(set(regions)) != 2:
            out.append(Violation("onprem-two-regions", f"backups go to {regions}, not two locations in two regions", _key(host)))
        times = job.get("times", [])
        if len(set(times)) < 2:
            out.append(Violation("onprem-twice-daily", f"backups run at {times}, not twice a day", _key(host)))
        out += _onprem_exclusions(job, _key(host))
    buckets = [r for r in _of(plan, "aws:s3/bucket:Bucket") if r.get("provider")]
    bucket_regions = {b["provider"].rsplit("(", 1)[-1].rstrip(")") for b in buckets}
    if len(bucket_regions) < 2:
        out.append(Violation("onprem-two-regions", f"the backup buckets are in {sorted(bucket_regions)}, not two regions"))
    return out


def _onprem_exclusions(job: dict, where: str) -> list[Violation]:
    from components.host.backup_job import BackupJob, job_files

    try:
        files = {f.path: f.content for f in job_files(BackupJob.from_dict(job))}
    except (TypeError, KeyError, ValueError):
        return [Violation("onprem-exclusions", "the backup job cannot be rendered from the plan", where)]
    script = files.get("/usr/local/sbin/daktela-backup", "")
    out = []
    if f"--exclude {job['operational_mount']}/recordings" not in script:
        out.append(Violation("onprem-exclusions", "call recordings are not excluded from the backup", where))
    if job["archive_mount"] in script:
        out.append(Violation("onprem-exclusions", "the archive drive appears in the backup job", where))
    if job["archive_mount"] == job["operational_mount"] or job["archive_mount"].startswith(job["operational_mount"] + "/"):
        out.append(Violation("onprem-exclusions", "the archive drive lies inside the backed-up operational drive", where))
    return out


# -- both -------------------------------------------------------------------------------------


def check_backup_buckets(plan: dict) -> list[Violation]:
    """Every backup bucket blocks public access, is encrypted and versioned."""
    out = []
    children: dict[str, list[dict]] = {}
    for resource in plan["resources"]:
        if resource.get("parent"):
            children.setdefault(resource["parent"], []).append(resource)
    for component in _of(plan, BACKUP_BUCKET):
        inside = children.get(_key(component), [])
        by_type = {r["type"]: r for r in inside}
        block = by_type.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if block is None or not all(block["inputs"].get(k) is True for k in (
                "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")):
            out.append(Violation("bucket-private", "public access is not fully blocked", _key(component)))
        encryption = by_type.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        rules = (encryption or {}).get("inputs", {}).get("rules") or []
        if not rules or not (rules[0].get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"):
            out.append(Violation("bucket-encrypted", "no default encryption", _key(component)))
        versioning = by_type.get("aws:s3/bucketVersioning:BucketVersioning")
        if versioning is None or (versioning["inputs"].get("versioningConfiguration") or {}).get("status") != "Enabled":
            out.append(Violation("bucket-versioned", "versioning is not enabled", _key(component)))
    for bucket in _of(plan, "aws:s3/bucket:Bucket"):
        parent = bucket.get("parent") or ""
        if not parent.startswith(BACKUP_BUCKET + "::"):
            out.append(Violation("bucket-private", "a bucket outside the BackupBucket component escapes these checks", _key(bucket)))
    return out


def check_fees(plan: dict) -> list[Violation]:
    """Fee records are retained on destroy; the one-off setup fee appears exactly once on-premise
    and never for cloud; an open contract (no end date) is protected, so the stack cannot be
    destroyed until contract.end_date is set and applied."""
    out = []
    one_offs = []
    for item in _of(plan, TABLE_ITEM):
        retained = item["options"].get("retain_on_delete")
        if retained is False:
            out.append(Violation("fees-retained", "a fee record would be deleted with the stack", _key(item)))
        document = _document(item["inputs"].get("item"))
        if isinstance(document, dict) and (document.get("kind") or {}).get("S") == "one-off":
            one_offs.append(item)
        if (isinstance(document, dict) and (document.get("record") or {}).get("S") == CONTRACT_RECORD
                and "end_date" not in document and not item["options"].get("protect")):
            out.append(Violation("fees-open-contract-protected",
                                 "the contract has no end date but its record is not protected: `pulumi destroy` "
                                 "would tear the installation down while the ledger bills it every month", _key(item)))
    expected = 1 if _of(plan, ONPREM) else 0
    if (_of(plan, ONPREM) or _of(plan, CLOUD)) and len(one_offs) != expected:
        out.append(Violation("fees-one-off-once", f"{len(one_offs)} one-off fee records, expected {expected}"))
    for item in one_offs:
        if not {"item", "tableName", "hashKey", "rangeKey"} <= set(item["options"].get("ignore_changes") or []):
            out.append(Violation("fees-one-off-once", "the one-off record could be rewritten or replaced", _key(item)))
    return out


def check_storage_metering(plan: dict) -> list[Violation]:
    """Storage is measured for billing on both hostings: an alarm when comments and email
    attachments pass the included GB, one when a day passes without a reading, and the contract
    record statements read."""
    if not (_of(plan, ONPREM) or _of(plan, CLOUD)):
        return []
    out = []
    alarms = [a for a in _of(plan, ALARM) if a["inputs"].get("metricName") == ATTACHMENTS_METRIC]
    if not any(a["inputs"].get("comparisonOperator") == "GreaterThanThreshold" for a in alarms):
        out.append(Violation("storage-metered", "no alarm tells billing when storage passes the included GB"))
    if not any(a["inputs"].get("statistic") == "SampleCount" and a["inputs"].get("treatMissingData") == "breaching"
               for a in alarms):
        out.append(Violation("storage-metered", "no alarm tells billing when storage readings stop"))
    items = [_document(i["inputs"].get("item")) for i in _of(plan, TABLE_ITEM)]
    contracts = [i for i in items if isinstance(i, dict) and (i.get("record") or {}).get("S") == CONTRACT_RECORD]
    if len(contracts) != 1:
        out.append(Violation("storage-metered", f"{len(contracts)} contract records in the ledger, expected 1"))
    return out


def check_aws_limits(plan: dict) -> list[Violation]:
    """Names and inline policies AWS would refuse (components/aws_limits.py)."""
    return [Violation("aws-limits", problem) for problem in aws_limits.problems(plan)]


GUARDRAILS: tuple[Callable[[dict], list[Violation]], ...] = (
    check_cloud_backups, check_freshness_alarms, check_onprem_backups, check_backup_buckets, check_fees,
    check_storage_metering, check_restore_drills, check_deep_checks, check_silence_alarms, check_kms_readers,
    check_retention, check_aws_limits,
)


def check_plan(plan: dict, rules: Iterable[Callable[[dict], list[Violation]]] = GUARDRAILS) -> list[Violation]:
    violations: list[Violation] = []
    for rule in rules:
        violations += rule(plan)
    return violations


def render_violations(violations: list[Violation]) -> str:
    if not violations:
        return "guardrails: all passed\n"
    lines = [f"guardrails: {len(violations)} violation(s)"] + [f"  - {v}" for v in violations]
    return "\n".join(lines) + "\n"


def plan_from_policy_resources(resources: Iterable[Any]) -> dict:
    """A real preview's resources (pulumi_policy.PolicyResource) in the offline plan's shape."""
    out = []
    for resource in resources:
        provider = None
        if resource.provider is not None:
            region = (getattr(resource.provider, "props", None) or {}).get("region", "?")
            provider = f"{resource.provider.name} ({region})"
        parent = resource.parent
        out.append({
            "urn": resource.urn,
            "type": resource.resource_type,
            "name": resource.name,
            "parent": f"{parent.resource_type}::{parent.name}" if parent is not None else None,
            "provider": provider,
            "inputs": dict(resource.props),
            # A policy pack sees no retain_on_delete: that check runs offline and in the tests.
            "options": {
                "protect": resource.opts.protect,
                "ignore_changes": list(resource.opts.ignore_changes or []),
                "delete_before_replace": resource.opts.delete_before_replace,
            },
        })
    return {"stack": "", "project": "", "resources": out, "outputs": {}}

"""Fidelity: the jobs the plan installs, run with the credentials and policies the plan creates,
against the strict double of AWS (tests/strict_aws.py: S3's request checks and IAM's evaluation in
front of a moto server that enforces IAM too), with the tools a Debian 12 host runs (restic 0.14,
awscli 2.9, curl 7.88).

Cloud instance jobs run on this machine inside a private mount namespace (tmpfs over /srv,
/var/cache and /var/tmp, overlays over /var/lib, /etc and /usr/local/sbin that keep the instance's
files between runs), with the plan's own scripts: only AWS's S3 endpoint in the
restic repository is replaced by the double's, and `aws` is called through a shim that adds
`--endpoint-url` (awscli 2.9 has no AWS_ENDPOINT_URL). The instance role's policy is held by an
IAM user (the same evaluation; the role's trust policy is linted in test_iam_lint.py).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
from datetime import datetime, timedelta, timezone
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from components.names import repository_prefix
from components.offline import autoname
from tests.conftest import IN_CI, cloud_instance_files, example_installation, one, plan_of
from tests.fidelity import StrictWorld, strict_world
from tests.restic_repositories import seed

DEBIAN_12 = {"restic": "restic 0.14.0", "aws": "aws-cli/2.9.", "curl": "curl 7.88."}
PRIMARY, SECONDARY = "eu-central-1", "eu-west-1"
INSTANCE_SECRET = "instance-secret"  # every SecureString the cloud plan reads, the restic password too
# An instance's PATH: its jobs find Debian's python3, aws and restic, nothing of this machine's
# own (a pyenv shim here puts another python3 and a pip-installed aws first).
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@functools.lru_cache(maxsize=None)
def _version(path: str) -> str:
    """A tool's version line, asked once per test process (`aws --version` alone costs 0.6 s)."""
    if not os.path.exists(path):
        return ""
    asked = [path, "version"] if path.endswith("/restic") else [path, "--version"]
    return subprocess.run(asked, capture_output=True, text=True).stdout


def debian_tool(name: str) -> str:
    """The tool as Debian 12 ships it (its version is part of what these tests prove)."""
    path = f"/usr/bin/{name}"
    version = _version(path)
    if not version.startswith(DEBIAN_12[name]):
        found = version.splitlines()[0] if version else "not installed"
        message = f"{path}: Debian 12's {DEBIAN_12[name]} is needed (found: {found}); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def world(tmp_path, strict_moto_server):
    for tool in ("restic", "aws", "curl"):
        debian_tool(tool)
    with strict_world(tmp_path / "aws", strict_moto_server) as world:
        yield world


@pytest.fixture(scope="module")
def cloud_plan():
    return plan_of(example_installation("cloud"))


def written_files(plan) -> dict[str, str]:
    """{path: content} of every file the instance gets: cloud-init's and the job files'."""
    return {path: spec["content"] for path, spec in cloud_instance_files(plan).items()}


def bucket_of(plan, suffix: str) -> tuple[str, str]:
    """(name, bucket policy) of the plan's bucket whose resource name ends in `suffix`."""
    bucket = one(plan, "aws:s3/bucket:Bucket", suffix)
    policy = one(plan, "aws:s3/bucketPolicy:BucketPolicy", f"{suffix}-tls-only").inputs["policy"]
    return autoname(bucket.name), policy  # the name the engine gives it (offline: x's for the random part)


def bucket_key_of(plan, suffix: str):
    """The KMS key (ARN) of the plan's bucket's default encryption, or None for S3's own keys."""
    rule = one(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
               f"{suffix}-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    return rule.get("kmsMasterKeyId") if rule["sseAlgorithm"] == "aws:kms" else None


class CloudInstance:
    """The instance's jobs from the plan, on this machine in a private mount namespace."""

    def __init__(self, world: StrictWorld, plan, root: Path):
        self.world, self.root = world, root
        self.files = written_files(plan)
        policy = one(plan, "aws:iam/rolePolicy:RolePolicy", "host-least-privilege").inputs["policy"]
        self.key = world.user("acme-cloud-instance", [policy])
        self.dump_bucket, dump_policy = bucket_of(plan, "db-dumps")
        self.restic_bucket, restic_policy = bucket_of(plan, "restic")
        # SSE-KMS with the plan's keys: every reader and writer needs the bucket's key
        self.dump_key, self.restic_key = bucket_key_of(plan, "db-dumps"), bucket_key_of(plan, "restic")
        assert self.dump_key and self.restic_key and self.dump_key != self.restic_key
        world.bucket(self.dump_bucket, PRIMARY, policy=dump_policy, kms_key=self.dump_key)
        world.bucket(self.restic_bucket, SECONDARY, policy=restic_policy, kms_key=self.restic_key)
        for parameter in plan.of_type("aws:ssm/parameter:Parameter"):
            if parameter.inputs.get("type") == "SecureString":
                world.parameter(parameter.inputs["name"], PRIMARY, INSTANCE_SECRET, parameter.inputs["keyId"])
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        shim = self.bin / "aws"
        shim.write_text('#!/bin/sh\n# awscli 2.9 has no AWS_ENDPOINT_URL: only the endpoint is added\n'
                        'exec /usr/bin/aws --endpoint-url "$DAKTELA_TEST_ENDPOINT" "$@"\n')
        shim.chmod(0o755)

    def script(self, name: str) -> Path:
        if name != "daktela-watchdog":  # every job runs its restic commands through it
            self.install("/usr/local/sbin/daktela-watchdog")
        content = self.files[f"/usr/local/sbin/{name}"]
        content = content.replace(f"https://s3.{SECONDARY}.amazonaws.com", self.world.endpoint)
        assert self.world.endpoint in content or name != "daktela-restic-backup"
        path = self.root / name
        path.write_text(content)
        path.chmod(0o755)
        return path

    def upper(self, path: str) -> Path:
        """Where the instance's own file `path` (under /etc or /usr/local/sbin) is kept."""
        for mount, upper in (("/etc/", "etc-upper"), ("/usr/local/sbin/", "sbin-upper")):
            if path.startswith(mount):
                return self.root / upper / path[len(mount):]
        raise ValueError(path)

    def install(self, *paths: str) -> None:
        """The plan's files at these paths onto the instance, as the converger writes them (only
        AWS's S3 endpoint in the restic repository is the double's)."""
        for path in paths:
            target = self.upper(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.files[path].replace(f"https://s3.{SECONDARY}.amazonaws.com", self.world.endpoint))
            target.chmod(0o755 if path.startswith("/usr/local/sbin/") else 0o644)

    def dump_stub(self, size: int, exit_code: int = 0) -> bytes:
        """mariadb-dump writing `size` bytes that gzip cannot shrink much (so the upload is
        multipart: awscli's threshold is 8 MiB), then exiting with `exit_code`."""
        data = os.urandom(size)
        (self.root / "dump-data").write_bytes(data)
        stub = self.bin / "mariadb-dump"
        stub.write_text(f"#!/bin/sh\ncat {self.root / 'dump-data'}\nexit {exit_code}\n")
        stub.chmod(0o755)
        return data

    def systemctl_stub(self) -> Path:
        """systemd is not PID 1 here: systemctl records what it was asked to do."""
        calls = self.root / "systemctl-calls"
        stub = self.bin / "systemctl"
        stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
        stub.chmod(0o755)
        return calls

    def run(self, script: Path, data: dict[str, bytes] | None = None,
            extra_mounts: str = "") -> subprocess.CompletedProcess:
        staging = self.root / "srv"
        for relative, content in (data or {}).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        overlays = {"/var/lib": "varlib", "/etc": "etc", "/usr/local/sbin": "sbin"}
        for name in overlays.values():
            (self.root / f"{name}-upper").mkdir(exist_ok=True)
            (self.root / f"{name}-work").mkdir(exist_ok=True)
        namespace = (
            "set -e\n"
            "mount -t tmpfs -o mode=0755 tmpfs /srv\n"
            "mount -t tmpfs -o mode=0755 tmpfs /var/cache\n"
            "mount -t tmpfs -o mode=1777 tmpfs /var/tmp\n"
            + "".join(f"mount -t overlay overlay -o lowerdir={mount},upperdir={self.root}/{name}-upper,"
                      f"workdir={self.root}/{name}-work {mount}\n" for mount, name in overlays.items()) +
            f"mkdir -p /srv/daktela && cp -a {staging}/. /srv/daktela/ 2>/dev/null || true\n"
            "mkdir -p /srv/daktela/application /srv/daktela/attachments /srv/daktela/recordings\n"
            + extra_mounts +
            f"exec {script}\n"
        )
        env = {**os.environ, **self.world.client_env(self.key), "PATH": f"{self.bin}:{DEBIAN_PATH}",
               "DAKTELA_TEST_ENDPOINT": self.world.endpoint, "HOME": str(self.root),
               # An instance whose environment names the primary region must still sign for each
               # bucket's own region: this is what broke restic 0.14.
               "AWS_DEFAULT_REGION": PRIMARY}
        for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.pop(variable, None)
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", namespace],
                              env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def instance(world, cloud_plan, tmp_path) -> Iterator[CloudInstance]:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the cloud job tests need root and unshare")
        pytest.skip("the cloud job tests need root and unshare")
    instance = CloudInstance(world, cloud_plan, tmp_path / "instance")
    yield instance
    shutil.rmtree(instance.root)  # the dump data (12 MiB a test) and the instance's files


def s3_requests(world: StrictWorld, bucket: str) -> list:
    return [r for r in world.state.records if r.service == "s3" and r.path.lstrip("/").split("/")[0] == bucket]


def test_file_level_backup_signs_for_the_repository_region_and_inits_with_the_plans_role(world, instance):
    """Issues 10.1 and 10.2: restic 0.14 signed for AWS_DEFAULT_REGION, and its HeadBucket got 403."""
    files = {"application/index.php": os.urandom(3000), "attachments/2026/11/offer.pdf": os.urandom(200_000),
             "recordings/2026/11/call.wav": os.urandom(50_000)}
    first = instance.run(instance.script("daktela-restic-backup"), files)
    assert first.returncode == 0, first.stdout + first.stderr
    again = instance.run(instance.script("daktela-restic-backup"))  # an existing repository: no init
    assert again.returncode == 0, again.stdout + again.stderr
    assert world.refused() == []
    requests = s3_requests(world, instance.restic_bucket)
    assert {r.region for r in requests} == {SECONDARY}
    assert "s3:ListBucket" in {a for r in requests if r.method == "HEAD" for a in r.actions}  # restic's bucket check
    snapshots = world.admin_client("s3", SECONDARY).list_objects_v2(
        Bucket=instance.restic_bucket, Prefix="restic/acme-cloud/snapshots/")
    assert snapshots["KeyCount"] == 2
    ssm = [r for r in world.state.records if r.service == "ssm"]
    assert ssm and {r.region for r in ssm} == {PRIMARY}  # the password is asked for where it lives
    # the run's result, where the checker reads it, promising the next one by tomorrow's run and its window
    result = json.loads(world.admin_client("s3", PRIMARY).get_object(
        Bucket=instance.dump_bucket, Key="status/acme-cloud/run-file-level.json")["Body"].read())
    assert result["result"] == "success" and result["technology"] == "file-level"
    due = datetime.fromisoformat(result["next_due"].replace("Z", "+00:00"))
    assert timedelta(hours=8) < due - datetime.now(timezone.utc) < timedelta(hours=24 + 8 + 1)


def test_storage_meter_publishes_into_its_own_namespace_with_the_plans_role(world, instance):
    run = instance.run(instance.script("daktela-attachments-meter"), {"attachments/a.pdf": os.urandom(5000)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.refused() == []
    [put] = [r for r in world.state.records if r.service == "monitoring"]
    assert put.actions == ["cloudwatch:PutMetricData"] and put.region == PRIMARY
    metrics = world.admin_client("cloudwatch", PRIMARY).list_metrics(Namespace="Daktela/acme-cloud")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["AttachmentsUsedGB"]


def test_database_dump_of_9_mb_gets_its_final_name_in_one_version(world, instance):
    """Issue 10.3: the .partial copy took awscli's multipart path, which needs GetObjectTagging."""
    data = instance.dump_stub(12 << 20)
    run = instance.run(instance.script("daktela-db-dump"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.refused() == []
    s3 = world.admin_client("s3", PRIMARY)
    versions = s3.list_object_versions(Bucket=instance.dump_bucket, Prefix="dumps/acme-cloud/")
    keys = [v["Key"] for v in versions.get("Versions", [])]
    assert len(keys) == 1 and keys[0].endswith(".sql.gz"), keys  # no .partial, no second version
    assert not versions.get("DeleteMarkers")
    stored = s3.get_object(Bucket=instance.dump_bucket, Key=keys[0])["Body"].read()
    assert len(stored) >= 8 << 20, "the dump must be large enough to take awscli's multipart path"
    assert hashlib.sha256(gzip.decompress(stored)).digest() == hashlib.sha256(data).digest()
    assert any("partNumber=" in r.query for r in s3_requests(world, instance.dump_bucket))


def test_a_failed_dump_leaves_no_object_and_no_unfinished_upload(world, instance):
    instance.dump_stub(12 << 20, exit_code=2)
    run = instance.run(instance.script("daktela-db-dump"))
    assert run.returncode == 1
    assert "nothing was stored" in run.stderr
    s3 = world.admin_client("s3", PRIMARY)
    assert s3.list_object_versions(Bucket=instance.dump_bucket, Prefix="dumps/").get("Versions") is None
    assert s3.list_multipart_uploads(Bucket=instance.dump_bucket).get("Uploads") is None
    assert world.refused() == []


def test_the_double_refuses_what_aws_refuses(world, tmp_path):
    """The double itself: a wrong region, a missing payload hash, an unsigned x-amz header, a
    permission the policy lacks, and a locked bucket without Content-MD5 are all refused."""
    world.bucket("locked", PRIMARY, object_lock_days=1)
    key = world.user("narrow", [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::locked/allowed/*"}]})])
    body = tmp_path / "body"
    body.write_bytes(b"x" * 100)
    sha = hashlib.sha256(b"x" * 100).hexdigest()
    env = {**os.environ, **world.client_env(key)}

    def put(path: str, region: str = PRIMARY, *headers: str) -> str:
        command = [debian_tool("curl"), "-sS", "--aws-sigv4", f"aws:amz:{region}:s3", "--user",
                   f"{key.access_key_id}:{key.secret_access_key}", "-X", "PUT", "--data-binary", f"@{body}"]
        for header in headers:
            command += ["-H", header]
        return subprocess.run(command + [f"{world.endpoint}/locked/{path}"], env=env, capture_output=True,
                              text=True).stdout

    md5 = "Content-MD5: " + __import__("base64").b64encode(hashlib.md5(b"x" * 100).digest()).decode()
    assert "x-amz-content-sha256" in put("allowed/a")
    assert "AuthorizationHeaderMalformed" in put("allowed/a", SECONDARY, f"x-amz-content-sha256: {sha}", md5)
    assert "XAmzContentSHA256Mismatch" in put("allowed/a", PRIMARY, f"x-amz-content-sha256: {'0' * 64}", md5)
    assert "Content-MD5 OR x-amz-checksum-" in put("allowed/a", PRIMARY, f"x-amz-content-sha256: {sha}")
    assert "AccessDenied" in put("elsewhere/a", PRIMARY, f"x-amz-content-sha256: {sha}", md5)
    assert put("allowed/a", PRIMARY, f"x-amz-content-sha256: {sha}", md5) == ""
    assert len(world.refused()) == 5


def test_the_double_models_sse_kms_missing_keys_and_the_clock(world, monkeypatch):
    """As S3 does: an SSE-KMS bucket's objects need kms:Decrypt (reading) and kms:GenerateDataKey
    (writing) on its key, through the key policy; a missing key is 404 only to a caller who may list
    the bucket (else 403); a request more than 15 minutes off the double's clock is refused."""
    import boto3
    import botocore.config
    import botocore.exceptions

    key = world.key(f"arn:aws:kms:{PRIMARY}:123456789012:key/test-key")
    world.bucket("sealed", PRIMARY, kms_key=key)
    world.admin_client("s3", PRIMARY).put_object(Bucket="sealed", Key="status/a.json", Body=b"{}")
    read = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::sealed/status/*"}
    listing = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::sealed",
               "Condition": {"StringLike": {"s3:prefix": ["status/*"]}}}
    decrypt = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key,
               "Condition": {"StringEquals": {"kms:ViaService": [f"s3.{PRIMARY}.amazonaws.com"]}}}

    def client(*statements):
        user = world.user(f"u{len(world.state.principals)}", [json.dumps({"Version": "2012-10-17",
                                                                           "Statement": list(statements)})])
        world.act_as(monkeypatch, user)
        # boto3 1.36+ sends a checksum trailer the double does not decode; the jobs never use boto3 to write
        return boto3.session.Session().client("s3", region_name=PRIMARY, endpoint_url=world.endpoint, config=botocore.config.Config(
            request_checksum_calculation="when_required"))

    def code(call) -> str:
        try:
            call()
            return "ok"
        except botocore.exceptions.ClientError as error:
            return error.response["Error"]["Code"]

    without_key = client(read, listing)
    assert code(lambda: without_key.get_object(Bucket="sealed", Key="status/a.json")) == "AccessDenied"
    assert code(lambda: without_key.put_object(Bucket="sealed", Key="status/b.json", Body=b"{}")) == "AccessDenied"
    assert "kms:Decrypt" in world.refused()[0].error
    with_key = client(read, listing, decrypt)
    assert code(lambda: with_key.get_object(Bucket="sealed", Key="status/a.json")) == "ok"
    assert code(lambda: with_key.put_object(Bucket="sealed", Key="status/b.json", Body=b"{}")) == "ok"
    # a missing key: 403 without an unconditioned s3:ListBucket, 404 with it
    assert code(lambda: with_key.get_object(Bucket="sealed", Key="status/none.json")) == "AccessDenied"
    lister = client(read, decrypt, {**listing, "Condition": {}})
    assert code(lambda: lister.get_object(Bucket="sealed", Key="status/none.json")) == "NoSuchKey"
    # a key policy that does not leave it to IAM: the identity policy alone is not enough
    world.key(key, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyTheAdmin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"},
         "Action": "kms:*", "Resource": "*"}]}))
    assert code(lambda: lister.get_object(Bucket="sealed", Key="status/a.json")) == "AccessDenied"
    assert "the key policy of" in world.refused()[-1].error
    world.state.clock_offset = timedelta(minutes=20)  # the caller's clock 20 minutes behind
    assert code(lambda: lister.list_objects_v2(Bucket="sealed", Prefix="status/")) == "RequestTimeTooSkewed"
    world.state.clock_offset = timedelta(0)


def test_each_world_starts_empty_and_enforcing(strict_moto_server, tmp_path):
    """Worlds share their process's moto server one after another: nothing of an earlier world
    (buckets, objects, users, keys) is left in the next, and the next enforces IAM again."""
    import boto3
    import botocore.exceptions

    with strict_world(tmp_path / "first", strict_moto_server) as first:
        first.bucket("left-behind", PRIMARY)
        first.admin_client("s3", PRIMARY).put_object(Bucket="left-behind", Key="k", Body=b"v")
        earlier = first.user("earlier", [json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})])
    with strict_world(tmp_path / "second", strict_moto_server) as second:
        assert second.admin_client("s3", PRIMARY).list_buckets()["Buckets"] == []
        assert [u["UserName"] for u in second.admin_client("iam", PRIMARY).list_users()["Users"]] == ["admin"]
        stale = boto3.client("s3", region_name=PRIMARY, endpoint_url=second.moto,
                             aws_access_key_id=earlier.access_key_id, aws_secret_access_key=earlier.secret_access_key)
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidAccessKeyId|AccessDenied|Forbidden|403"):
            stale.list_buckets()


# -- on-premise: the host's jobs on the throwaway host, with the plan's IAM user ------------------

@pytest.fixture(scope="module")
def onprem_plan():
    return plan_of(example_installation("on-premise"))


class OnPremLocations:
    """The plan's two locked location buckets and its host user, in the double; the test host
    trusts the double's certificate through its own (private) CA bundle, as a host trusts AWS."""

    def __init__(self, world: StrictWorld, plan, host):
        from tests.onprem_fixtures import backup_job

        lock_days = example_installation("on-premise")["on_premise"].get("backup_lock_days", 30)
        self.buckets = []
        for number, region in ((1, PRIMARY), (2, SECONDARY)):
            name, policy = bucket_of(plan, f"offsite-location-{number}")
            world.bucket(name, region, object_lock_days=lock_days, policy=policy)
            self.buckets.append(name)
        policy = one(plan, "aws:iam/userPolicy:UserPolicy", "host-policy").inputs["policy"]
        self.key = world.user("daktela-acme-onprem-backup", [policy])
        checker = one(plan, "aws:iam/rolePolicy:RolePolicy", "freshness-least-privilege").inputs["policy"]
        self.checker_key = world.user("acme-onprem-freshness", [checker])
        bundle = host.root / "etc" / "ssl" / "certs" / "ca-certificates.crt"
        bundle.write_text(bundle.read_text() + world.ca.read_text())
        self.world, self.host, self.make_job = world, host, backup_job

    def admin_s3(self, region: str):
        return self.world.admin_client("s3", region)

    def job(self, endpoints: list[str], **timings):
        from tests.test_onprem_backup import archive_uuid

        return self.make_job(self.host, self.buckets, endpoints, archive_uuid(self.host), **timings)


@pytest.fixture
def locations(world, onprem_plan, test_host):
    return OnPremLocations(world, onprem_plan, test_host)


def status_objects(world: StrictWorld, locations: OnPremLocations) -> dict[tuple[int, int], dict]:
    """{(bucket number, location number): the recorded result} of every status object."""
    found = {}
    for bucket_number, (bucket, region) in enumerate(zip(locations.buckets, (PRIMARY, SECONDARY)), 1):
        s3 = world.admin_client("s3", region)
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="status/acme-onprem/").get("Contents", []):
            record = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            found[(bucket_number, record["location"])] = record
    return found


def test_onprem_backup_with_the_plans_key_into_two_locked_locations(world, locations, test_host):
    """Issues 10.2 and 10.4: restic init was refused, curl's status uploads lacked the payload hash."""
    from tests.onprem_fixtures import install, prepared_with_data

    prepared_with_data(test_host)
    job = locations.job([world.endpoint, world.endpoint])
    install(test_host, job, locations.key.access_key_id, locations.key.secret_access_key)
    run = test_host.run("/usr/local/sbin/daktela-backup")
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.refused() == []
    for bucket, region in zip(locations.buckets, (PRIMARY, SECONDARY)):
        requests = s3_requests(world, bucket)
        assert {r.region for r in requests} == {region}
        puts = [r for r in requests if r.method == "PUT"]
        assert puts and all("content-md5" in r.headers for r in puts)  # the buckets are locked
    results = status_objects(world, locations)
    assert sorted(results) == [(1, 1), (1, 2), (2, 1), (2, 2)]  # each result in both locations
    assert {r["result"] for r in results.values()} == {"success"}

    # The weekly check and a restore use the same key: reading back, locking, unlocking.
    check = test_host.run("/usr/local/sbin/daktela-backup-check")
    assert check.returncode == 0, check.stdout + check.stderr
    from components.host.restore import restore
    from components.host.ssh import Connection

    with Connection(test_host.access()) as connection:
        report = restore(connection, str(test_host.root / "restored"))
    assert report.restored_files > 0
    assert world.refused() == []


def test_a_failed_location_is_reported_at_once_through_the_other(world, locations, test_host, monkeypatch):
    """Issue 10.6: a failed run looked "fresh" for up to 28 h."""
    from components.freshness import Watch, boto3_clients, check
    from components.installation import onprem_freshness_watch
    from components.config import parse_installation
    from tests.onprem_fixtures import install, prepared_with_data, seed_locations

    prepared_with_data(test_host)
    job = locations.job([world.endpoint, world.endpoint])
    install(test_host, job, locations.key.access_key_id, locations.key.secret_access_key)
    seed_locations(job, locations.admin_s3)  # the first run's init is the test above
    assert test_host.run("/usr/local/sbin/daktela-backup").returncode == 0
    down = locations.job(["https://127.0.0.1:1", world.endpoint])
    install(test_host, down, locations.key.access_key_id, locations.key.secret_access_key)
    run = test_host.run("/usr/local/sbin/daktela-backup")
    assert run.returncode == 1 and "location 1 (eu-central-1): FAILED" in run.stderr
    # unreachable is not empty: no `restic init` waits out restic's retries a second time
    log = test_host.run("cat /var/lib/daktela-backup/location-1.log").stdout
    assert "Is there a repository" in log and "create repository" not in log, log
    results = status_objects(world, locations)
    assert results[(2, 1)]["result"] == "failed" and results[(2, 2)]["result"] == "success"
    assert results[(1, 1)]["result"] == "success"  # location 1's own copy is the old one

    # The checker, with the plan's checker policy, sees location 1 as failed now, although its
    # newest snapshot is minutes old.
    installation = parse_installation(example_installation("on-premise"))
    watch = Watch.from_json(onprem_freshness_watch(installation, locations.buckets).to_json())
    world.act_as(monkeypatch, locations.checker_key)
    findings = {f.technology: f for f in check(watch, boto3_clients(world.endpoint))}
    assert findings["location-1"].status == "failed", findings
    # with restic's own cause, in one line (issue 23)
    assert findings["location-1"].failed.endswith("dial tcp 127.0.0.1:1: connect: connection refused")
    assert findings["location-2"].status == "fresh"
    assert world.refused() == []


def test_onprem_storage_meter_reaches_billing_with_the_plans_keys(world, locations, test_host, monkeypatch):
    """Issue 14: the host measures comments and email attachments on both drives (recordings,
    application and database never), writes the reading into both locations with the plan's host
    key, and the checker publishes it with the plan's checker policy where billing reads it."""
    from components.config import parse_installation
    from components.freshness import Watch, boto3_clients, publish_storage_reading
    from components.installation import onprem_freshness_watch
    from tests.onprem_fixtures import install, prepared_with_data

    prepared_with_data(test_host)
    job = locations.job([world.endpoint, world.endpoint])
    install(test_host, job, locations.key.access_key_id, locations.key.secret_access_key)
    operational, archive = test_host.mount_point("operational"), test_host.mount_point("archive")
    # sparse files: their apparent size is what the customer stored, whatever the drive holds
    made = test_host.run(
        f"mkdir -p {operational}/attachments/2027 {archive}/attachments/2026 && "
        f"truncate -s 120000000000 {operational}/attachments/2027/big.eml && "
        f"truncate -s 30000000000 {archive}/attachments/2026/old.pdf && "
        f"truncate -s 900000000000 {operational}/recordings/call.wav {archive}/recordings/old.wav "
        f"{operational}/database/ibdata1 {operational}/application/app.bin")
    assert made.returncode == 0, made.stderr
    counted = test_host.run(  # the expected figure, by another tool than the meter's find and awk
        "python3 -c 'import os, sys; print(sum(os.lstat(os.path.join(d, f)).st_size for p in sys.argv[1:] "
        "for d, _, fs in os.walk(p) for f in fs if os.path.isfile(os.path.join(d, f))))' "
        f"{operational}/attachments {archive}/attachments")
    expected_bytes = int(counted.stdout)
    assert 150_000_000_000 <= expected_bytes < 151_000_000_000

    # The meter waits while the archival holds its lock (a file mid-move would count twice).
    marker = test_host.root / "released"
    test_host.run(f"(flock /run/daktela-archive.lock sh -c 'sleep 2; touch {marker}') >/dev/null 2>&1 &")
    run = test_host.run("sleep 0.3; /usr/local/sbin/daktela-storage-meter")
    assert run.returncode == 0, run.stdout + run.stderr
    assert marker.exists(), "the meter ran while the archival held its lock"
    assert run.stdout.strip() == (f"comments and email attachments: {expected_bytes / 1e9:.3f} GB "
                                  f"({expected_bytes} bytes)")
    assert world.refused() == []
    for bucket, region in zip(locations.buckets, (PRIMARY, SECONDARY)):
        stored = json.loads(world.admin_client("s3", region).get_object(
            Bucket=bucket, Key="status/acme-onprem/storage.json")["Body"].read())
        assert stored["bytes"] == expected_bytes and stored["gb"] == round(expected_bytes / 1e9, 3)

    installation = parse_installation(example_installation("on-premise"))
    watch = Watch.from_json(onprem_freshness_watch(installation, locations.buckets).to_json())
    world.act_as(monkeypatch, locations.checker_key)
    published = publish_storage_reading(watch, boto3_clients(world.endpoint))
    assert published is not None and published["bytes"] == expected_bytes
    assert world.refused() == []
    datapoints = world.admin_client("cloudwatch", PRIMARY).get_metric_statistics(
        Namespace="Daktela/acme-onprem", MetricName="AttachmentsUsedGB",
        Dimensions=[{"Name": "Installation", "Value": "acme-onprem"}],
        StartTime=datetime.now(timezone.utc) - timedelta(hours=1), EndTime=datetime.now(timezone.utc) + timedelta(minutes=5),
        Period=3600, Statistics=["Maximum"])["Datapoints"]
    assert [d["Maximum"] for d in datapoints] == [round(expected_bytes / 1e9, 3)]
    with pytest.raises(Exception, match="AccessDenied"):  # and into no other installation's namespace
        boto3_clients(world.endpoint)("cloudwatch", PRIMARY).put_metric_data(
            Namespace="Daktela/acme-cloud", MetricData=[{"MetricName": "AttachmentsUsedGB", "Value": 1.0}])
    assert [(r.service, r.status) for r in world.refused()] == [("monitoring", 403)]

    # A missing drive is no reading at all (which alarms), never a reading that under-bills
    test_host.run(f"umount {archive}")
    missing = test_host.run("/usr/local/sbin/daktela-storage-meter")
    assert missing.returncode == 2 and f"{archive} is not mounted: no storage reading taken" in missing.stderr


def test_connectivity_probe_with_the_plans_key(world, locations, test_host):
    """Issue 10.4: the probe's requests lacked x-amz-content-sha256, so it always reported an error."""
    from components.host.connectivity import check_connectivity
    from components.host.ssh import Connection
    from tests.onprem_fixtures import prepared_with_data

    prepared_with_data(test_host)
    job = locations.job([world.endpoint, world.endpoint])
    with Connection(test_host.access()) as connection:
        report = check_connectivity(connection, job, locations.key.access_key_id, locations.key.secret_access_key,
                                    part_bytes=5 << 20, parts=2)
    assert [l.error for l in report.locations] == [None, None], (report.lines(), [(r.method, r.path, r.query, r.status, r.error) for r in world.refused()])
    assert all(l.bytes_per_second for l in report.locations)
    assert world.refused() == []
    for bucket in locations.buckets:  # the probe leaves nothing behind
        assert world.admin_client("s3", PRIMARY).list_multipart_uploads(Bucket=bucket).get("Uploads") is None


def test_a_connectivity_check_is_recorded_with_the_plans_key_and_read_into_the_months_evidence(
        world, locations, test_host, monkeypatch):
    """Issue 27: the monthly evidence lists the month's connectivity checks. The host records each
    check into both locked locations with the plan's host key; the evidence reads them with the
    plan's checker policy; a location that cannot be reached is named, never a quiet "none"."""
    from components.config import parse_installation
    from components.evidence import connectivity_checks
    from components.freshness import Watch, boto3_clients
    from components.host.connectivity import check_connectivity, record_check
    from components.host.ssh import Connection
    from components.installation import onprem_freshness_watch
    from tests.onprem_fixtures import prepared_with_data

    prepared_with_data(test_host)
    job = locations.job([world.endpoint, world.endpoint])
    checked = datetime.now(timezone.utc).replace(microsecond=0)
    key_id, secret = locations.key.access_key_id, locations.key.secret_access_key
    with Connection(test_host.access()) as connection:
        report = check_connectivity(connection, job, key_id, secret, part_bytes=5 << 20, parts=1)
        recorded = record_check(connection, job, key_id, secret, report, checked)
        # a second check an hour later, when location 1 does not answer: recorded in location 2 only
        down = locations.job(["https://127.0.0.1:1", world.endpoint])
        partly = record_check(connection, down, key_id, secret, report, checked + timedelta(hours=1))
    assert recorded.missing == () and recorded.key.startswith("status/acme-onprem/connectivity/"), recorded
    assert partly.missing == ("location 1 (eu-central-1)",) and "but not in: location 1" in partly.line()
    assert world.refused() == []
    for bucket in locations.buckets:  # locked buckets: every record PUT carried its Content-MD5
        assert all("content-md5" in r.headers for r in s3_requests(world, bucket) if r.method == "PUT")

    installation = parse_installation(example_installation("on-premise"))
    watch = Watch.from_json(onprem_freshness_watch(installation, locations.buckets).to_json())
    world.act_as(monkeypatch, locations.checker_key)
    start = checked.replace(day=1, hour=0, minute=0, second=0)
    checks, unreadable = connectivity_checks(watch, boto3_clients(world.endpoint), start, checked + timedelta(days=40))
    assert unreadable == [] and world.refused() == []
    assert [c["time"] for c in checks] == [f"{checked:%Y-%m-%dT%H:%M:%SZ}",
                                          f"{checked + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"]
    assert checks[0]["sufficient"] is report.sufficient and checks[0]["verdict"].startswith("verdict: ")
    assert [l["region"] for l in checks[0]["locations"]] == [PRIMARY, SECONDARY]
    assert all(l["mbit_per_second"] > 0 for l in checks[0]["locations"])
    # an hour before the first check, the period holds none; the checks after its end are not in it
    before, _ = connectivity_checks(watch, boto3_clients(world.endpoint), start, checked)
    assert before == []

    # a prefix the checker may not list: each location named with S3's answer, never "no checks"
    denied = dataclasses.replace(watch, installation_id="someone-else")
    nothing, why = connectivity_checks(denied, boto3_clients(world.endpoint), start, checked + timedelta(days=40))
    assert nothing == [] and len(why) == 2 and all("AccessDenied" in w for w in why), why


def publish_job_files(world: StrictWorld, instance: CloudInstance, plan) -> None:
    """What `pulumi up` writes: the job files' object, then the parameter holding the converger."""
    obj = one(plan, "aws:s3/bucketObjectv2:BucketObjectv2", "job-files-object").inputs
    assert obj["bucket"] == instance.dump_bucket
    world.admin_client("s3", PRIMARY).put_object(Bucket=obj["bucket"], Key=obj["key"], Body=obj["content"].encode(),
                                                  ContentType=obj["contentType"])
    parameter = one(plan, "aws:ssm/parameter:Parameter", "job-files").inputs
    world.admin_client("ssm", PRIMARY).put_parameter(
        Name=parameter["name"], Type="String", Tier="Advanced", Value=parameter["insecureValue"], Overwrite=True)


JOB_SCRIPTS = ["daktela-attachments-meter", "daktela-backup-check", "daktela-converge", "daktela-db-dump",
               "daktela-drill-scratch", "daktela-restic-backup", "daktela-restore-drill", "daktela-watchdog"]
JOB_TIMERS = ["daktela-attachments-meter.timer", "daktela-backup-check.timer", "daktela-db-dump.timer",
              "daktela-restic-backup.timer", "daktela-restore-drill.timer"]


def test_a_running_instance_upgrades_its_converger_then_takes_its_jobs_from_s3(world, instance, cloud_plan):
    """Issue 13: the job files (30 KB with the drill) fit neither user data nor a parameter. An
    instance running the previous converger (which reads only the parameter) gets the new one from
    the parameter, and the new one installs the job files from S3 and enables their timers."""
    import jinja2

    calls = instance.systemctl_stub()
    previous = jinja2.Template((Path(__file__).parent / "fixtures" / "daktela-converge-v1.sh.j2").read_text(),
                               keep_trailing_newline=True).render(
        installation_id="acme-cloud", region=PRIMARY, parameter="/daktela/acme-cloud/job-files")
    converger = instance.upper("/usr/local/sbin/daktela-converge")
    converger.parent.mkdir(parents=True)
    converger.write_text(previous)
    converger.chmod(0o755)
    publish_job_files(world, instance, cloud_plan)

    upgrade = instance.run(Path("/usr/local/sbin/daktela-converge"))  # the previous converger's run
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert converger.read_text() == instance.files["/usr/local/sbin/daktela-converge"]
    assert calls.read_text().splitlines() == ["daemon-reload"]  # no job yet: the new converger's run installs them

    calls.unlink()
    first = instance.run(Path("/usr/local/sbin/daktela-converge"))  # 15 minutes later: the new one
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(p.name for p in converger.parent.iterdir()) == JOB_SCRIPTS
    for path in ("/etc/daktela-toolkit/drill.json", "/usr/local/sbin/daktela-restore-drill",
                 "/etc/systemd/system/daktela-restore-drill.timer"):
        assert instance.upper(path).read_text() == instance.files[path]
    assert calls.read_text().splitlines()[0] == "daemon-reload"
    assert sorted(calls.read_text().splitlines()[1:]) == sorted(
        f"{verb} {timer}" for timer in JOB_TIMERS for verb in ("enable", "restart"))
    assert world.refused() == []

    calls.unlink()
    again = instance.run(Path("/usr/local/sbin/daktela-converge"))  # nothing changed: nothing done
    assert again.returncode == 0 and again.stdout == "" and not calls.exists(), again.stdout + again.stderr


def test_a_changed_backup_time_converges_on_the_running_instance(world, instance, cloud_plan):
    """Issue 11: user data changes never reached a running instance; the converger brings them."""
    calls = instance.systemctl_stub()
    instance.install("/usr/local/sbin/daktela-converge")
    publish_job_files(world, instance, cloud_plan)
    first = instance.run(Path("/usr/local/sbin/daktela-converge"))
    assert first.returncode == 0, first.stdout + first.stderr

    changed = example_installation("cloud")
    changed["backup"]["times"] = ["02:00", "11:30", "18:00"]
    publish_job_files(world, instance, plan_of(changed))
    calls.unlink()
    second = instance.run(Path("/usr/local/sbin/daktela-converge"))
    assert second.returncode == 0, second.stdout + second.stderr
    # the converger (naming the new object) first, then only what the new time changes: the dump's
    # timer (enabled and restarted) and the windows of its neighbours
    assert second.stdout.startswith("converger updated: running the new one\n")
    assert calls.read_text().splitlines() == ["daemon-reload", "enable daktela-db-dump.timer",
                                              "restart daktela-db-dump.timer"]
    assert "daktela-db-dump.timer" in second.stdout and "daktela-restic-backup.timer" not in second.stdout
    timer = instance.upper("/etc/systemd/system/daktela-db-dump.timer").read_text()
    assert "OnCalendar=*-*-* 11:30:00 UTC" in timer
    assert world.refused() == []
    requests = [r for r in world.state.records if r.service == "ssm"]
    assert requests and {r.region for r in requests} == {PRIMARY}


def test_job_files_that_are_not_what_the_stack_wrote_are_not_applied(world, instance, cloud_plan):
    calls = instance.systemctl_stub()
    instance.install("/usr/local/sbin/daktela-converge")
    publish_job_files(world, instance, cloud_plan)
    obj = one(cloud_plan, "aws:s3/bucketObjectv2:BucketObjectv2", "job-files-object").inputs
    tampered = obj["content"].replace("--single-transaction", "--single-transaction --where=0")
    world.admin_client("s3", PRIMARY).put_object(Bucket=obj["bucket"], Key=obj["key"], Body=tampered.encode())
    run = instance.run(Path("/usr/local/sbin/daktela-converge"))
    assert run.returncode == 1
    assert "is not what the stack wrote" in run.stderr and "nothing applied" in run.stderr
    assert sorted(p.name for p in instance.upper("/usr/local/sbin/x").parent.iterdir()) == ["daktela-converge"]
    assert not calls.exists()


# -- the cloud's restore drills ---------------------------------------------------------------

DRILL_RESULTS = {"database-dump": "status/acme-cloud/drill-database-dump.json",
                 "file-level": "status/acme-cloud/drill-file-level.json"}


class LocalDatabase:
    """tests.mariadb_host's helpers against a throwaway server of the drill's own kind on this
    machine (its socket instead of the host's)."""

    def __init__(self, socket: str):
        self.socket = socket

    def run(self, command: str) -> subprocess.CompletedProcess:
        from tests import mariadb_host

        return subprocess.run(["sh", "-c", command.replace(mariadb_host.SOCKET, self.socket)],
                              capture_output=True, text=True)


def drill_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("restore_drill", Path(__file__).parents[1] / "templates"
                                                  / "daktela-verify.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def customer_dump(tmp_path_factory) -> tuple[bytes, dict[str, int]]:
    """(the customer's database as Debian's mariadb-dump writes it for the dump job, its tables'
    checksums): a real MariaDB 10.11 server with tables, a view, a trigger, a procedure, an event."""
    from tests import mariadb_host

    mariadb_host.need_mariadb(LocalDatabase(""))
    directory = tmp_path_factory.mktemp("source-database")
    try:
        with drill_module().DatabaseServer(str(directory), "mariadb") as server:
            local = LocalDatabase(server.socket)
            mariadb_host.fill(local, "daktela")
            checksums = mariadb_host.checksums(local, "daktela")
            dump = subprocess.run(["mariadb-dump", "--no-defaults", f"--socket={server.socket}", "--user=root",
                                   "--single-transaction", "--quick", "--routines", "--events", "--triggers",
                                   "daktela"], capture_output=True, check=True).stdout
    finally:
        shutil.rmtree(directory)  # the server's 110 MB of data files
    return dump, checksums


def drill_results(world: StrictWorld, instance: CloudInstance) -> dict[str, dict]:
    s3 = world.admin_client("s3", PRIMARY)
    found = {}
    for drill, key in DRILL_RESULTS.items():
        try:
            found[drill] = json.loads(s3.get_object(Bucket=instance.dump_bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            pass
    return found


def cloud_checker_sees(world: StrictWorld, instance: CloudInstance, plan, monkeypatch) -> dict:
    """The checker's findings of the two instance drills, with the plan's checker policy."""
    from components.freshness import Watch, boto3_clients, check

    checker = world.user("acme-cloud-freshness", [one(plan, "aws:iam/rolePolicy:RolePolicy",
                                                      "freshness-least-privilege").inputs["policy"]])
    watch = Watch.from_json(plan.outputs["freshness_targets"].replace(
        autoname(one(plan, "aws:s3/bucket:Bucket", "restic").name), instance.restic_bucket))
    drills = dataclasses.replace(watch, targets=tuple(t for t in watch.targets if t.kind == "drill"))
    world.act_as(monkeypatch, checker)
    findings = {f.technology: f for f in check(drills, boto3_clients(world.endpoint))}
    assert world.refused() == []
    return findings


def test_cloud_drills_restore_the_newest_dump_and_snapshot_with_the_plans_role(
        world, instance, cloud_plan, customer_dump, monkeypatch):
    """Issue 13: the dump and the restic repository restored on the instance, checked the way the
    on-premise drill checks them, the results where the checker reads them."""
    dump, source = customer_dump
    (instance.root / "dump.sql").write_bytes(dump)
    stub = instance.bin / "mariadb-dump"  # the server is the product's; the dump is Debian's, above
    stub.write_text(f"#!/bin/sh\ncat {instance.root / 'dump.sql'}\n")
    stub.chmod(0o755)
    files = {"application/index.php": os.urandom(3000), "attachments/2026/11/offer.pdf": os.urandom(200_000),
             "recordings/2026/11/call.wav": os.urandom(50_000)}
    # the repository exists (its first run's init is test_file_level_backup_..._inits_with_the_plans_role)
    seed(world.admin_client("s3", SECONDARY), instance.restic_bucket, repository_prefix("acme-cloud"), INSTANCE_SECRET)
    for job in ("daktela-db-dump", "daktela-restic-backup"):
        backup = instance.run(instance.script(job), files)
        assert backup.returncode == 0, backup.stdout + backup.stderr
    instance.install("/usr/local/sbin/daktela-restore-drill", "/etc/daktela-toolkit/drill.json")

    run = instance.run(Path("/usr/local/sbin/daktela-restore-drill"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.refused() == []
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["file-level", "database-dump"]
    assert "3 files and" in lines[0] and "tables" not in lines[0]  # restic holds no database here
    assert "3 tables loaded and checksummed" in lines[1] and "not counted toward the SLA" in lines[1]
    results = drill_results(world, instance)
    assert results["database-dump"]["database"]["checksums"] == source  # the dump is the source, table by table
    assert results["database-dump"]["dump"].startswith("dumps/acme-cloud/")
    assert results["file-level"]["files"] == 3 and results["file-level"]["bytes"] == 253_000
    for result in results.values():
        assert result["result"] == "success" and result["last_success"] == result["time"]
    assert not list((instance.root / "varlib-upper").glob("**/drill-*/"))  # no scratch left anywhere kept

    findings = cloud_checker_sees(world, instance, cloud_plan, monkeypatch)
    assert {t: (f.status, f.failed) for t, f in findings.items()} == {
        "drill-database-dump": ("fresh", None), "drill-file-level": ("fresh", None)}


def test_a_cloud_dump_that_does_not_load_fails_its_drill_and_the_checker_sees_it(
        world, instance, cloud_plan, customer_dump, monkeypatch):
    dump, _ = customer_dump
    stub = instance.bin / "mariadb-dump"
    (instance.root / "dump.sql").write_bytes(dump)
    stub.write_text(f"#!/bin/sh\ncat {instance.root / 'dump.sql'}\n")
    stub.chmod(0o755)
    instance.install("/usr/local/sbin/daktela-restore-drill", "/etc/daktela-toolkit/drill.json")
    assert instance.run(instance.script("daktela-db-dump")).returncode == 0
    good = instance.run(Path("/usr/local/sbin/daktela-restore-drill --drill database-dump"))
    assert good.returncode == 0, good.stdout + good.stderr
    succeeded = drill_results(world, instance)["database-dump"]["time"]

    # a later dump whose SQL breaks off (as a dump cut short by a full disk would)
    (instance.root / "dump.sql").write_bytes(dump[: len(dump) // 2])
    assert instance.run(instance.script("daktela-db-dump")).returncode == 0
    bad = instance.run(Path("/usr/local/sbin/daktela-restore-drill --drill database-dump"))
    assert bad.returncode == 1
    assert "database-dump: DRILL FAILED: the database dump does not load" in bad.stderr
    result = drill_results(world, instance)["database-dump"]
    assert result["result"] == "failed" and result["last_success"] == succeeded <= result["time"]
    assert result == json.loads((instance.root / "varlib-upper" / "daktela-toolkit" / "drill-database-dump.json")
                                .read_text())  # the instance's own record is the one it published

    findings = cloud_checker_sees(world, instance, cloud_plan, monkeypatch)
    assert findings["drill-database-dump"].failed and "does not load" in findings["drill-database-dump"].failed
    # no restic backup in this test, and no drill: missing, as a drill timer that never ran would be
    assert (findings["drill-file-level"].status, findings["drill-file-level"].detail) == ("missing", "no drill has run")

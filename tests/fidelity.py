"""The fidelity layer's world: a moto server with IAM enforcement behind the strict TLS proxy
(tests/strict_aws.py), IAM users that hold exactly the plan's policy documents, and the buckets the
plan names, in the plan's regions."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import boto3

from tests.strict_aws import (
    Bucket, KmsKey, Principal, StrictAws, client_tls_env, enforce_iam, fresh_state, moto_policy, strict_proxy,
)

ACCOUNT = "123456789012"  # moto's account; the offline plan's mock account is the same


@dataclass
class Key:
    user: str
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


class StrictWorld:
    def __init__(self, moto: str, endpoint: str, ca: Path, state: StrictAws, admin: Key):
        self.moto, self.endpoint, self.ca, self.state, self.admin = moto, endpoint, ca, state, admin

    def admin_client(self, service: str, region: str) -> Any:
        """A client straight to moto with the admin key (set-up and inspection, not under test)."""
        return boto3.client(service, region_name=region, endpoint_url=self.moto,
                            aws_access_key_id=self.admin.access_key_id,
                            aws_secret_access_key=self.admin.secret_access_key)

    def user(self, name: str, documents: list[str]) -> Key:
        """An IAM user holding exactly these policy documents (JSON), known to moto and the proxy."""
        iam = self.admin_client("iam", "us-east-1")
        iam.create_user(UserName=name)
        for number, document in enumerate(documents):
            iam.put_user_policy(UserName=name, PolicyName=f"plan-{number}",
                                PolicyDocument=json.dumps(moto_policy(json.loads(document))))
        created = iam.create_access_key(UserName=name)["AccessKey"]
        key = Key(name, created["AccessKeyId"], created["SecretAccessKey"])
        self.state.principals[key.access_key_id] = Principal(
            key.secret_access_key, [json.loads(d) for d in documents], name)
        return key

    def key(self, arn: str, policy: Optional[str] = None) -> str:
        """A KMS key the double knows, with its key policy (None: AWS's default, which leaves it to
        the callers' IAM policies, as for every key the plan makes)."""
        self.state.keys[arn] = KmsKey(arn, json.loads(policy) if policy else None)
        return arn

    def parameter(self, name: str, region: str, value: str, key_arn: str) -> None:
        """A SecureString parameter encrypted with `key_arn` (reading it decrypted needs the key)."""
        self.admin_client("ssm", region).put_parameter(Name=name, Type="SecureString", Value=value, Overwrite=True)
        self.state.parameters[name] = key_arn

    def bucket(self, name: str, region: str, object_lock_days: Optional[int] = None,
               policy: Optional[str] = None, versioned: bool = True, kms_key: Optional[str] = None) -> None:
        """A bucket as the plan makes it; `kms_key`: its default encryption is SSE-KMS with that key
        (which the double then requires of every reader and writer)."""
        s3 = self.admin_client("s3", region)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region},
                         ObjectLockEnabledForBucket=bool(object_lock_days))
        if versioned and not object_lock_days:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if object_lock_days:
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": object_lock_days}},
            })
        if kms_key is not None and kms_key not in self.state.keys:
            self.key(kms_key)
        self.state.buckets[name] = Bucket(region, bool(object_lock_days), json.loads(policy) if policy else None, kms_key)

    def client_env(self, key: Key, **extra: str) -> dict[str, str]:
        """Environment for a tool under test: the key, and trust in the proxy's certificate."""
        return {**key.env(), **client_tls_env(self.ca), **extra}

    def act_as(self, monkeypatch: Any, key: Key) -> None:
        """This test process's AWS clients (the checker's code run in-process) use `key` and trust
        the proxy, with no session token of the machine's own."""
        for variable, value in self.client_env(key).items():
            monkeypatch.setenv(variable, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def refused(self) -> list:
        return self.state.refused()


@contextlib.contextmanager
def strict_world(directory: Path, moto: str) -> Iterator[StrictWorld]:
    """A new world on `moto` (a server of its own, `strict_moto_server`): its state is emptied
    first, so nothing of an earlier test's world is left in it."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh_state(moto)
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto,
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    created = iam.create_access_key(UserName="admin")["AccessKey"]
    enforce_iam(moto)
    state = StrictAws(moto, ACCOUNT)
    with strict_proxy(state, directory) as (endpoint, ca):
        yield StrictWorld(moto, endpoint, ca, state,
                          Key("admin", created["AccessKeyId"], created["SecretAccessKey"]))

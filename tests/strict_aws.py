"""A double of AWS at least as strict as AWS where our jobs touch it: a TLS proxy in front of a
moto server that checks every request the way S3 and IAM check it, then forwards it to moto, which
enforces IAM itself (moto's INITIAL_NO_AUTH_ACTION_COUNT).

What the proxy checks, per request (the first failure is answered as AWS answers it):
- SigV4 (AWS4-HMAC-SHA256): a known access key, the signature over the canonical request, the
  date within 15 minutes, `host` and every `x-amz-*` header signed (S3: HeadersNotSigned);
- S3: `x-amz-content-sha256` present and, when a hex digest, equal to the payload's
  (XAmzContentSHA256Mismatch); aws-chunked payloads decoded and every chunk signature verified;
- S3: the credential scope's region is the bucket's region (AuthorizationHeaderMalformed);
- S3: Content-MD5, when sent, matches (BadDigest); on a bucket with Object Lock, PutObject and
  UploadPart carry Content-MD5 or an x-amz-checksum-* header (InvalidRequest);
- IAM: the caller's identity policies, evaluated with AWS's rules (explicit deny wins, default
  deny; Action/Resource wildcards; conditions StringEquals/StringLike/Bool and their Not/IfExists
  forms, with the request's context keys), and the bucket's policy (its Deny statements; the
  connection is TLS, so aws:SecureTransport is "true"). CopyObject and UploadPartCopy need
  s3:GetObject on the source as well; HeadBucket needs s3:ListBucket, with no s3:prefix.
- KMS (SSE-KMS buckets and SecureString parameters): reading an object of a bucket whose default
  encryption is a KMS key needs kms:Decrypt on that key, writing one kms:GenerateDataKey, a
  multipart upload both; a SecureString read with decryption needs kms:Decrypt on its key. Each is
  allowed only when the key's policy allows it: the default key policy (a key made without one, as
  the plan makes them) leaves it to the caller's identity policies, evaluated with the context S3 or
  SSM gives KMS (kms:ViaService, kms:CallerAccount); a key policy of its own is evaluated with its
  principals (the account's root: then the identity policies decide too). Denied: 403 AccessDenied.
- S3's answer for a key that does not exist: 404 NoSuchKey only to a caller who may s3:ListBucket
  the bucket (evaluated without s3:prefix), 403 AccessDenied to anyone else.
- The clock: a request dated more than 15 minutes from the double's clock is RequestTimeTooSkewed
  (`clock_offset` moves the double's clock, as a host's clock off by that much would look).
A request the double cannot map to an IAM action is refused with "DoubleDoesNotKnow": the test
fails until the double is taught, never passes by default.

After the checks, the proxy re-signs the request for moto with the same key (moto recomputes
signatures with botocore's choices, which differ from restic's and curl's legitimate ones) and
forwards it. Moto's own IAM model differs in places (it ignores StringLike conditions, names
HeadBucket's permission s3:HeadBucket and CloudWatch's actions monitoring:*, sees no resource for
SSM or CloudWatch): `moto_policy`
translates a plan policy into what moto can evaluate, and the proxy holds the exact check.

Where this is still looser than AWS (also listed in docs/development.md, "Not verified here"): KMS
grants, key states (disabled, pending deletion) and encryption context conditions; S3 Bucket Keys
(S3 calls KMS less often with them, the permissions are the same); service control policies and
permission boundaries; conditions other than the ones above (the double refuses them rather than
guessing); S3 Object Lock retention arithmetic (moto's); request rate limits and eventual
consistency.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import re
import ssl
import subprocess
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Optional

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNED_PAYLOAD_VALUES = ("UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")


class Refused(Exception):
    """A request AWS would refuse: status, code and message as AWS answers."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class DoubleDoesNotKnow(Refused):
    def __init__(self, message: str):
        super().__init__(501, "DoubleDoesNotKnow", message)


# -- IAM policy evaluation ------------------------------------------------------------------------

def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _condition_holds(operator: str, key: str, expected: list, context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator[:-len("IfExists")] if if_exists else operator
    if key not in context:
        return if_exists or base.startswith(("StringNot", "ArnNot"))  # AWS: a missing key never matches
    value = context[key]
    if base == "StringEquals":
        return value in [str(e) for e in expected]
    if base == "StringNotEquals":
        return value not in [str(e) for e in expected]
    if base == "StringLike":
        return any(_wildcard(str(e), value) for e in expected)
    if base == "StringNotLike":
        return not any(_wildcard(str(e), value) for e in expected)
    if base == "Bool":
        return value.lower() in [str(e).lower() for e in expected]
    raise DoubleDoesNotKnow(f"condition operator {operator} is not evaluated by this double")


def statement_applies(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise DoubleDoesNotKnow(f"{unsupported} is not evaluated by this double")
    if not any(_wildcard(a, action, case_sensitive=False) for a in _as_list(statement["Action"])):
        return False
    if not any(_wildcard(r, resource) for r in _as_list(statement.get("Resource", "*"))):
        return False
    for operator, pairs in statement.get("Condition", {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, _as_list(expected), context):
                return False
    return True


def evaluate(policies: list[dict], action: str, resource: str, context: dict[str, str]) -> Optional[str]:
    """None when allowed; otherwise why not. Explicit deny wins over any allow; default deny."""
    allowed = False
    for policy in policies:
        for statement in _as_list(policy["Statement"]):
            if statement_applies(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    return f"explicitly denied ({statement.get('Sid', 'no Sid')})"
                allowed = True
    return None if allowed else "no statement allows it"


def moto_policy(document: dict) -> dict:
    """The same policy in the terms moto's IAM evaluates (see the module docstring): s3:HeadBucket
    beside s3:ListBucket, resources of services moto has no resource model for widened to "*".
    The proxy evaluates the untranslated document."""
    statements = []
    for statement in _as_list(document["Statement"]):
        statement = dict(statement)
        actions = _as_list(statement["Action"])
        if "s3:ListBucket" in actions:
            actions = [*actions, "s3:HeadBucket"]
        # moto names an action after the credential scope's service: CloudWatch signs as "monitoring"
        actions += [f"monitoring:{a.split(':', 1)[1]}" for a in actions if a.startswith("cloudwatch:")]
        statement["Action"] = actions
        if not all(a.lower().startswith("s3:") for a in actions):
            statement["Resource"] = "*"
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


# -- mapping a request to what IAM checks ---------------------------------------------------------

@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict = field(default_factory=dict, hash=False)


def _s3_checks(method: str, bucket: str, key: str, query: dict[str, str], headers, body: bytes) -> list[Check]:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    if not bucket:
        if method == "GET":
            return [Check("s3:ListAllMyBuckets", "*")]
        raise DoubleDoesNotKnow(f"{method} / is not mapped")
    if not key:
        if method == "HEAD":
            return [Check("s3:ListBucket", bucket_arn)]
        if method == "GET":
            for sub, action in (("location", "s3:GetBucketLocation"), ("uploads", "s3:ListBucketMultipartUploads"),
                                ("versions", "s3:ListBucketVersions"), ("object-lock", "s3:GetBucketObjectLockConfiguration"),
                                ("versioning", "s3:GetBucketVersioning")):
                if sub in query:
                    return [Check(action, bucket_arn)]
            unknown = set(query) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                    "start-after", "marker", "encoding-type", "fetch-owner"}
            if unknown:
                raise DoubleDoesNotKnow(f"GET bucket with {sorted(unknown)} is not mapped")
            context = {"s3:prefix": query["prefix"]} if "prefix" in query else {}
            if "delimiter" in query:
                context["s3:delimiter"] = query["delimiter"]
            if "max-keys" in query:
                context["s3:max-keys"] = query["max-keys"]
            return [Check("s3:ListBucket", bucket_arn, context)]
        if method == "POST" and "delete" in query:
            keys = [e.text or "" for e in ET.fromstring(body).iter() if e.tag.endswith("Key")]
            return [Check("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys]
        raise DoubleDoesNotKnow(f"{method} on a bucket with {sorted(query)} is not mapped")
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [Check("s3:ListMultipartUploadParts", object_arn)]
        for sub, action in (("tagging", "s3:GetObjectTagging"), ("retention", "s3:GetObjectRetention"),
                            ("legal-hold", "s3:GetObjectLegalHold"), ("acl", "s3:GetObjectAcl")):
            if sub in query:
                return [Check(action, object_arn)]
        return [Check("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", object_arn)]
    if method == "PUT":
        for sub, action in (("tagging", "s3:PutObjectTagging"), ("retention", "s3:PutObjectRetention"),
                            ("legal-hold", "s3:PutObjectLegalHold"), ("acl", "s3:PutObjectAcl")):
            if sub in query:
                return [Check(action, object_arn)]
        checks = [Check("s3:PutObject", object_arn)]
        source = headers.get("x-amz-copy-source")
        if source:
            source = urllib.parse.unquote(source.lstrip("/"))
            source_key, _, version = source.partition("?versionId=")
            checks.append(Check("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{source_key}"))
        if headers.get("x-amz-bypass-governance-retention", "").lower() == "true":
            checks.append(Check("s3:BypassGovernanceRetention", object_arn))
        return checks
    if method == "POST" and ("uploads" in query or "uploadId" in query):
        return [Check("s3:PutObject", object_arn)]
    if method == "DELETE":
        if "uploadId" in query:
            return [Check("s3:AbortMultipartUpload", object_arn)]
        return [Check("s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject", object_arn)]
    raise DoubleDoesNotKnow(f"{method} on an object with {sorted(query)} is not mapped")


def _service_checks(service: str, region: str, account: str, headers, body: bytes) -> list[Check]:
    target = headers.get("x-amz-target", "")
    if service == "ssm" and target.startswith("AmazonSSM."):
        operation = target.split(".", 1)[1]
        payload = json.loads(body or b"{}")
        names = payload.get("Names") or [payload.get("Name", "")]
        if operation not in ("GetParameter", "GetParameters"):
            raise DoubleDoesNotKnow(f"ssm {operation} is not mapped")
        return [Check(f"ssm:{operation}", n if n.startswith("arn:") else
                      f"arn:aws:ssm:{region}:{account}:parameter/{n.lstrip('/')}",
                      {"with_decryption": "true" if payload.get("WithDecryption") else "false", "name": n})
                for n in names]
    if service == "monitoring" and target == "GraniteServiceVersion20100801.PutMetricData":
        # botocore's newer CloudWatch protocol (AWS JSON 1.0); awscli 2.9 and older SDKs use the query form
        namespace = json.loads(body or b"{}").get("Namespace", "")
        return [Check("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})]
    form = urllib.parse.parse_qs(body.decode(errors="replace")) if not target else {}
    action = (form.get("Action") or [""])[0]
    if service == "sts" and action == "GetCallerIdentity":
        return []  # always allowed
    if service == "monitoring" and action == "PutMetricData":
        return [Check("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": form["Namespace"][0]})]
    raise DoubleDoesNotKnow(f"{service} request {target or action or '?'} is not mapped")


# -- SigV4 ----------------------------------------------------------------------------------------

def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_query(raw: str) -> str:
    pairs = []
    for item in raw.split("&") if raw else []:
        name, _, value = item.partition("=")
        pairs.append((urllib.parse.quote(urllib.parse.unquote(name), safe="-_.~"),
                      urllib.parse.quote(urllib.parse.unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


@dataclass(frozen=True)
class Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @classmethod
    def parse(cls, header: str) -> "Authorization":
        if not header.startswith("AWS4-HMAC-SHA256 "):
            raise Refused(400, "InvalidRequest", "only AWS4-HMAC-SHA256 is accepted")
        fields = dict(part.strip().split("=", 1) for part in header[len("AWS4-HMAC-SHA256 "):].split(","))
        try:
            access_key, date, region, service, terminator = fields["Credential"].split("/")
            assert terminator == "aws4_request"
            return cls(access_key, date, region, service, tuple(fields["SignedHeaders"].split(";")),
                       fields["Signature"])
        except (KeyError, ValueError, AssertionError):
            raise Refused(400, "AuthorizationHeaderMalformed", f"malformed authorization: {header[:80]}") from None


def verify_signature(auth: Authorization, secret: str, method: str, raw_path: str, raw_query: str,
                     headers, payload_hash: str, now: Optional[dt.datetime] = None) -> None:
    if "host" not in auth.signed_headers:
        raise Refused(403, "AccessDenied", "the host header must be signed")
    unsigned = sorted({k.lower() for k in headers.keys() if k.lower().startswith("x-amz-")} - set(auth.signed_headers))
    if unsigned:
        raise Refused(403, "AccessDenied", f"There were headers present in the request which were not signed: {unsigned}")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise Refused(403, "AccessDenied", "no valid x-amz-date") from None
    if abs(((now or dt.datetime.now(dt.timezone.utc)) - when).total_seconds()) > 900:
        raise Refused(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.")
    if amz_date[:8] != auth.date:
        raise Refused(403, "AccessDenied", "the credential scope's date is not the request's")
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in headers.get_all(name, []))}\n" for name in auth.signed_headers)
    if auth.service == "s3":
        path = urllib.parse.quote(urllib.parse.unquote(raw_path), safe="/~")
    else:
        path = urllib.parse.quote(urllib.parse.quote(urllib.parse.unquote(raw_path) or "/", safe="/~"), safe="/~")
    canonical = "\n".join([method, path, canonical_query(raw_query), canonical_headers,
                           ";".join(auth.signed_headers), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, auth.date, auth.region, auth.service), to_sign.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth.signature):
        raise Refused(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided")


def decode_aws_chunked(body: bytes, auth: Authorization, secret: str, amz_date: str) -> bytes:
    """Decode an aws-chunked payload, verifying each chunk's signature against the previous one."""
    key = signing_key(secret, auth.date, auth.region, auth.service)
    previous, payload, position = auth.signature, bytearray(), 0
    while True:
        line_end = body.index(b"\r\n", position)
        size_text, _, signature = body[position:line_end].decode().partition(";chunk-signature=")
        size = int(size_text, 16)
        chunk = body[line_end + 2:line_end + 2 + size]
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, auth.scope, previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        if hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() != signature:
            raise Refused(403, "SignatureDoesNotMatch", "a chunk signature does not match")
        payload += chunk
        previous, position = signature, line_end + 2 + size + 2
        if size == 0:
            return bytes(payload)


# -- the proxy ------------------------------------------------------------------------------------

@dataclass
class Principal:
    secret: str
    policies: list[dict]
    name: str = ""


@dataclass
class Bucket:
    region: str
    object_lock: bool = False
    policy: Optional[dict] = None
    kms_key: Optional[str] = None  # default encryption SSE-KMS with this key (ARN); None: SSE-S3


@dataclass
class KmsKey:
    arn: str
    policy: Optional[dict] = None  # None: AWS's default key policy (the account's IAM policies decide)


@dataclass
class Record:
    method: str
    path: str
    query: str
    service: str
    region: str
    principal: str
    actions: list[str]
    status: int
    error: str = ""
    headers: dict = field(default_factory=dict)


class StrictAws:
    """State of the double: who may call, which buckets exist where, what was asked."""

    def __init__(self, upstream: str, account: str):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.account = account
        self.principals: dict[str, Principal] = {}
        self.buckets: dict[str, Bucket] = {}
        self.keys: dict[str, KmsKey] = {}
        self.parameters: dict[str, str] = {}  # SecureString name -> the ARN of its KMS key
        self.records: list[Record] = []
        self.lock = threading.Lock()
        self.clock_offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.clock_offset

    def kms_refusal(self, principal: Principal, action: str, key_arn: str, via: str) -> Optional[str]:
        """Why `principal` may not use the key for `action` through the service `via`, or None."""
        key = self.keys.get(key_arn)
        if key is None:
            return f"the KMS key {key_arn} does not exist"
        context = {"aws:SecureTransport": "true", "kms:ViaService": via, "kms:CallerAccount": self.account}
        user_arn = f"arn:aws:iam::{self.account}:user/{principal.name}"
        root = f"arn:aws:iam::{self.account}:root"
        delegated = key.policy is None
        if key.policy is not None:
            for statement in _as_list(key.policy["Statement"]):
                principals = statement.get("Principal", {})
                named = principals if principals == "*" else _as_list(principals.get("AWS", []))
                if named != "*" and user_arn not in named and root not in named:
                    continue
                if not statement_applies(statement, action, key_arn, context):
                    continue
                if statement["Effect"] == "Deny":
                    return f"the key policy of {key_arn} denies {action} ({statement.get('Sid', 'no Sid')})"
                if named == "*" or user_arn in named:
                    return None  # the key policy grants it to this user itself
                delegated = True  # granted to the account: the identity policies decide
        if not delegated:
            return f"the key policy of {key_arn} does not allow {action}"
        if evaluate(principal.policies, action, key_arn, context) is None:
            return None
        return "no identity-based policy allows the " + action + " action"

    def refused(self) -> list[Record]:
        """Requests refused as unauthenticated, unauthorized or malformed (by the proxy or moto)."""
        return [r for r in self.records if r.status in (400, 403, 411, 501)]

    def check(self, method: str, raw_path: str, raw_query: str, headers, body: bytes) -> tuple[list[Check], Authorization, bytes]:
        auth = Authorization.parse(headers.get("authorization", ""))
        principal = self.principals.get(auth.access_key)
        if principal is None:
            raise Refused(403, "InvalidAccessKeyId", f"The AWS Access Key Id {auth.access_key} does not exist")
        payload = body
        if auth.service == "s3":
            claimed = headers.get("x-amz-content-sha256")
            if claimed is None:
                raise Refused(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
            if claimed not in SIGNED_PAYLOAD_VALUES and claimed != hashlib.sha256(body).hexdigest():
                raise Refused(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header does not match what was computed.")
            payload_hash = claimed
        else:
            payload_hash = hashlib.sha256(body).hexdigest()
        verify_signature(auth, principal.secret, method, raw_path, raw_query, headers, payload_hash, self.now())
        if auth.service == "s3" and headers.get("x-amz-content-sha256") == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
            payload = decode_aws_chunked(body, auth, principal.secret, headers["x-amz-date"])
        query = {urllib.parse.unquote(k): urllib.parse.unquote(v)
                 for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
        context = {"aws:SecureTransport": "true"}
        if auth.service == "s3":
            parts = urllib.parse.unquote(raw_path).lstrip("/").split("/", 1)
            bucket, key = parts[0], parts[1] if len(parts) > 1 else ""
            checks = _s3_checks(method, bucket, key, query, headers, payload)
            known = self.buckets.get(bucket)
            if known is not None:
                # AWS answers GetBucketLocation signed for us-east-1 whatever the bucket's region
                # (clients ask it to learn the region); everything else must name the bucket's.
                location_query = method == "GET" and not key and "location" in query and auth.region == "us-east-1"
                if auth.region != known.region and not location_query:
                    raise Refused(400, "AuthorizationHeaderMalformed",
                                  f"The authorization header is malformed; the region '{auth.region}' is wrong; "
                                  f"expecting '{known.region}'")
                self._check_body_digests(method, key, query, headers, payload, known)
        else:
            checks = _service_checks(auth.service, auth.region, self.account, headers, body)
        for check in checks:
            full_context = {**context, **check.context}
            why = evaluate(principal.policies, check.action, check.resource, full_context)
            if why is None and auth.service == "s3":
                bucket_policy = self.buckets.get(check.resource.split(":::", 1)[-1].split("/", 1)[0])
                if bucket_policy is not None and bucket_policy.policy is not None:
                    denied = evaluate([bucket_policy.policy], check.action, check.resource, full_context)
                    why = denied if denied and denied.startswith("explicitly") else None
            if why is not None:
                raise Refused(403, "AccessDenied",
                              f"User {principal.name or auth.access_key} is not authorized to perform "
                              f"{check.action} on {check.resource}: {why}")
        for action, key_arn, via in self._kms_uses(auth, method, checks, query):
            why = self.kms_refusal(principal, action, key_arn, via)
            if why is not None:
                raise Refused(403, "AccessDenied",
                              f"User: arn:aws:iam::{self.account}:user/{principal.name} is not authorized to perform: "
                              f"{action} on resource: {key_arn} because {why}")
        return checks, auth, payload

    def _kms_uses(self, auth: Authorization, method: str, checks: list[Check],
                  query: dict[str, str]) -> list[tuple[str, str, str]]:
        """(KMS action, key ARN, the service asking) for what the request makes S3 or SSM do with a key."""
        uses = []
        if auth.service == "ssm":
            for check in checks:
                key = self.parameters.get(check.context.get("name", ""))
                if key and check.context.get("with_decryption") == "true":
                    uses.append(("kms:Decrypt", key, f"ssm.{auth.region}.amazonaws.com"))
            return uses
        if auth.service != "s3":
            return uses
        via = f"s3.{auth.region}.amazonaws.com"
        multipart = "uploads" in query or "uploadId" in query
        for check in checks:
            bucket = self.buckets.get(check.resource.split(":::", 1)[-1].split("/", 1)[0])
            if bucket is None or bucket.kms_key is None:
                continue
            if check.action in ("s3:GetObject", "s3:GetObjectVersion") and method in ("GET", "PUT"):
                # reading the data, or a copy's source (PUT); HEAD reads no data and needs no key
                uses.append(("kms:Decrypt", bucket.kms_key, via))
            elif check.action == "s3:PutObject" and method in ("PUT", "POST"):
                uses.append(("kms:GenerateDataKey", bucket.kms_key, via))
                if multipart:  # S3 reads the parts back to complete the upload
                    uses.append(("kms:Decrypt", bucket.kms_key, via))
        return uses

    def missing_key_answer(self, auth: Authorization, method: str, raw_path: str) -> Optional[Refused]:
        """S3 answers a key that does not exist with 404 only to a caller who may list the bucket;
        anyone else gets 403 (so that a caller cannot learn which keys exist)."""
        bucket = urllib.parse.unquote(raw_path).lstrip("/").split("/", 1)[0]
        principal = self.principals[auth.access_key]
        if evaluate(principal.policies, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"aws:SecureTransport": "true"}) is None:
            return None
        return Refused(403, "AccessDenied", "Access Denied")

    @staticmethod
    def _check_body_digests(method: str, key: str, query: dict, headers, payload: bytes, bucket: Bucket) -> None:
        md5 = headers.get("content-md5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(payload).digest()).decode():
            raise Refused(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        uploads_body = method == "PUT" and key and not headers.get("x-amz-copy-source") and not (
            {"tagging", "retention", "legal-hold", "acl"} & set(query))
        if bucket.object_lock and uploads_body and md5 is None and not any(
                h.lower().startswith("x-amz-checksum-") for h in headers.keys()):
            raise Refused(400, "InvalidRequest",
                          "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
                          "with Object Lock parameters")


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def _error_body(service: str, headers, error: Refused) -> tuple[str, bytes]:
    if service in ("s3", ""):
        return "application/xml", (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{error.code}</Code>"
                                   f"<Message>{error.message}</Message></Error>").encode()
    if headers.get("x-amz-target"):
        return "application/x-amz-json-1.1", json.dumps({"__type": error.code, "message": error.message}).encode()
    return "text/xml", (f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code>"
                        f"<Message>{error.message}</Message></Error></ErrorResponse>").encode()


def _handler_for(state: StrictAws) -> type:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # the records are the log
            pass

        def date_time_string(self, timestamp: Optional[float] = None) -> str:
            """The Date header, on every answer as S3 sends it: the double's clock (clock_offset)."""
            return super().date_time_string(state.now().timestamp() if timestamp is None else timestamp)

        def _handle(self) -> None:
            body = _read_body(self)
            raw_path, _, raw_query = self.path.partition("?")
            service = region = principal = ""
            actions: list[str] = []
            try:
                try:
                    checks, auth, payload = state.check(self.command, raw_path, raw_query, self.headers, body)
                except (ValueError, KeyError, ET.ParseError) as error:
                    raise Refused(400, "InvalidRequest", f"malformed request: {error}") from None
                service, region, principal = auth.service, auth.region, auth.access_key
                actions = [c.action for c in checks]
            except Refused as error:
                if not service:
                    with contextlib.suppress(Refused):
                        parsed = Authorization.parse(self.headers.get("authorization", ""))
                        service, region, principal = parsed.service, parsed.region, parsed.access_key
                self._answer(raw_path, raw_query, service, region, principal, actions, error)
                return
            self._forward(auth, payload, raw_path, raw_query, service, region, principal, actions)

        def _answer(self, raw_path, raw_query, service, region, principal, actions, error: Refused) -> None:
            self._record(raw_path, raw_query, service, region, principal, actions, error.status, error.message)
            content_type, payload_text = _error_body(service, self.headers, error)
            self.send_response(error.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload_text)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload_text)

        def _forward(self, auth, payload, raw_path, raw_query, service, region, principal, actions) -> None:
            upstream = state.upstream
            skip = {"authorization", "x-amz-date", "x-amz-content-sha256", "host", "content-length",
                    "transfer-encoding", "connection", "x-amz-decoded-content-length", "expect"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            if headers.get("Content-Encoding", headers.get("content-encoding", "")) == "aws-chunked":
                headers = {k: v for k, v in headers.items() if k.lower() != "content-encoding"}
            url = f"{upstream.scheme}://{upstream.netloc}{raw_path}" + (f"?{raw_query}" if raw_query else "")
            request = AWSRequest(method=self.command, url=url, data=payload, headers=headers)
            secret = state.principals[auth.access_key].secret
            signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(Credentials(auth.access_key, secret), service, region)
            if service == "s3":
                request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(payload).hexdigest()
            signer.add_auth(request)
            prepared = request.prepare()
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=300)
            try:
                send_headers = dict(prepared.headers.items())
                send_headers["Content-Length"] = str(len(payload))
                connection.request(self.command, prepared.url.split(upstream.netloc, 1)[1], body=payload,
                                   headers=send_headers)
                response = connection.getresponse()
                data = response.read()
                if (response.status == 404 and service == "s3" and self.command in ("GET", "HEAD")
                        and "/" in raw_path.lstrip("/") and not raw_query):
                    refused = state.missing_key_answer(auth, self.command, raw_path)
                    if refused is not None:
                        self._answer(raw_path, raw_query, service, region, principal, actions, refused)
                        return
                self._record(raw_path, raw_query, service, region, principal, actions, response.status,
                             "" if response.status < 400 else data[:300].decode(errors="replace"))
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)) if self.command != "HEAD" else
                                 response.getheader("Content-Length", "0"))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                connection.close()

        def _record(self, path, query, service, region, principal, actions, status, error) -> None:
            with state.lock:
                state.records.append(Record(self.command, path, query, service, region, principal, actions,
                                            status, error, {k.lower(): v for k, v in self.headers.items()}))

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, localhost and the name of the location behind a shaped
    link (tests/rude_network.py); the clients trust it as their CA."""
    cert, key = directory / "proxy.crt", directory / "proxy.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:slow-location.daktela.test",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def strict_proxy(state: StrictAws, directory: Path) -> Iterator[tuple[str, Path]]:
    """Serve the double over TLS on a loopback port; yield (endpoint URL, CA certificate path)."""
    cert, key = make_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def client_tls_env(ca: Path) -> dict[str, str]:
    """What makes restic (Go), curl and awscli trust the double's certificate."""
    return {"SSL_CERT_FILE": str(ca), "CURL_CA_BUNDLE": str(ca), "AWS_CA_BUNDLE": str(ca)}


def _moto_api(moto_endpoint: str, path: str, body: bytes) -> None:
    connection = http.client.HTTPConnection(*urllib.parse.urlsplit(moto_endpoint).netloc.split(":"), timeout=10)
    connection.request("POST", f"/moto-api/{path}", body=body)
    response = connection.getresponse()
    assert response.status == 200, response.read()
    connection.close()


def enforce_iam(moto_endpoint: str) -> None:
    """From now on moto authenticates and authorizes every request (moto's INITIAL_NO_AUTH_ACTION_COUNT)."""
    _moto_api(moto_endpoint, "reset-auth", b"0")


def fresh_state(moto_endpoint: str) -> None:
    """Empty the moto server (every backend, IAM's users and keys too: moto's own reset) and stop
    enforcing IAM until `enforce_iam`, as a server just started: one server serves a test process's
    worlds one after another, without paying moto's start (about 3 s of CPU) for each."""
    _moto_api(moto_endpoint, "reset", b"")
    _moto_api(moto_endpoint, "reset-auth", b"inf")

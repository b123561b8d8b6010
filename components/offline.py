"""The offline engine: runs the Pulumi program for a stack under the SDK's mock engine, no CLI.

It records every resource the program registers (type, name, parent, provider and region, inputs
with secrets masked, the options that matter for safety) and the stack outputs, as a `Plan`.
The unit tests, `scripts/plan.py` and pull-request previews all use this one engine.
"""

from __future__ import annotations

import atexit
import contextvars
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import yaml
from google.protobuf import json_format

if TYPE_CHECKING:
    from components.config import Installation

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET = "[secret]"
UNKNOWN = "[unknown]"
MOCK_ACCOUNT = "123456789012"

# Signatures of the SDK's wire format (pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270"
_SIG_RESOURCE = "5cf8f73096256a8f31e491e813e4eb8e"
_SIG_ASSET = "c44067f5952c0a294b673a41bacd8c17"
_SIG_ARCHIVE = "0def7320c3a5731c473e5ecbe6d01bc7"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# --------------------------------------------------------------------------------------------
# Stack files


@dataclass(frozen=True)
class StackInput:
    """A stack's name and config as the engine would hand it to the program."""

    project: str
    stack: str
    config: dict[str, str]  # full key -> value as the SDK stores it (objects as JSON)
    secret_keys: tuple[str, ...] = ()


class StackFileError(Exception):
    """A stack file that cannot be read at all (not YAML, no config mapping)."""


def project_name() -> str:
    return yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["name"]


def stack_name_of(path: Path) -> str:
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith((".yaml", ".yml"))) or name.count(".") < 2:
        raise StackFileError(f"{path}: a stack file is named Pulumi.<stack>.yaml")
    return name[len("Pulumi."):].rsplit(".", 1)[0]


def read_stack_file(path: Path | str) -> StackInput:
    """Read Pulumi.<stack>.yaml. Encrypted (`secure:`) values cannot be decrypted offline: they
    become the placeholder "[secret]" and stay secret keys, as the real engine would keep them."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise StackFileError(f"{path}: is not UTF-8 text ({error.reason} at byte {error.start}); "
                             "save it as UTF-8") from None
    except (OSError, yaml.YAMLError) as error:
        raise StackFileError(f"{path}: cannot read the stack file: {error}") from None
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config:` must be a mapping of keys to values")
    values: dict[str, str] = {}
    secret_keys = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET
            secret_keys.append(key)
        else:
            values[key] = _config_value(value)
    return StackInput(project_name(), stack_name_of(path), values, tuple(sorted(secret_keys)))


def installation_of(stack: StackInput) -> "Installation":
    """The stack file's validated `daktela:installation` (raises ConfigError listing every problem),
    for the scripts that need the settings without running the program."""
    from components.config import CONFIG_NAMESPACE, INSTALLATION_KEY, installation_value, parse_installation

    return parse_installation(installation_value(stack.config.get(f"{CONFIG_NAMESPACE}:{INSTALLATION_KEY}")))


def _config_value(value: Any) -> str:
    # Pulumi hands every config value to the program as a string; objects and lists as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)


# --------------------------------------------------------------------------------------------
# The plan


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: Optional[str]  # parent URN; None for children of the stack
    provider: Optional[str]  # "<provider name> (<region>)", "default", or None for components
    custom: bool
    inputs: dict[str, Any]
    options: dict[str, Any]
    # URNs it waits for (inputs' and depends_on), for tests of ordering; not part of the plan's JSON
    dependencies: tuple[str, ...] = ()
    # URNs it had before, as the engine resolves its aliases and its parents' (a match is no replace)
    aliases: tuple[str, ...] = ()

    def to_json(self, parents: dict[str, "PlannedResource"]) -> dict:
        parent = parents.get(self.parent or "")
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": f"{parent.type}::{parent.name}" if parent else None,
            "provider": self.provider,
            "inputs": self.inputs,
            "options": self.options,
            **({"aliases": list(self.aliases)} if self.aliases else {}),
        }


@dataclass
class Plan:
    stack: str
    project: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def ordered(self) -> list[PlannedResource]:
        """Resources as a tree walk, siblings by type and name: stable whatever the registration order."""
        children: dict[Optional[str], list[PlannedResource]] = {}
        urns = {r.urn for r in self.resources}
        for resource in self.resources:
            parent = resource.parent if resource.parent in urns else None
            children.setdefault(parent, []).append(resource)
        ordered: list[PlannedResource] = []

        def walk(parent: Optional[str]) -> None:
            # Providers first: a reader sees the region before the resources that use it.
            siblings = children.get(parent, [])
            for child in sorted(siblings, key=lambda r: (not r.type.startswith("pulumi:providers:"), r.type, r.name)):
                ordered.append(child)
                walk(child.urn)

        walk(None)
        return ordered

    def to_json(self) -> dict:
        by_urn = {r.urn: r for r in self.resources}
        return {
            "stack": self.stack,
            "project": self.project,
            "resources": [r.to_json(by_urn) for r in self.ordered()],
            "outputs": self.outputs,
        }

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.ordered() if r.type == type_token]


# --------------------------------------------------------------------------------------------
# Mock engine


def _plain(value: Any) -> Any:
    """Wire-format value -> plain JSON value, secrets masked, unknowns and references named."""
    if isinstance(value, dict):
        signature = value.get(_SIG_KEY)
        if signature == _SIG_SECRET:
            return SECRET
        if signature == _SIG_RESOURCE:
            return value.get("urn")
        if signature in (_SIG_ASSET, _SIG_ARCHIVE):
            kind = "asset" if signature == _SIG_ASSET else "archive"
            detail = value.get("path") or value.get("uri") or ("text" if "text" in value else "")
            if "assets" in value:
                detail = ", ".join(sorted(value["assets"]))
            return f"[{kind} {detail}]"
        return {key: _plain(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    return value


def _fake_arn(type_token: str, name: str, region: str) -> str:
    service = type_token.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:{region}:{MOCK_ACCOUNT}:{name}"


def autoname(name: str) -> str:
    """The name the engine gives a resource without an explicit one: its resource name, a dash and
    seven random characters (here seven x's: the length is real, the value plainly is not)."""
    return f"{name}-xxxxxxx"


def _fake_id(prefix: str, name: str) -> str:
    return f"{prefix}-0{hashlib.sha256(name.encode()).hexdigest()[:16]}"


# Per-type outputs the program reads that the mock would not otherwise have (extended as
# components start reading more). Each gets (name, inputs, region) and returns extra state.
FAKE_OUTPUTS: dict[str, Callable[[str, dict, str], dict]] = {
    "aws:s3/bucket:Bucket": lambda name, inputs, region: {
        "bucket": inputs.get("bucket", autoname(name)), "arn": f"arn:aws:s3:::{inputs.get('bucket', autoname(name))}"},
    "aws:kms/key:Key": lambda name, inputs, region: {
        "keyId": _fake_id("key", name), "arn": f"arn:aws:kms:{region}:{MOCK_ACCOUNT}:key/{_fake_id('key', name)}"},
    "aws:cloudwatch/eventRule:EventRule": lambda name, inputs, region: {
        "arn": f"arn:aws:events:{region}:{MOCK_ACCOUNT}:rule/{inputs.get('name', name)}"},
    "aws:ebs/volume:Volume": lambda name, inputs, region: {
        "arn": f"arn:aws:ec2:{region}:{MOCK_ACCOUNT}:volume/{_fake_id('vol', name)}"},
    "aws:backup/vault:Vault": lambda name, inputs, region: {
        "arn": f"arn:aws:backup:{region}:{MOCK_ACCOUNT}:backup-vault:{inputs.get('name', name)}"},
    "aws:ssm/parameter:Parameter": lambda name, inputs, region: {
        "arn": f"arn:aws:ssm:{region}:{MOCK_ACCOUNT}:parameter{inputs.get('name', '/' + name)}"},
    "aws:iam/role:Role": lambda name, inputs, region: {
        "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:role/{name}", "name": inputs.get("name", name)},
    "aws:cloudwatch/logGroup:LogGroup": lambda name, inputs, region: {
        "arn": f"arn:aws:logs:{region}:{MOCK_ACCOUNT}:log-group:{inputs.get('name', name)}"},
}

# Resource types whose mock id looks like the real thing (volume ids appear in user data).
FAKE_IDS: dict[str, str] = {"aws:ebs/volume:Volume": "vol", "aws:ec2/instance:Instance": "i",
                            "aws:ec2/securityGroup:SecurityGroup": "sg"}

# Provider functions the program calls: token -> result.
FAKE_CALLS: dict[str, Callable[[dict], dict]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": MOCK_ACCOUNT, "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/plan",
        "id": MOCK_ACCOUNT, "userId": "PLAN",
    },
    "aws:ec2/getSubnet:getSubnet": lambda args: {
        "id": args.get("id"), "availabilityZone": f"zone-of-{args.get('id')}", "vpcId": f"vpc-of-{args.get('id')}",
    },
    "aws:ec2/getAmi:getAmi": lambda args: {
        "id": "ami-newest-debian-12-amd64", "name": "debian-12-amd64-newest", "architecture": "x86_64",
    },
}


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """A URN as the engine makes it (resource.NewURN): the parent's whole qualified type chain, the
    root stack's type left out."""
    qualified = parent.split("::")[2] if parent else ""
    if qualified and qualified != "pulumi:pulumi:Stack":
        type_ = f"{qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def _make_engine(recorder: "Recorder"):
    from pulumi.runtime import mocks
    from pulumi.runtime.settings import get_project, get_stack

    class RecordingMocks(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs):
            region = recorder.provider_regions.get(args.provider or "", "mock-region")
            if args.typ.startswith("pulumi:providers:"):
                region = args.inputs.get("region", region)
            state = dict(args.inputs)
            if args.typ.startswith("aws:"):
                state.setdefault("arn", _fake_arn(args.typ, args.name, region))
                state.setdefault("name", args.name)
            fake = FAKE_OUTPUTS.get(args.typ)
            if fake is not None:
                state.update(fake(args.name, args.inputs, region))
            prefix = FAKE_IDS.get(args.typ)
            if args.typ == "aws:s3/bucket:Bucket":
                return state["bucket"], state  # a bucket's id is its name
            return (_fake_id(prefix, args.name) if prefix else f"{args.name}-id"), state

        def call(self, args: mocks.MockCallArgs):
            fake = FAKE_CALLS.get(args.token)
            recorder.calls.append((args.token, args.args))
            return fake(args.args) if fake else {}

    class RecordingMonitor(mocks.MockMonitor):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # The SDK's mock keeps only the parent's last type, which would hide that moving a
            # component changes its grandchildren's URNs too.
            return engine_urn(get_stack(), get_project(), parent, type_, name)

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                recorder.record(request, response)
            return response

        def RegisterResourceOutputs(self, request):
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                recorder.outputs = _plain(json_format.MessageToDict(request.outputs))
            return super().RegisterResourceOutputs(request)

    return RecordingMocks(), RecordingMonitor


class Recorder:
    """Collects what the program registers during one run."""

    def __init__(self) -> None:
        self.resources: list[PlannedResource] = []
        self.outputs: dict[str, Any] = {}
        self.calls: list[tuple[str, dict]] = []  # provider functions called: (token, arguments)
        self.provider_regions: dict[str, str] = {}  # provider reference -> region
        self._provider_names: dict[str, str] = {}
        self._alias_urns: dict[str, tuple[str, ...]] = {}  # URN -> its aliases (children inherit them)

    def record(self, request, response) -> None:
        inputs = _plain(json_format.MessageToDict(request.object))
        custom = bool(request.custom)
        if request.type.startswith("pulumi:providers:"):
            reference = f"{response.urn}::{response.id}"
            self.provider_regions[reference] = inputs.get("region", "")
            self._provider_names[reference] = request.name
        provider = None
        if custom and not request.type.startswith("pulumi:providers:"):
            if request.provider:
                name = self._provider_names.get(request.provider, request.provider)
                provider = f"{name} ({self.provider_regions.get(request.provider, '?')})"
            else:
                provider = "default"
        self.resources.append(PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            provider=provider,
            custom=custom,
            inputs=inputs,
            options={
                "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete),
                "ignore_changes": sorted(request.ignoreChanges),
                "delete_before_replace": bool(request.deleteBeforeReplace),
                "replace_on_changes": sorted(request.replaceOnChanges),
                # a provider's own secret outputs and the program's may name the same output
                "additional_secret_outputs": sorted(set(request.additionalSecretOutputs)),
            },
            dependencies=tuple(request.dependencies),
            aliases=self._aliases(request, response.urn),
        ))

    def _aliases(self, request, urn: str) -> tuple[str, ...]:
        """The URNs the engine would look for this resource under, as its step generator resolves
        them (pkg/resource/deploy/step_generator.go, generateAliases): each alias spec collapsed to
        a URN (name, type and parent defaulting to the resource's own), then every alias of the
        parent applied to the resource and to each of its own aliases (inheritedChildAlias)."""
        stack, project = urn.split("::")[0].removeprefix("urn:pulumi:"), urn.split("::")[1]

        def urn_of(type_: str, name: str, parent: str, in_stack: str = "", in_project: str = "") -> str:
            return engine_urn(in_stack or stack, in_project or project, parent, type_, name)

        own = []
        for alias in request.aliases:
            if alias.urn:
                own.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            own.append(urn_of(spec.type or request.type, spec.name or request.name, parent, spec.stack, spec.project))
        found = list(own)
        parent_name = request.parent.split("::")[-1]
        for parent_alias in self._alias_urns.get(request.parent, ()):
            for alias in (urn, *own):
                type_, name = alias.split("::")[2].rsplit("$", 1)[-1], alias.split("::")[3]
                if name.startswith(parent_name):  # "<parent>-logs" follows its parent's old name
                    name = parent_alias.split("::")[-1] + name[len(parent_name):]
                found.append(urn_of(type_, name, parent_alias))
        self._alias_urns[urn] = tuple(dict.fromkeys(found))
        return self._alias_urns[urn]


def _close_event_loops() -> None:
    """The SDK's mock monitor makes an event loop in each worker thread it uses and never closes
    them; at interpreter exit they would complain on stderr. Close them first."""
    import asyncio
    import gc

    for candidate in gc.get_objects():
        if isinstance(candidate, asyncio.AbstractEventLoop) and not candidate.is_closed() and not candidate.is_running():
            candidate.close()


atexit.register(_close_event_loops)


def _default_program() -> Any:
    from components.program import build

    return build()


def run_program(
    stack: StackInput,
    program: Callable[[], Any] = _default_program,
    recorder: Optional[Recorder] = None,
    preview: bool = True,
) -> Plan:
    """Run `program` for `stack` under mocks and return its plan.

    Each run gets a fresh context, so runs in one process do not see each other's settings,
    config or root stack. Exceptions from the program (ConfigError among them) propagate.
    """
    recorder = recorder if recorder is not None else Recorder()
    contextvars.Context().run(_run, stack, program, recorder, preview)
    plan = Plan(stack=stack.stack, project=stack.project, resources=recorder.resources,
                outputs=recorder.outputs)
    return plan


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's `pulumi.runtime.stack.wait_for_rpcs` with one change: it waits for the outstanding
    outputs as a batch (FIRST_EXCEPTION) instead of one completion at a time (FIRST_COMPLETED),
    which registered a callback on every pending output again after each completion (270,000
    callbacks for 10 plans; BENCHMARKS.md). The same outputs are awaited, a failure still surfaces
    as soon as it happens, and outputs added meanwhile are picked up by the next round."""
    import asyncio

    from pulumi.runtime.settings import SETTINGS, _get_rpc_manager

    rpc_manager = _get_rpc_manager()
    while True:
        while len(rpc_manager.rpcs) > 0:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    raise exn from rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            while True:
                with SETTINGS.lock:
                    if len(SETTINGS.outputs) == 0:
                        break
                    pending = list(SETTINGS.outputs)
                    SETTINGS.outputs.clear()
                done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    await task  # re-raises a failed output's exception here
                if not_done:
                    with SETTINGS.lock:
                        SETTINGS.outputs.update(not_done)
        if len(rpc_manager.rpcs) == 0:
            break


def _run(stack: StackInput, program: Callable[[], Any], recorder: Recorder, preview: bool) -> None:
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import mocks, settings
    from pulumi.runtime import stack as sdk_stack
    from pulumi.runtime.sync_await import _sync_await
    from google.protobuf import empty_pb2

    fake_mocks, monitor_class = _make_engine(recorder)
    monitor = monitor_class(fake_mocks)
    settings.configure(mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=mocks.MockEngine(logging.getLogger("daktela.plan")),
        project=stack.project,
        stack=stack.stack,
        dry_run=preview,
        organization="organization",
        callbacks=None,
    ))
    runtime_config.set_all_config(dict(stack.config), list(stack.secret_keys))
    sdk_wait, sdk_stack.wait_for_rpcs = sdk_stack.wait_for_rpcs, _wait_for_rpcs  # type: ignore[assignment]
    try:
        _sync_await(sdk_stack.run_in_stack(program))
    finally:
        sdk_stack.wait_for_rpcs = sdk_wait

"""Shared test harness: the example stacks as editable dicts, a mocks runner, a moto server, golden files.

The mock engine itself is components/offline.py (the same one scripts/plan.py uses): it records
every registration (type, name, parent, provider, inputs, options) and fakes the per-type outputs
the program reads.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml

from components.config import SECRET_KEYS
from components.offline import Plan, Recorder, StackInput, project_name, run_program
from tests.moto_server import MotoDidNotStart, moto_server

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {"cloud": REPO / "Pulumi.example-cloud.yaml", "on-premise": REPO / "Pulumi.example-onprem.yaml"}
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True, scope="session")
def restic_cache_of_the_session(tmp_path_factory) -> Iterator[None]:
    """restic that tests run on this machine itself (not on a throwaway host, whose home is its own)
    caches in the session's temp directory, never in this machine's /root/.cache/restic."""
    os.environ["RESTIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("restic-cache"))
    yield
    os.environ.pop("RESTIC_CACHE_DIR", None)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output instead of comparing")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


def example_installation(hosting: str) -> dict[str, Any]:
    """The example stack's `daktela:installation` as a fresh dict to mutate."""
    document = yaml.safe_load(EXAMPLES[hosting].read_text())
    return copy.deepcopy(document["config"]["daktela:installation"])


def secret_values(hosting: str) -> dict[str, str]:
    return {s.full_key: f"s3cr3t-{s.key}" for s in SECRET_KEYS if hosting in s.hostings}


def stack_input(
    installation: Any,
    secrets: Optional[dict[str, str]] = None,
    plain: Optional[dict[str, str]] = None,
    stack: str = "test",
) -> StackInput:
    """A stack as the engine hands it over: the installation object as JSON, secrets marked secret."""
    hosting = installation.get("hosting", "cloud") if isinstance(installation, dict) else "cloud"
    secrets = secret_values(hosting) if secrets is None else secrets
    config = {"daktela:installation": json.dumps(installation, default=str)}
    config.update(secrets)
    config.update(plain or {})
    return StackInput(project_name(), stack, config, tuple(sorted(secrets)))


def plan_of(installation: Any, **kwargs: Any) -> Plan:
    return run_program(stack_input(installation, **kwargs))


def one(plan: Plan, type_token: str, name_suffix: str = ""):
    """The one resource of this type whose name ends so (fails when there are none or several)."""
    found = [r for r in plan.of_type(type_token) if r.name.endswith(name_suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def cloud_instance_files(plan: Plan) -> dict[str, dict[str, str]]:
    """Every file a cloud instance of the plan gets, {path: {mode, content}}: cloud-init's (the first
    boot's) and the job files the converger writes from the plan's S3 object."""
    user_data = one(plan, "aws:ec2/instance:Instance").inputs["userData"]
    files = {f["path"]: {"mode": f["permissions"], "content": f["content"]}
             for f in yaml.safe_load(user_data)["write_files"]}
    files.update(json.loads(one(plan, "aws:s3/bucketObjectv2:BucketObjectv2", "job-files-object").inputs["content"]))
    return files


def run_recorded(stack: StackInput) -> tuple[Optional[Exception], Recorder]:
    """Run the program; return (the exception it raised or None, what it registered)."""
    recorder = Recorder()
    try:
        run_program(stack, recorder=recorder)
    except Exception as error:  # noqa: BLE001  (the test inspects it)
        return error, recorder
    return None, recorder


def _moto_for_the_session(tmp_path_factory, name: str) -> Iterator[str]:
    try:
        with moto_server(tmp_path_factory.mktemp(name) / "moto.log") as endpoint:
            yield endpoint
    except MotoDidNotStart as error:
        pytest.fail(f"{error} (CI={IN_CI})")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """A real S3/DynamoDB API: a moto server on a loopback port, stopped after the session."""
    yield from _moto_for_the_session(tmp_path_factory, "moto")


@pytest.fixture(scope="session")
def strict_moto_server(tmp_path_factory) -> Iterator[str]:
    """The moto server behind the strict double (`fidelity.strict_world` empties it for each test's
    world): apart from `moto_endpoint`, whose state tests share and which never enforces IAM."""
    yield from _moto_for_the_session(tmp_path_factory, "strict-moto")


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint) -> dict[str, str]:
    """Fake credentials for the moto server, in this process and for scripts it starts."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-central-1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


@pytest.fixture
def test_host(tmp_path, request):
    """A throwaway customer host (tests/hosttest.py), torn down after the test. Its drives are
    sparse images: `@pytest.mark.drives(operational=2 << 30)` makes one larger at no cost."""
    from tests.hosttest import ThrowawayHost, missing_prerequisites

    missing = missing_prerequisites()
    if missing:
        message = f"the throwaway test host needs {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    marker = request.node.get_closest_marker("drives")
    host = (ThrowawayHost(tmp_path / "host", drive_sizes={"operational": 256 << 20, "archive": 320 << 20, **marker.kwargs})
            if marker else ThrowawayHost(tmp_path / "host")).start()
    try:
        yield host
    finally:
        host.stop()

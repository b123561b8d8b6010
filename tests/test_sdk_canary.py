"""Canary: what the offline engine (components/offline.py) relies on in the Pulumi SDK.

The SDK has no public "run this program under mocks and give me every registration with its
options" call; the offline plan needs exactly that, so it uses these (the pin in requirements.txt
is deliberate, and an upgrade must pass here first):
- `pulumi.runtime.mocks.MockMonitor` (subclassed: RegisterResource, RegisterResourceOutputs, and
  GetDeploymentInfo for the monitor's features), `MockSettings`, `MockEngine`;
- `pulumi.runtime.settings.configure` (what `set_mocks` does, minus the root stack it creates, which
  would take the stack outputs away from `run_in_stack`'s own root stack);
- `pulumi.runtime.run_in_stack` (public) driven by `pulumi.runtime.sync_await._sync_await` (private:
  the SDK's mock tests run the same way);
- the fields of the RegisterResourceRequest the recorder reads;
- `pulumi.runtime.stack.wait_for_rpcs`, which `run_pulumi_func` calls by that name: the engine swaps
  it for a batched wait while a plan runs.
When one of these changes, this test says which, and what to re-check: the golden plans, the PR
preview comments and `make plan` output all come from this engine.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDED_FIELDS = ("type", "name", "parent", "custom", "object", "provider", "protect", "retainOnDelete",
                   "ignoreChanges", "deleteBeforeReplace", "replaceOnChanges", "additionalSecretOutputs")
WHAT_TO_DO = ("components/offline.py relies on it; adapt the engine, re-run tests/test_golden.py and the PR "
              "preview tests, and only then move the pin in requirements.txt")


def test_the_installed_sdk_is_the_pinned_one():
    pinned = next(line.split("==")[1].strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                  if line.startswith("pulumi=="))
    installed = importlib.metadata.version("pulumi")
    assert installed == pinned, f"pulumi {installed} is installed, {pinned} is pinned: {WHAT_TO_DO}"


def test_the_mock_monitor_and_settings_have_the_shape_the_engine_uses():
    from pulumi.runtime import mocks, settings

    for method in ("RegisterResource", "RegisterResourceOutputs", "GetDeploymentInfo"):
        assert callable(getattr(mocks.MockMonitor, method, None)), f"MockMonitor.{method} is gone: {WHAT_TO_DO}"
    # MockSettings takes any keywords; the SDK's own set_mocks passes monitor_features and
    # callbacks beside Settings' parameters, and so does the offline engine
    parameters = set(inspect.signature(settings.Settings).parameters)
    parameters |= {name for name in ("monitor_features", "callbacks")
                   if f"{name}=" in inspect.getsource(mocks.set_mocks)}
    expected = {"monitor", "monitor_features", "engine", "project", "stack", "dry_run", "organization", "callbacks"}
    assert expected <= parameters, f"MockSettings lost {sorted(expected - parameters)}: {WHAT_TO_DO}"
    assert callable(getattr(mocks, "MockEngine", None)), f"MockEngine is gone: {WHAT_TO_DO}"
    assert callable(getattr(settings, "configure", None)), f"settings.configure is gone: {WHAT_TO_DO}"


def test_the_program_runner_is_there():
    from pulumi.runtime import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    assert inspect.iscoroutinefunction(run_in_stack), f"run_in_stack is no longer a coroutine: {WHAT_TO_DO}"
    assert callable(_sync_await), f"pulumi.runtime.sync_await._sync_await is gone: {WHAT_TO_DO}"


def test_the_registration_request_has_the_fields_the_recorder_reads():
    from pulumi.runtime.proto import resource_pb2

    fields = {f.name for f in resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields}
    missing = sorted(set(RECORDED_FIELDS) - fields)
    assert not missing, f"RegisterResourceRequest lost {missing}: {WHAT_TO_DO}"


def test_an_options_list_never_repeats_a_name():
    from tests.conftest import example_installation, plan_of

    plan = plan_of(example_installation("on-premise"))
    for resource in plan.resources:
        for option in ("ignore_changes", "additional_secret_outputs", "replace_on_changes"):
            values = resource.options[option]
            assert len(values) == len(set(values)), (resource.name, option, values)


def test_the_sdk_still_waits_through_the_name_the_engine_replaces():
    """The offline engine swaps `pulumi.runtime.stack.wait_for_rpcs` for a batched wait while a plan
    runs (components/offline.py, _wait_for_rpcs): the SDK must still call it by that module name."""
    from pulumi.runtime import stack

    assert "await wait_for_rpcs()" in inspect.getsource(stack.run_pulumi_func), WHAT_TO_DO
    assert list(inspect.signature(stack.wait_for_rpcs).parameters) == ["await_all_outstanding_tasks"], WHAT_TO_DO


def test_a_failing_output_still_fails_the_plan_and_the_sdk_wait_is_restored():
    import pulumi
    import pytest
    from pulumi.runtime import stack

    from components.offline import StackInput, run_program

    sdk_wait = stack.wait_for_rpcs

    def program():
        bucket = pulumi.CustomResource("test:index:Thing", "thing", {"size": 1})
        bucket.urn.apply(lambda urn: (_ for _ in ()).throw(RuntimeError(f"cannot use {urn}")))
        pulumi.export("later", pulumi.Output.from_input(1).apply(lambda v: v + 1))

    with pytest.raises(RuntimeError, match="cannot use urn:pulumi:s::p::test:index:Thing::thing"):
        run_program(StackInput("p", "s", {}), program=program)
    assert stack.wait_for_rpcs is sdk_wait
    plan = run_program(StackInput("p", "s", {}), program=lambda: pulumi.export("x", 1))
    assert plan.outputs == {"x": 1} and stack.wait_for_rpcs is sdk_wait

"""Rollouts in waves (components/rollout.py, scripts/rollout.py, .github/workflows/rollout.yml) and
the version record each installation carries (components/version.py, scripts/fleet.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.matrix import MatrixError
from components.rollout import matrix_of, plan_waves
from components.version import TOOLKIT_VERSION, VERSION_TAG
from tests.conftest import REPO, example_installation, plan_of

ROLLOUT = [sys.executable, str(REPO / "scripts" / "rollout.py")]


def test_canaries_go_first_then_growing_waves_in_name_order():
    fleet = {f"c{n:03}": n in (7, 150, 299) for n in range(300)}
    waves = plan_waves(fleet)
    assert waves[0].canary and waves[0].stacks == ("c007", "c150", "c299")
    assert [len(w.stacks) for w in waves] == [3, 5, 15, 45, 50, 50, 50, 50, 32]
    everyone = [s for w in waves for s in w.stacks]
    assert sorted(everyone) == sorted(fleet) and len(everyone) == len(set(everyone))
    assert list(waves[1].stacks) == ["c000", "c001", "c002", "c003", "c004"]
    assert plan_waves(dict(reversed(list(fleet.items())))) == waves  # a resumed rollout gets the same waves
    assert [m["wave"] for m in matrix_of(waves)][:2] == ["1-of-9", "2-of-9"] and matrix_of(waves)[0]["kind"] == "canary"


def test_without_a_canary_the_first_stack_goes_alone_and_limits_hold():
    waves = plan_waves({"beta": False, "acme": False, "zeta": False}, first=1, growth=2)
    assert [(w.canary, w.stacks) for w in waves] == [(True, ("acme",)), (False, ("beta",)), (False, ("zeta",))]
    assert plan_waves({}) == []
    with pytest.raises(MatrixError, match="257 waves"):
        plan_waves({f"s{n:04}": False for n in range(257)}, first=1, growth=1, largest=1)
    with pytest.raises(MatrixError, match="largest >= first"):
        plan_waves({"a": False}, first=10, largest=5)
    with pytest.raises(MatrixError, match="'a b'"):
        plan_waves({"a b": True})


def generated_fleet(directory: Path, size: int, canaries: set[int]) -> list[Path]:
    """`size` stack files made from the two examples (alternating), each its own installation id."""
    files = []
    for n in range(size):
        source = REPO / ("Pulumi.example-cloud.yaml" if n % 2 else "Pulumi.example-onprem.yaml")
        document = yaml.safe_load(source.read_text())
        installation = document["config"]["daktela:installation"]
        installation["id"] = f"fleet-{n:03}"
        installation["rollout"] = {"canary": n in canaries}
        path = directory / f"Pulumi.fleet-{n:03}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        files.append(path)
    return files


def test_the_command_shows_the_waves_of_the_examples_and_of_a_generated_fleet_of_300(tmp_path):
    examples = subprocess.run([*ROLLOUT, "--examples"], capture_output=True, text=True, timeout=120)
    assert examples.returncode == 0, examples.stderr
    assert examples.stdout.splitlines() == ["wave 1 of 2 (canary): 1 stack: example-cloud",
                                            "wave 2 of 2: 1 stack: example-onprem"]
    files = generated_fleet(tmp_path, 300, canaries={0, 1, 2})
    shown = subprocess.run([*ROLLOUT, *map(str, files)], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "wave 1 of 9 (canary): 3 stacks: fleet-000 fleet-001 fleet-002"
    assert lines[1] == "wave 2 of 9: 5 stacks: fleet-003 fleet-004 fleet-005 fleet-006 fleet-007"
    assert lines[-1].startswith("wave 9 of 9: 32 stacks: fleet-268 fleet-269 fleet-270 ... fleet-298 fleet-299")
    matrix = json.loads(subprocess.run([*ROLLOUT, *map(str, files), "--json", "--from-wave", "8"],
                                       capture_output=True, text=True, timeout=300).stdout)
    assert [m["wave"] for m in matrix] == ["8-of-9", "9-of-9"] and len(matrix[0]["stacks"].split()) == 50


def test_a_stack_that_cannot_be_read_stops_the_rollout_before_it_starts(tmp_path):
    files = generated_fleet(tmp_path, 3, canaries=set())
    document = yaml.safe_load(files[1].read_text())
    document["config"]["daktela:installation"]["rollout"] = {"canary": "sometimes"}
    files[1].write_text(yaml.safe_dump(document))
    run = subprocess.run([*ROLLOUT, *map(str, files)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert "Pulumi.fleet-001.yaml" in run.stderr and "installation.rollout.canary" in run.stderr


def program_copy(destination: Path) -> Path:
    for entry in ("components", "templates"):
        shutil.copytree(REPO / entry, destination / entry, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in ("__main__.py", "Pulumi.yaml", "requirements.txt"):
        shutil.copy(REPO / entry, destination / entry)
    return destination


def test_a_program_change_under_an_unbumped_version_is_refused(tmp_path):
    base = program_copy(tmp_path / "base")
    same = subprocess.run([*ROLLOUT, "--examples", "--base", str(base)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 0, same.stderr  # nothing of the program changed: stack files only
    (base / "templates" / "daktela-verify.py").write_text("# what the fleet ran before\n")
    refused = subprocess.run([*ROLLOUT, "--examples", "--base", str(base)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3 and refused.stdout == ""
    assert "templates/daktela-verify.py" in refused.stderr and f"still says {TOOLKIT_VERSION}" in refused.stderr
    version = base / "components" / "version.py"
    version.write_text(version.read_text().replace(TOOLKIT_VERSION, "2026.11.30.1"))
    bumped = subprocess.run([*ROLLOUT, "--examples", "--base", str(base)], capture_output=True, text=True, timeout=120)
    assert bumped.returncode == 0, bumped.stderr


@pytest.mark.parametrize("hosting", ["cloud", "on-premise"])
def test_every_installation_records_the_version_it_runs(hosting):
    plan = plan_of(example_installation(hosting))
    assert plan.outputs["toolkit_version"] == TOOLKIT_VERSION
    providers = [r for r in plan.resources if r.type == "pulumi:providers:aws" and r.inputs.get("defaultTags")]
    assert providers
    for provider in providers:  # every resource of these providers carries the tag
        assert json.loads(provider.inputs["defaultTags"])["tags"][VERSION_TAG] == TOOLKIT_VERSION


def test_the_fleet_view_shows_which_installations_run_this_version(tmp_path):
    from tests.test_stack_outputs import export

    states = tmp_path / "states"
    states.mkdir()
    for stack, version in (("current", TOOLKIT_VERSION), ("behind", "2026.11.30.1"), ("unversioned", None)):
        document = export({"plain": "x"})
        outputs = document["deployment"]["resources"][0]["outputs"]
        if version:
            outputs["toolkit_version"] = version
        (states / f"{stack}.json").write_text(json.dumps(document))
        shutil.copy(REPO / "Pulumi.example-cloud.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", tmp_path / "Pulumi.stateless.yaml")
    from components.fleet import fleet

    rows = {r.stack: r.version for r in fleet(sorted(tmp_path.glob("Pulumi.*.yaml")), states)}
    assert rows == {"current": TOOLKIT_VERSION, "behind": f"2026.11.30.1 (this code: {TOOLKIT_VERSION})",
                    "unversioned": "before 2026.12.02.1 (no version recorded)",
                    "stateless": "no state file stateless.json"}

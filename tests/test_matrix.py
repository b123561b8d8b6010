"""The workflows' matrices (components/matrix.py, scripts/fleet_matrix.py): any fleet size fits
GitHub's limit of 256 jobs a matrix, every stack in exactly one batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.matrix import DEFAULT_JOBS, GITHUB_MATRIX_LIMIT, MatrixError, shard, stacks_of
from tests.conftest import REPO


def fleet(size: int) -> list[str]:
    return [f"customer-{n:04}" for n in range(size)]


@pytest.mark.parametrize("size", [1, 256, 257, 1000])
@pytest.mark.parametrize("jobs", [DEFAULT_JOBS, GITHUB_MATRIX_LIMIT])
def test_every_stack_is_in_exactly_one_batch_and_no_matrix_passes_the_limit(size, jobs):
    stacks = fleet(size)
    matrix = shard(list(reversed(stacks)), jobs)
    assert 1 <= len(matrix) <= min(jobs, GITHUB_MATRIX_LIMIT, size)
    batched = [name for entry in matrix for name in entry["stacks"].split(" ")]
    assert sorted(batched) == stacks and len(batched) == len(set(batched))
    sizes = [len(entry["stacks"].split(" ")) for entry in matrix]
    assert max(sizes) - min(sizes) <= 1  # balanced
    assert [entry["batch"] for entry in matrix] == [f"{n}-of-{len(matrix)}" for n in range(1, len(matrix) + 1)]
    assert shard(stacks, jobs) == matrix  # the same fleet, the same matrix, whatever the order


def test_a_thousand_stacks_take_a_fixed_number_of_jobs():
    assert len(shard(fleet(1000))) == DEFAULT_JOBS == len(shard(fleet(257)))
    assert [len(e["stacks"].split()) for e in shard(fleet(1000))] == [50] * 20
    assert shard([]) == []


def test_names_a_batch_cannot_carry_and_impossible_sizes_are_refused():
    with pytest.raises(MatrixError, match="'my stack'.*Pulumi.my stack.yaml"):
        shard(["ok", "my stack"])
    with pytest.raises(MatrixError, match="between 1 and 256"):
        shard(["ok"], jobs=257)
    with pytest.raises(MatrixError, match="between 1 and 256"):
        shard(["ok"], jobs=0)


def test_stack_files_give_their_stacks_and_the_examples_only_when_asked():
    files = ["Pulumi.yaml", "Pulumi.acme.yaml", "Pulumi.example-cloud.yaml", "dir/Pulumi.beta-2.yaml", "x.yaml"]
    assert stacks_of(files) == ["acme", "beta-2"]
    assert stacks_of(files, include_examples=True) == ["acme", "example-cloud", "beta-2"]


def test_the_command_prints_the_matrix_and_refuses_with_the_reason(tmp_path):
    changed = tmp_path / "stacks.json"
    changed.write_text(json.dumps(fleet(300) + ["example-cloud"]))
    script = str(REPO / "scripts" / "fleet_matrix.py")
    run = subprocess.run([sys.executable, script, "--stacks-json", str(changed), "--summary"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    matrix = json.loads(run.stdout)
    assert len(matrix) == 20 and "example-cloud" not in run.stdout and "\n" not in run.stdout.strip()
    assert run.stderr.splitlines()[0] == "batch 1-of-20: 15 stacks"
    here = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=60)
    assert here.returncode == 0 and json.loads(here.stdout) == []  # this repository holds only examples
    changed.write_text(json.dumps(["fine", "not fine"]))
    refused = subprocess.run([sys.executable, script, "--stacks-json", str(changed)], capture_output=True, text=True)
    assert refused.returncode == 2 and "'not fine'" in refused.stderr and refused.stdout == ""

"""The README tells the truth: its config reference is the model's, its examples plan cleanly."""

from __future__ import annotations

import subprocess

from components.config import config_reference
from tests.conftest import REPO


def test_readme_config_reference_matches_the_model():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- config-reference:start -->\n", 1)[1].split("<!-- config-reference:end -->")[0]
    assert block == config_reference(), "run scripts/config_reference.py --write and commit README.md"


def test_make_plan_plans_every_example_stack():
    # The README's main command, as a user runs it (the venv exists: the tests run inside it).
    # Only the examples: a stack file a user added (and may not have finished) is not the tests' business.
    result = subprocess.run(["make", "plan", "STACKS=Pulumi.example-cloud.yaml Pulumi.example-onprem.yaml"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Stack example-cloud (project daktela-installation)" in result.stdout
    assert "Stack example-onprem (project daktela-installation)" in result.stdout

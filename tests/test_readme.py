"""The docs tell the truth: the config reference is the model's, the README's main command plans the
examples, every link between the docs leads somewhere."""

from __future__ import annotations

import subprocess

from components.config import config_reference
from tests.conftest import REPO


def test_readme_config_reference_matches_the_model():
    readme = (REPO / "docs" / "reference.md").read_text()
    block = readme.split("<!-- config-reference:start -->\n", 1)[1].split("<!-- config-reference:end -->")[0]
    assert block == config_reference(), "run scripts/config_reference.py --write and commit docs/reference.md"


def test_make_plan_plans_every_example_stack():
    # The README's main command, as a user runs it (the venv exists: the tests run inside it).
    # Only the examples: a stack file a user added (and may not have finished) is not the tests' business.
    result = subprocess.run(["make", "plan", "STACKS=Pulumi.example-cloud.yaml Pulumi.example-onprem.yaml"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Stack example-cloud (project daktela-installation)" in result.stdout
    assert "Stack example-onprem (project daktela-installation)" in result.stdout


def test_every_link_between_the_docs_leads_to_a_file_and_heading():
    import re

    def anchors(path):
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}

    documents = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    checked = 0
    for document in documents:
        for target, anchor in re.findall(r"\]\(([^)#\s]+\.md)(?:#([^)]+))?\)", document.read_text()):
            path = (document.parent / target).resolve()
            assert path.exists(), f"{document.name} links to {target}, which does not exist"
            if anchor:
                assert anchor in anchors(path), f"{document.name} links to {target}#{anchor}: no such heading"
            checked += 1
    assert checked >= 15
    assert len((REPO / "README.md").read_text().splitlines()) <= 160


def test_the_catalogue_map_names_only_what_exists():
    """The README's map of the catalogue's rules: every file, config key, guardrail and test it
    names exists, so a reader who follows it lands somewhere real."""
    import re

    from components import guardrails

    text = (REPO / "README.md").read_text()
    table = text.split("## Where each catalogue rule lives", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 10
    reference = config_reference()
    rule_names = set(re.findall(r'(?:Violation\(\s*|_series_alarms\(plan,\s*)"([a-z0-9-]+)"',
                                (REPO / "components" / "guardrails.py").read_text()))
    assert guardrails.GUARDRAILS and "fees-one-off-once" in rule_names
    for _, config, built, guardrail, tests in rows:
        for key in re.findall(r"`([a-z_.]+)`", config):
            assert f"`installation.{key}`" in reference, f"config key {key} is not in the model"
        for path in re.findall(r"`((?:components|templates|scripts)/[\w./-]+)`", built):
            assert (REPO / path).exists(), f"{path} does not exist"
        for name in re.findall(r"`([a-z0-9-]+)`", guardrail):
            assert name in rule_names, f"guardrail {name} does not exist"
        for test in re.findall(r"`(test_\w+\.py)`", tests.rstrip(" |")):
            assert (REPO / "tests" / test).exists(), f"tests/{test} does not exist"

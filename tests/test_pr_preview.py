"""Pull-request previews offline: comments per changed stack (golden text), the workflow file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.guardrails import Violation
from components.planview import diff_plans
from components.prcomment import render_comment
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "comments"
CODE = ("Pulumi.yaml", "__main__.py", "components", "templates", "scripts")


def checkout(root: Path) -> Path:
    root.mkdir()
    for name in CODE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    return root


def edit_stack(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"]["daktela:installation"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def compare(name: str, text: str, update_golden: bool) -> None:
    path = GOLDEN / name
    if update_golden:
        path.write_text(text)
    assert path.exists(), f"{name} is missing; create it with --update-golden"
    assert text == path.read_text(), f"{name} differs; refresh with --update-golden if intended"


# Each checkout's plan.py, wrapped to log how it is started; the base's answers --out-dir as a
# plan.py from before that option does (argparse's usage error, exit 2).
PLAN_WRAPPER = """import json, runpy, sys
from pathlib import Path
here = Path(__file__).parent
with open(here / "invocations.jsonl", "a") as log:
    log.write(json.dumps([Path(a).name for a in sys.argv[1:]]) + "\\n")
if {old} and "--out-dir" in sys.argv:
    sys.exit("usage: plan.py [-h] stack_file [stack_file ...]\\nplan.py: error: unrecognized arguments: --out-dir " + sys.argv[-1])
runpy.run_path(str(here / "plan_real.py"), run_name="__main__")
"""


def wrap_plan(checkout: Path, old: bool) -> None:
    scripts = checkout / "scripts"
    (scripts / "plan.py").rename(scripts / "plan_real.py")
    (scripts / "plan.py").write_text(PLAN_WRAPPER.format(old=old))


def invocations(checkout: Path) -> list[list[str]]:
    return [json.loads(line) for line in (checkout / "scripts" / "invocations.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def previews(tmp_path_factory):
    root = tmp_path_factory.mktemp("pr")
    base, head = checkout(root / "base"), checkout(root / "head")
    wrap_plan(base, old=True)
    wrap_plan(head, old=False)
    shutil.copy(REPO / "Pulumi.example-onprem.yaml", base / "Pulumi.acme-onprem.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", base / "Pulumi.acme-cloud.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", base / "Pulumi.unchanged.yaml")
    shutil.copy(REPO / "Pulumi.example-onprem.yaml", head / "Pulumi.acme-onprem.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", head / "Pulumi.unchanged.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", head / "Pulumi.new-customer.yaml")
    edit_stack(head / "Pulumi.acme-onprem.yaml", lambda i: (
        i["contract"]["prices"].update(installation_monthly=480.0, on_premise_setup=1600.0),
        i["on_premise"].update(archive_after_days=60)))
    out = root / "comments"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "pr_preview.py"), "--base", str(base),
                             "--head", str(head), "--out", str(out)], capture_output=True, text=True, timeout=600)
    return result, out, base, head


def test_one_comment_per_changed_stack_only(previews):
    result, out, _, _ = previews
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "stacks.json").read_text()) == ["acme-cloud", "acme-onprem", "new-customer"]
    assert not (out / "unchanged.md").exists()


def test_each_checkout_is_planned_in_one_process_and_an_older_base_one_per_stack(previews):
    """Issue 16: every plan process pays about 1.5 s of imports; a preview started one per stack."""
    _, _, base, head = previews
    assert invocations(head) == [["Pulumi.acme-onprem.yaml", "Pulumi.new-customer.yaml", "Pulumi.unchanged.yaml",
                                  "--json", "--out-dir", invocations(head)[0][-1]]]
    attempt, *single = invocations(base)
    assert attempt[-2] == "--out-dir"  # refused as by a plan.py without it; then one process per stack
    assert single == [[name, "--json"] for name in ("Pulumi.acme-cloud.yaml", "Pulumi.acme-onprem.yaml",
                                                    "Pulumi.unchanged.yaml")]


def test_changed_stack_comment(previews, update_golden):
    _, out, _, _ = previews
    text = (out / "acme-onprem.md").read_text()
    assert text.startswith("<!-- daktela-plan: acme-onprem -->\n")
    assert '    inputs.item.price.N: "1500" -> "1600"  (ignored: ignore_changes keeps the live value)' in text
    assert "guardrails: all passed" in text
    compare("changed.md", text, update_golden)


def test_added_and_removed_stack_comments(previews, update_golden):
    _, out, _, _ = previews
    added, removed = (out / "new-customer.md").read_text(), (out / "acme-cloud.md").read_text()
    assert "A new stack." in added and "\n+ aws:ec2/instance:Instance  acme-cloud-host\n" in added
    assert "its resources would be destroyed" in removed and "\n- aws:ec2/instance:Instance  acme-cloud-host\n" in removed
    compare("added.md", added, update_golden)
    compare("removed.md", removed, update_golden)


def test_secrets_never_appear_in_comments(previews):
    _, out, _, _ = previews
    for comment in out.glob("*.md"):
        text = comment.read_text()
        assert "placeholder-set-me" not in text and "s3cr3t" not in text


def test_violations_and_unplannable_stacks_are_reported():
    base = {"stack": "x", "project": "p", "resources": [], "outputs": {}}
    text = render_comment("x", diff_plans(base, base), [Violation("fees-retained", "a fee record would be deleted", "t::n")])
    assert "**1 violation(s)**" in text and "- [fees-retained] (t::n) a fee record would be deleted" in text
    broken = render_comment("x", None, [], error="installation.id: is required")
    assert "**The stack cannot be planned:**" in broken and "installation.id: is required" in broken

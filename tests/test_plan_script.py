"""scripts/plan.py as people run it: text, JSON, diff, exit codes, secrets masked. Its `main` runs
in this process with the script's argv, output streams and exit code (the imports paid once);
tests/test_newcomer.py and test_readme.py run it as a process, as `make plan` does."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import yaml

from components.offline import SECRET, StackInput, run_program
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import plan as plan_script  # noqa: E402  (scripts/plan.py)


def plan_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`scripts/plan.py ARGS` from `cwd`: exit code, stdout and stderr as the script gives them."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd):
        try:
            code = plan_script.main(list(args))
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code if isinstance(exit.code, int) else 1
    return subprocess.CompletedProcess(["scripts/plan.py", *args], code, out.getvalue(), err.getvalue())


def test_onprem_plan_lists_setup_and_both_monthly_fees_retained():
    result = plan_cli("Pulumi.example-onprem.yaml", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == "example-onprem"
    fees = {
        json.loads(r["inputs"]["item"])["record"]["S"]: r
        for r in plan["resources"] if r["type"] == "aws:dynamodb/tableItem:TableItem"
    }
    assert {"6.21", "9.03", "9.04"} <= set(fees)
    assert all(fees[code]["options"]["retain_on_delete"] for code in ("6.21", "9.03", "9.04", "contract"))
    for resource in plan["resources"]:
        assert set(resource) >= {"type", "name", "parent", "provider", "inputs", "options"}


def test_cloud_plan_lists_9_03_and_no_on_premise_fees():
    result = plan_cli("Pulumi.example-cloud.yaml", "--json")
    assert result.returncode == 0, result.stderr
    codes = [
        json.loads(r["inputs"]["item"]).get("fee_code", {}).get("S")
        for r in json.loads(result.stdout)["resources"] if r["type"] == "aws:dynamodb/tableItem:TableItem"
    ]
    assert "9.03" in codes and "9.04" not in codes and "6.21" not in codes


def test_text_plan_shows_parent_provider_and_safety_options():
    result = plan_cli("Pulumi.example-onprem.yaml")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("Stack example-onprem (project daktela-installation): ")
    block = text.split("aws:dynamodb/tableItem:TableItem  acme-onprem-fees-6.21\n")[1].split("\n    aws:")[0]
    assert "provider: acme-onprem-fees-ledger-region (eu-central-1)" in block
    assert "options:  retain_on_delete, ignore_changes=[hashKey, item, rangeKey, tableName]" in block
    assert 'item.price.N: "1500"' in block


def test_plan_output_is_the_same_on_every_run():
    first, second = plan_cli("Pulumi.example-cloud.yaml"), plan_cli("Pulumi.example-cloud.yaml")
    assert first.stdout == second.stdout and first.returncode == 0


def test_diff_shows_added_removed_and_changed_paths(tmp_path):
    base = plan_cli("Pulumi.example-cloud.yaml", "--json")
    (tmp_path / "base.json").write_text(base.stdout)
    document = yaml.safe_load((REPO / "Pulumi.example-cloud.yaml").read_text())
    installation = document["config"]["daktela:installation"]
    installation["contract"]["prices"]["storage_per_gb"] = 0.30
    installation["hosting"] = "on-premise"  # adds 9.04 and 6.21, re-parents everything
    stack_file = tmp_path / "Pulumi.example-cloud.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    same = plan_cli(str(stack_file), "--diff", str(tmp_path / "base.json"))
    assert same.returncode == 1  # the changed hosting lacks on-premise settings: config error
    assert "installation.on_premise: is required when hosting is 'on-premise'" in same.stderr

    installation["hosting"] = "cloud"
    installation["ledger"]["table"] = "ledger-2027"
    stack_file.write_text(yaml.safe_dump(document))
    result = plan_cli(str(stack_file), "--diff", str(tmp_path / "base.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Stack example-cloud: 0 to add, 3 to change, 0 to remove"  # contract, 9.03, storage
    assert '    inputs.item.price.N: "0.25" -> "0.3"' in result.stdout
    assert '    inputs.tableName: "daktela-fee-ledger" -> "ledger-2027"' in result.stdout

    as_json = json.loads(plan_cli(str(stack_file), "--diff", str(tmp_path / "base.json"), "--json").stdout)
    assert {c["path"] for d in as_json["changed"] for c in d["changes"]} >= {
        "inputs.item.price.N", "inputs.tableName",
    }


def test_diff_against_itself_is_empty(tmp_path):
    base = plan_cli("Pulumi.example-onprem.yaml", "--json")
    (tmp_path / "base.json").write_text(base.stdout)
    result = plan_cli("Pulumi.example-onprem.yaml", "--diff", str(tmp_path / "base.json"))
    assert result.stdout == "Stack example-onprem: no changes\n"


def test_bad_config_exits_1_with_every_problem_and_its_path(tmp_path):
    document = yaml.safe_load((REPO / "Pulumi.example-onprem.yaml").read_text())
    installation = document["config"]["daktela:installation"]
    installation["backup"]["times"] = ["01:00", "25:00"]
    installation["regions"]["secondary"] = "eu-central-1"
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    result = plan_cli(str(stack_file))
    assert result.returncode == 1
    assert result.stdout == ""
    assert 'installation.backup.times[1]: "25:00" is not a time of day' in result.stderr
    assert "The stack config has 1 problem:" in result.stderr  # field errors come first


def test_out_dir_writes_each_plan_or_its_error_and_exits_with_the_worst(tmp_path):
    document = yaml.safe_load((REPO / "Pulumi.example-onprem.yaml").read_text())
    document["config"]["daktela:installation"]["backup"]["times"] = ["01:00", "25:00"]
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    out = tmp_path / "plans"
    result = plan_cli(str(REPO / "Pulumi.example-cloud.yaml"), str(broken), "--json", "--out-dir", str(out))
    assert result.returncode == 1 and result.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["Pulumi.broken.yaml.error", "Pulumi.example-cloud.yaml.json"]
    assert (out / "Pulumi.example-cloud.yaml.json").read_text() == plan_cli(
        str(REPO / "Pulumi.example-cloud.yaml"), "--json").stdout  # the very plan a single run prints
    assert 'installation.backup.times[1]: "25:00" is not a time of day' in (out / "Pulumi.broken.yaml.error").read_text()
    assert plan_cli(str(broken), "--out-dir", str(out)).returncode == 2  # argparse: --out-dir needs --json


def test_unreadable_stack_file_exits_2(tmp_path):
    missing = plan_cli(str(tmp_path / "Pulumi.none.yaml"))
    assert missing.returncode == 2 and "cannot read the stack file" in missing.stderr
    misnamed = tmp_path / "stack.yaml"
    misnamed.write_text("config: {}\n")
    assert plan_cli(str(misnamed)).returncode == 2


def test_secrets_print_as_placeholder_and_never_in_clear():
    clear = "correct-horse-battery-staple"

    def program():
        aws.ssm.Parameter(
            "db-password", type="SecureString", value=pulumi.Output.secret(clear),
            opts=pulumi.ResourceOptions(provider=aws.Provider("p", region="eu-west-1")),
        )
        pulumi.export("password", pulumi.Output.secret(clear))

    plan = run_program(StackInput("daktela-installation", "secrets", {}), program=program)
    text = json.dumps(plan.to_json())
    assert clear not in text
    parameter = plan.of_type("aws:ssm/parameter:Parameter")[0]
    assert parameter.inputs["value"] == SECRET
    assert parameter.provider == "p (eu-west-1)"
    assert plan.outputs["password"] == SECRET


def test_stack_file_secure_values_stay_secret_placeholders():
    from components.offline import read_stack_file

    stack = read_stack_file(REPO / "Pulumi.example-onprem.yaml")
    assert set(stack.secret_keys) == {
        "daktela:backupRepositoryPassword", "daktela:databasePassword", "daktela:hostSshPrivateKey",
    }
    assert all(stack.config[key] == SECRET for key in stack.secret_keys)

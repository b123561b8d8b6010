"""A newcomer's dead ends, each closed (issue 12): several stacks planned and reported, secrets a stack
waits for named as commands, unreadable input reported without a traceback, a diff of a new stack
and a refusal to diff two different stacks, whole values in the text plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO

PLAN = [sys.executable, str(REPO / "scripts" / "plan.py")]


def plan(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*PLAN, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def stack_without_secrets(tmp_path, name: str = "acme"):
    document = yaml.safe_load(EXAMPLES["cloud"].read_text())
    document["config"] = {k: v for k, v in document["config"].items() if not isinstance(v, dict) or "secure" not in v}
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_every_stack_is_reported_and_the_exit_code_comes_after_all(tmp_path):
    waiting = stack_without_secrets(tmp_path)  # sorts first, as a newly onboarded stack would
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text(EXAMPLES["cloud"].read_text().replace("eu-west-1", "eu-west-9"))
    result = plan(broken, waiting, EXAMPLES["cloud"], EXAMPLES["on-premise"])
    assert result.returncode == 1  # the broken stack, after every other one was planned
    assert "Stack example-cloud" in result.stdout and "Stack example-onprem" in result.stdout
    assert "installation.regions.secondary" in result.stderr
    # a stack that only waits for its secrets is planned offline (a secret prints as [secret]
    # either way) and told the commands to run
    assert "Stack acme (project daktela-installation)" in result.stdout
    assert "planned with placeholders: stack acme waits for its secrets; set them with the Pulumi CLI:" in result.stderr
    assert "  pulumi stack select acme\n  pulumi config set --secret daktela:databasePassword" in result.stderr
    assert f"{broken}: invalid config, {waiting}: planned, " in result.stderr.splitlines()[-1]
    strict = plan(waiting, "--check")  # pulumi up would stop at the missing secrets: so does --check
    assert strict.returncode == 4 and "WAITING: stack acme waits for its secrets" in strict.stderr
    assert "guardrails: all passed" in strict.stdout  # checked on the placeholder plan
    several = plan(waiting, broken, "--check")  # an invalid stack outranks a waiting one
    assert several.returncode == 1 and "waits for its secrets" in several.stderr.splitlines()[-1]


def test_a_stack_waiting_for_its_secrets_is_said_the_same_way_by_every_tool(tmp_path):
    """Issue 25.3: plan.py said 0, --check 1 (as if invalid), fleet.py "config error", the pull
    request's comment "guardrails: all passed". Now one rule (components/stackplan.py)."""
    import json

    from components.fleet import summarise
    from components.offline import read_stack_file
    from components.planview import diff_plans
    from components.prcomment import render_comment
    from components.stackplan import plan_stack, waiting_of

    waiting = stack_without_secrets(tmp_path)
    planned = plan_stack(read_stack_file(waiting))
    keys = ["daktela:databasePassword", "daktela:backupRepositoryPassword"]
    assert list(planned.waiting) == keys and planned.hint.startswith("stack acme waits for its secrets")
    row = summarise(waiting)
    assert not row.ok and row.guardrails == "passed; waits for its secrets (scripts/plan.py Pulumi.acme.yaml says which)"
    assert row.installation == "acme-cloud" and "9.03=450.00 EUR" in row.fees  # planned, not an error row
    saved = json.loads(plan(waiting, "--json").stdout)
    assert waiting_of(saved) == keys
    comment = render_comment("acme", diff_plans({"stack": "acme", "resources": [], "outputs": {}}, saved), [],
                             waiting=waiting_of(saved))
    assert "guardrails: all passed · **waits for its secrets**" in comment
    assert "pulumi stack select acme\npulumi config set --secret daktela:databasePassword\n" in comment


def test_a_stack_file_that_is_not_utf8_is_reported_not_a_traceback(tmp_path):
    broken = tmp_path / "Pulumi.latin.yaml"
    broken.write_bytes(EXAMPLES["cloud"].read_bytes().replace(b"ACME", "ÁCME".encode("latin-1")))
    result = plan(broken)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not UTF-8 text" in result.stderr and "save it as UTF-8" in result.stderr
    from components.fleet import summarise

    row = summarise(broken)  # the fleet view reports it and goes on
    assert not row.ok and "unreadable" in row.guardrails


def test_a_base_that_is_not_a_plan_or_of_another_stack_is_refused(tmp_path):
    not_a_plan = tmp_path / "base.json"
    not_a_plan.write_text(json.dumps({"hello": 1}))
    result = plan(EXAMPLES["cloud"], "--diff", not_a_plan)
    assert result.returncode == 2 and "not a plan" in result.stderr and "Traceback" not in result.stderr
    other = tmp_path / "other.json"
    other.write_text(plan(EXAMPLES["on-premise"], "--json").stdout)
    refused = plan(EXAMPLES["cloud"], "--diff", other)
    assert refused.returncode == 2 and "is a plan of stack 'example-onprem', not of 'example-cloud'" in refused.stderr
    allowed = plan(EXAMPLES["cloud"], "--diff", other, "--other-stack")
    assert allowed.returncode == 0 and "to add" in allowed.stdout


def test_a_new_stack_diffs_as_everything_added():
    result = plan(EXAMPLES["cloud"], "--diff-new")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Stack example-cloud: 92 to add, 0 to change, 0 to remove")


def test_the_text_plan_never_cuts_a_value():
    text = plan(EXAMPLES["cloud"]).stdout
    assert "..." not in text.replace("…", "")
    [command] = [line for line in text.splitlines() if "backup --json --quiet --host acme-cloud" in line
                 and "daktela-restic-backup.content" in line]  # the job files' object, line by line
    assert command.rstrip().endswith('/srv/daktela/recordings \\\\"')  # whole, up to its last path


def test_a_script_started_by_another_python_runs_under_the_project_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DAKTELA_NO_VENV_REEXEC"}
    result = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "plan.py"), "--help"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Exit codes" in result.stdout


def test_an_absurd_price_is_a_config_error_not_a_traceback():
    from tests.conftest import example_installation, run_recorded, stack_input

    installation = example_installation("cloud")
    installation["contract"]["prices"]["installation_monthly"] = 1e30
    error, _ = run_recorded(stack_input(installation))
    assert "is not a plausible price" in str(error)


def test_without_billing_addresses_the_ops_addresses_get_the_storage_alarm():
    from tests.conftest import example_installation, plan_of

    installation = example_installation("cloud")
    installation["notifications"].pop("billing", None)
    subscriptions = [r for r in plan_of(installation).of_type("aws:sns/topicSubscription:TopicSubscription")
                     if "billing" in r.name]
    assert subscriptions and {s.inputs["endpoint"] for s in subscriptions} == set(installation["notifications"]["ops"])


SCRIPTS = sorted(p for p in (REPO / "scripts").glob("[a-z]*.py"))


def undocumented_options(help_text: str) -> list[str]:
    """The arguments in argparse's help with no text of their own: an argument line (indented two
    spaces) with nothing after its name, not followed by a deeper-indented line of help."""
    lines = help_text.splitlines()
    missing, listing = [], False
    for index, line in enumerate(lines):
        if line.endswith(":") and not line.startswith(" "):
            listing = line in ("options:", "positional arguments:")
            continue
        if not listing or not line.startswith("  ") or line.startswith("   "):
            continue
        name, _, text = line.strip().partition("  ")
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if not text.strip() and not following.startswith("    ") and not name.startswith("-h"):
            missing.append(name)
    return missing


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_says_what_it_does_in_whole_sentences_and_explains_each_option(script):
    """Issue 25.5: a description that stopped mid-sentence, options without help, a script that was
    not executable."""
    assert os.access(script, os.X_OK), f"{script.name} is not executable (chmod +x)"
    run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    description = run.stdout.split("\n\n")[1]
    assert description.rstrip().endswith((".", ":", ")")), (script.name, description)
    assert undocumented_options(run.stdout) == [], script.name


def test_the_option_check_finds_an_option_without_help():
    text = "usage: x\n\nWhat x does.\n\noptions:\n  -h, --help  show this\n  --json\n  --out OUT   where\n"
    assert undocumented_options(text) == ["--json"]


def test_the_operators_docs_show_the_probe_file_and_every_drive_identity_form():
    """Issue 25.7: the shape of --probe-outputs was only in a test, and `loop:` only in the reference."""
    import json
    import re

    from components.config import parse_installation
    from components.config.values import DRIVE_IDENTITY_FORMS
    from components.host.backup_job import job_from_outputs
    from components.host.layout import layout_from_config
    from tests.conftest import example_installation

    operate = (REPO / "docs" / "operate.md").read_text()
    shape = re.search(r"<!-- probe-outputs-shape -->\n```json\n(.*?)```", operate, re.S)
    assert shape, "docs/operate.md lost the probe file's shape"
    installation = parse_installation(example_installation("on-premise"))
    job, key_id, secret = job_from_outputs(installation, layout_from_config(installation.on_premise),
                                           json.loads(shape.group(1)))
    assert [l.bucket for l in job.locations] == ["probe-offsite-location-1-a1b2c3d", "probe-offsite-location-2-e4f5a6b"]
    assert (key_id, secret) == ("AKIAEXAMPLEKEYID0000", "example-secret")
    swapped = json.loads(shape.group(1))
    swapped["backup_locations"].reverse()  # a probe in other regions (or order) measures another path
    with pytest.raises(ValueError, match="in the same regions, in the same order"):
        job_from_outputs(installation, layout_from_config(installation.on_premise), swapped)
    forms = re.findall(r"(/dev/disk/by-id/|\w+:)<", DRIVE_IDENTITY_FORMS)
    assert forms == ["/dev/disk/by-id/", "wwn:", "serial:", "loop:"]
    section = operate.split("**Drive identities**", 1)[1].split("\n\n", 1)[0]
    assert all(f"`{form}<" in section for form in forms), section


def test_what_to_do_after_a_failed_drill_covers_every_kind_a_drill_can_record():
    """Issue 25.7: the docs did not say what to do after a failed drill. Every kind the drill (or
    the watchdog under it) can record has a row in docs/restore.md, "When a drill fails"."""
    import re

    verify = (REPO / "templates" / "daktela-verify.py").read_text()
    watchdog = (REPO / "templates" / "daktela-watchdog.py").read_text()
    kinds = set(re.findall(r'\(\s*"(\w+)", re\.compile', watchdog))  # the watchdog's kinds of a cause
    kinds |= set(re.findall(r'Failed\(.*?, "(\w+)"\)', verify))  # the drill's own
    kinds |= set(re.findall(r'"(silent|deadline)"', watchdog)) | {"failed"}  # a process that stopped talking or ran out of time; the default
    assert {"skew", "denied", "space", "unreachable", "damage", "silent", "deadline", "failed"} <= kinds, kinds
    section = (REPO / "docs" / "restore.md").read_text().split("### When a drill fails", 1)[1].split("\n## ", 1)[0]
    documented = {kind for row in section.splitlines() if row.startswith("| `")
                  for kind in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert kinds <= documented, kinds - documented


def bad_inputs(d: Path) -> dict[str, list[list[str]]]:
    """Per script, inputs a person gets wrong: files that are missing, not YAML, not JSON, the other
    hosting's stack, a folder that is not there, a value out of range. No AWS is reached: a call
    that would go out goes to a closed port on loopback."""
    missing, garbage, cloud, text = str(d / "Pulumi.nowhere.yaml"), str(d / "Pulumi.garbage.yaml"), \
        str(d / "Pulumi.cloud.yaml"), str(d / "not.json")
    key, nowhere, here = str(d / "key"), str(d / "no-such-folder"), str(d)
    closed = ["--endpoint-url", "http://127.0.0.1:1"]
    return {
        "backup_status.py": [["--targets", missing], ["--targets", text]],
        "check_connectivity.py": [[missing, "--key", key, "--outputs", text], [cloud, "--key", key, "--outputs", text],
                                  [garbage, "--key", key, "--outputs", text]],
        "check_host.py": [[missing, "--key", key], [cloud, "--key", key], [garbage, "--key", key]],
        "config_reference.py": [["--bogus"]],
        "evidence.py": [["--month", "2026-13", "--state-dir", here, "--out-dir", here],
                        ["--month", "2026-11", "--state-dir", nowhere, "--out-dir", here],
                        ["--month", "2026-11", "--state-dir", here, "--out-dir", nowhere]],
        "fleet.py": [[missing], [garbage], ["--state-dir", nowhere, cloud]],
        "fleet_health.py": [["--state-dir", nowhere], ["--state-dir", here, "--html", f"{nowhere}/x.html", *closed]],
        "fleet_matrix.py": [["--stacks-json", text], ["--stacks-json", missing], ["--jobs", "0"]],
        "fleet_run.py": [["--out", f"{nowhere}/out.json"]],
        "ledger.py": [["list"], ["list", "--installation", "acme", "--region", "eu-central-9", *closed]],
        "onboard.py": [["--stack", "a b", "--dir", here], ["--dir", nowhere, "--stack", "acme"]],
        "plan.py": [[missing], [garbage], [cloud, "--diff", text], [cloud, "--out-dir", here]],
        "pr_preview.py": [["--base", nowhere, "--head", nowhere, "--out", here]],
        "prepare_host.py": [[missing, "--key", key], [cloud, "--key", key], [garbage, "--key", key]],
        "prune.py": [["--outputs", text], ["--outputs", missing]],
        "restore.py": [[cloud, "--key", key, "--target", here], [missing, "--key", key, "--target", here]],
        "rollout.py": [["--stacks-json", text], ["--from-wave", "0", cloud], [missing]],
        "statement.py": [["--month", "2026-13", "--region", "eu-central-1"], ["--month", "2026-11", "--stack", garbage],
                         ["--month", "2026-11", "--stack", missing]],
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_answers_bad_input_with_a_message_not_a_traceback(script, tmp_path):
    """Issue 25.5: no script prints a traceback for any input a person gets wrong."""
    (tmp_path / "Pulumi.garbage.yaml").write_text("config: {{{ this is not YAML\n")
    (tmp_path / "Pulumi.cloud.yaml").write_text(EXAMPLES["cloud"].read_text())
    (tmp_path / "not.json").write_text("{not json")
    (tmp_path / "key").write_text("not a key\n")
    cases = bad_inputs(tmp_path)
    assert script.name in cases, f"{script.name}: add its bad inputs to bad_inputs()"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "eu-central-1", "AWS_MAX_ATTEMPTS": "1"}
    for arguments in cases[script.name]:
        run = subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
        said = run.stdout + run.stderr
        assert "Traceback" not in said, (script.name, arguments, said[-3000:])
        assert run.returncode != 0 and said.strip(), (script.name, arguments, run.returncode, said[-1000:])

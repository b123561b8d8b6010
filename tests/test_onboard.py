"""Onboarding end to end: answers in, a stack file that plans cleanly out; refusals write nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import SECRET_KEYS
from components.guardrails import check_plan
from components.offline import read_stack_file, run_program
from tests.conftest import REPO
from tests.onprem_fixtures import make_buckets

ONBOARD = [sys.executable, str(REPO / "scripts" / "onboard.py")]
CLOUD = ["--id", "acme", "--customer", "ACME s.r.o.", "--hosting", "cloud", "--primary-region", "eu-central-1",
         "--secondary-region", "eu-west-1", "--currency", "EUR", "--start-date", "2026-12-01",
         "--price-installation", "450", "--price-storage-per-gb", "0.25", "--ledger-region", "eu-central-1",
         "--ops-email", "ops@example.com", "--subnet-id", "subnet-0a1b2c3d4e5f60718"]


def onboard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ONBOARD, "--dir", str(cwd), *args], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def set_secrets(path: Path, hosting: str) -> None:
    """What `pulumi config set --secret` does to the file: an encrypted value per key (the CLI keeps
    the file's comments)."""
    text = path.read_text()
    document = yaml.safe_load(text)
    for secret in SECRET_KEYS:
        if hosting in secret.hostings:
            document["config"][secret.full_key] = {"secure": "v1:ciphertext"}
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    path.write_text(header + yaml.safe_dump(document))


def test_cloud_onboarding_writes_a_stack_that_plans_cleanly(tmp_path):
    result = onboard("--stack", "acme", *CLOUD, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stack = tmp_path / "Pulumi.acme.yaml"
    assert f"wrote {stack}" in result.stdout
    assert "pulumi config set --stack acme --secret daktela:databasePassword" in result.stdout
    assert "hostSshPrivateKey" not in result.stdout
    # the steps as printed, in order; the check works from any directory, --dir included
    steps = result.stdout.split("next, as a person with the Pulumi CLI", 1)[1].splitlines()[1:]
    assert steps[0] == "  pulumi stack init acme" and steps[-2] == "  pulumi preview --diff --stack acme"
    command = steps[-3].split()
    assert command[1] == str(stack) and command[2] == "--check"
    waiting = subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=120)
    # the one rule for a stack waiting for its secrets (components/stackplan.py): planned, checked, not deployable
    assert waiting.returncode == 4 and "stack acme waits for its secrets" in waiting.stderr
    assert "guardrails: all passed" in waiting.stdout
    set_secrets(stack, "cloud")
    assert subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=120).returncode == 0
    plan = run_program(read_stack_file(stack)).to_json()
    assert check_plan(plan) == []
    assert plan["outputs"]["installation"]["id"] == "acme"


def test_never_overwrites_a_stack_file(tmp_path):
    existing = tmp_path / "Pulumi.acme.yaml"
    existing.write_text("# someone's stack\n")
    result = onboard("--stack", "acme", *CLOUD, cwd=tmp_path)
    assert result.returncode == 1 and "never overwrites" in result.stderr
    assert existing.read_text() == "# someone's stack\n"


def test_bad_answers_name_their_flags_and_write_nothing(tmp_path):
    same_region = [a if a != "eu-west-1" else "eu-central-1" for a in CLOUD]
    result = onboard("--stack", "acme", *same_region, "--backup-time", "02:00", "--backup-time", "25:00",
                     "--backup-time", "18:00", cwd=tmp_path)
    assert result.returncode == 2
    assert '--backup-time: "25:00" is not a time of day' in result.stderr
    assert not list(tmp_path.glob("Pulumi.*.yaml"))
    result = onboard("--stack", "acme", *same_region, cwd=tmp_path)
    assert "--secondary-region: \"eu-central-1\" is the same region as regions.primary" in result.stderr
    missing = onboard("--stack", "acme", *CLOUD[:-2], cwd=tmp_path)
    assert missing.returncode == 2 and "missing answers: --subnet-id" in missing.stderr
    assert not list(tmp_path.glob("Pulumi.*.yaml"))



@pytest.mark.parametrize("stack", ["my stack", "../x", "a/b", "acme!"])
def test_a_stack_name_that_is_not_one_word_is_refused_before_anything_is_written(tmp_path, stack):
    """Issue 25.4: `--stack "my stack"` wrote a file `make plan` could not read; `../x` a traceback."""
    (tmp_path / "inner").mkdir()
    result = onboard("--stack", stack, *CLOUD, cwd=tmp_path / "inner")
    assert result.returncode == 2 and f"--stack {stack!r}: a stack name is one word" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.rglob("Pulumi.*"))


@pytest.mark.parametrize("installation_id", ["xn--acme", "sthree-acme"])
def test_an_id_that_would_make_bucket_names_s3_refuses_is_a_config_error(tmp_path, installation_id):
    answers = [installation_id if a == "acme" else a for a in CLOUD]
    result = onboard("--stack", "acme", *answers, cwd=tmp_path)
    assert result.returncode == 2 and "S3 refuses bucket names" in result.stderr and "--id" in result.stderr
    assert not list(tmp_path.glob("Pulumi.*.yaml"))

def onprem_answers(host, key: Path) -> list[str]:
    return ["--id", "acme-onprem", "--customer", "ACME", "--hosting", "on-premise",
            "--primary-region", "eu-central-1", "--secondary-region", "eu-west-1", "--currency", "EUR",
            "--start-date", "2026-12-01", "--price-installation", "450", "--price-storage-per-gb", "0.25",
            "--price-on-premise", "200", "--price-setup", "1500", "--ledger-region", "eu-central-1",
            "--ops-email", "ops@example.com", "--host", "127.0.0.1", "--port", str(host.port), "--user", "dkhost",
            "--key", str(key), "--accept-new-host-key",
            "--operational-drive", host.drives["operational"].identity, "--archive-drive", host.drives["archive"].identity,
            "--operational-mount", host.mount_point("operational"), "--archive-mount", host.mount_point("archive")]


def key_file(host, tmp_path: Path) -> Path:
    key = tmp_path / "key"
    key.write_text(host.client_key)
    key.chmod(0o600)
    return key


def probe(tmp_path: Path, moto_endpoint: str) -> Path:
    buckets = make_buckets(moto_endpoint)
    path = tmp_path / "probe.json"
    path.write_text(json.dumps({
        "backup_locations": [{"region": "eu-central-1", "bucket": buckets[0]}, {"region": "eu-west-1", "bucket": buckets[1]}],
        "backup_credentials": {"access_key_id": "testing", "secret_access_key": "testing"},
    }))
    return path


def test_onprem_onboarding_checks_the_host_and_connectivity_then_writes(test_host, tmp_path, aws_env, moto_endpoint):
    answers = onprem_answers(test_host, key_file(test_host, tmp_path))
    result = onboard("--stack", "acme-onprem", *answers, "--probe-outputs", str(probe(tmp_path, moto_endpoint)),
                     "--s3-endpoint", moto_endpoint, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"host key {test_host.host_fingerprint}: pinned in the stack file" in result.stdout
    assert "preparation plan: 10 step(s)" in result.stdout and "verdict: sufficient" in result.stdout
    stack = tmp_path / "Pulumi.acme-onprem.yaml"
    written = yaml.safe_load(stack.read_text())["config"]["daktela:installation"]["on_premise"]
    assert written["host"]["host_key_fingerprint"] == test_host.host_fingerprint
    assert written["drives"]["operational"]["size_bytes"] == test_host.drives["operational"].size_bytes
    assert "daktela-toolkit" not in test_host.fstab()  # onboarding changes nothing on the host
    set_secrets(stack, "on-premise")
    assert check_plan(run_program(read_stack_file(stack)).to_json()) == []


def test_onprem_preflight_failure_writes_nothing(test_host, tmp_path, aws_env, moto_endpoint):
    test_host.run(f"mkfs.ext4 -q {test_host.drives['archive'].device}")
    answers = onprem_answers(test_host, key_file(test_host, tmp_path))
    result = onboard("--stack", "acme-onprem", *answers, "--probe-outputs", str(probe(tmp_path, moto_endpoint)),
                     "--s3-endpoint", moto_endpoint, cwd=tmp_path)
    assert result.returncode == 1
    assert "onboarding stopped, nothing was written" in result.stderr and "holds a ext4 signature" in result.stderr
    assert not (tmp_path / "Pulumi.acme-onprem.yaml").exists()


def test_onprem_insufficient_connectivity_writes_nothing(test_host, tmp_path, aws_env, moto_endpoint):
    answers = onprem_answers(test_host, key_file(test_host, tmp_path))
    result = onboard("--stack", "acme-onprem", *answers, "--probe-outputs", str(probe(tmp_path, moto_endpoint)),
                     "--s3-endpoint", "http://127.0.0.1:1", cwd=tmp_path)
    assert result.returncode == 1 and "connectivity is not sufficient" in result.stderr
    assert "verdict: insufficient" in result.stdout
    assert not (tmp_path / "Pulumi.acme-onprem.yaml").exists()


CHECK_HOST = [sys.executable, str(REPO / "scripts" / "check_host.py")]


def without_host(answers: list[str]) -> list[str]:
    """Onboarding's answers for a host not reachable yet: no key, no host key, --without-host."""
    kept, skip = [], False
    for answer in answers:
        if skip:
            skip = False
            continue
        if answer == "--key":
            skip = True
            continue
        if answer != "--accept-new-host-key":
            kept.append(answer)
    return [*kept, "--without-host"]


def test_onprem_onboarding_without_a_reachable_host_writes_a_plannable_unchecked_stack(test_host, tmp_path):
    """Issue 25.1: an on-premise customer could not be onboarded before its server was reachable."""
    answers = onprem_answers(test_host, key_file(test_host, tmp_path))
    unreachable = [a if a != str(test_host.port) else "1" for a in without_host(answers)]  # nothing answers there
    result = onboard("--stack", "acme-onprem", *unreachable, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "host 127.0.0.1 NOT checked (--without-host)" in result.stdout and "check_host.py" in result.stdout
    stack = tmp_path / "Pulumi.acme-onprem.yaml"
    written = yaml.safe_load(stack.read_text())["config"]["daktela:installation"]["on_premise"]
    assert written["host_unchecked"] is True and "host_key_fingerprint" not in written["host"]
    assert "size_bytes" not in written["drives"]["operational"]
    planned = subprocess.run([sys.executable, str(REPO / "scripts" / "plan.py"), str(stack), "--check"],
                             capture_output=True, text=True, timeout=300)
    assert planned.returncode == 3 and "[onprem-host-checked]" in planned.stdout  # plannable, plainly not deployable
    assert "the host 127.0.0.1 is not checked yet (onboarded with --without-host)" in planned.stdout
    set_secrets(stack, "on-premise")
    assert {v.rule for v in check_plan(run_program(read_stack_file(stack)).to_json())} == {"onprem-host-checked"}

    # pulumi up refuses the host: the provider touches nothing on a host nobody has checked
    from components.host.errors import Refused
    from components.prepared_host import PreparedHostProvider

    host_inputs = next(r for r in run_program(read_stack_file(stack)).resources if r.name == "acme-onprem-host").inputs
    assert host_inputs["host_unchecked"] is True
    with pytest.raises(Refused, match="the host is not checked yet"):
        PreparedHostProvider().create({"address": "127.0.0.1", "port": 1, "host_unchecked": True})


def test_the_later_check_pins_the_key_records_the_sizes_measures_and_keeps_the_secrets(
        test_host, tmp_path, aws_env, moto_endpoint):
    key = key_file(test_host, tmp_path)
    result = onboard("--stack", "acme-onprem", *without_host(onprem_answers(test_host, key)), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    stack = tmp_path / "Pulumi.acme-onprem.yaml"
    set_secrets(stack, "on-premise")  # a person with the CLI may set them before the host answers
    refused = subprocess.run([*CHECK_HOST, str(stack), "--key", str(key), "--skip-connectivity-check"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "give --host-key-fingerprint" in refused.stderr
    before = stack.read_bytes()
    down = test_host.run(f"mkfs.ext4 -q {test_host.drives['archive'].device}")  # data on the archive drive
    assert down.returncode == 0
    failed = subprocess.run([*CHECK_HOST, str(stack), "--key", str(key), "--accept-new-host-key",
                             "--skip-connectivity-check"], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and "the file is unchanged" in failed.stderr and "holds a ext4 signature" in failed.stderr
    assert stack.read_bytes() == before
    test_host.run(f"wipefs -a -q {test_host.drives['archive'].device}")

    checked = subprocess.run([*CHECK_HOST, str(stack), "--key", str(key), "--accept-new-host-key",
                              "--probe-outputs", str(probe(tmp_path, moto_endpoint)), "--s3-endpoint", moto_endpoint],
                             capture_output=True, text=True, timeout=600, env=aws_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verdict: sufficient" in checked.stdout and f"host key {test_host.host_fingerprint}" in checked.stdout
    document = yaml.safe_load(stack.read_text())
    onprem = document["config"]["daktela:installation"]["on_premise"]
    assert "host_unchecked" not in onprem and onprem["host"]["host_key_fingerprint"] == test_host.host_fingerprint
    assert onprem["drives"]["archive"]["size_bytes"] == test_host.drives["archive"].size_bytes
    assert document["config"]["daktela:databasePassword"] == {"secure": "v1:ciphertext"}  # the secrets are kept
    assert stack.read_text().startswith("# Installation acme-onprem (ACME), written by scripts/onboard.py.")
    assert check_plan(run_program(read_stack_file(stack)).to_json()) == []
    assert "daktela-toolkit" not in test_host.fstab()  # nothing on the host changed

    again = subprocess.run([*CHECK_HOST, str(stack), "--key", str(key), "--skip-connectivity-check"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "is already checked" in again.stderr


def answer_at_terminal(arguments: list[str], answers: dict, cwd: Path) -> tuple[int, str]:
    """Run onboarding on a pseudo-terminal and answer each prompt as it appears (its name: answer,
    or a list of answers given in turn when the prompt comes again)."""
    import os
    import pty
    import re
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: onboarding, with the pty as its terminal
        os.execv(ONBOARD[0], [*ONBOARD, "--dir", str(cwd), *arguments])
    transcript, pending, deadline = b"", b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        transcript += chunk
        pending += chunk
        asked = re.search(rb"([a-z ]+): $", pending)
        if asked:  # a prompt: its answer, or nothing (the question stays unanswered)
            answer = answers.get(asked.group(1).decode().strip(), "")
            if isinstance(answer, list):
                answer = answer.pop(0) if answer else ""
            os.write(fd, answer.encode() + b"\n")
            pending = b""
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), transcript.decode(errors="replace")


def test_interactive_onboarding_asks_the_hostings_own_questions(tmp_path):
    """Issue 12: hosting answered at the prompt, the cloud questions were never asked."""
    given = [a for a in CLOUD]
    for flag in ("--hosting", "--subnet-id"):
        index = given.index(flag)
        del given[index:index + 2]
    code, transcript = answer_at_terminal(["--stack", "acme", *given],
                                          {"hosting": "cloud", "subnet id": "subnet-0a1b2c3d4e5f60718"}, tmp_path)
    assert code == 0, transcript
    assert "subnet id:" in transcript
    document = yaml.safe_load((tmp_path / "Pulumi.acme.yaml").read_text())
    installation = document["config"]["daktela:installation"]
    assert installation["hosting"] == "cloud" and installation["cloud"]["subnet_id"] == "subnet-0a1b2c3d4e5f60718"


def test_interactive_on_premise_onboarding_asks_for_the_host_and_drives(tmp_path):
    given = [a for a in CLOUD]
    for flag in ("--hosting", "--subnet-id"):
        index = given.index(flag)
        del given[index:index + 2]
    code, transcript = answer_at_terminal(["--stack", "acme", *given], {"hosting": "on-premise"}, tmp_path)
    for question in ("price on premise:", "price setup:", "host:", "key:", "operational drive:", "archive drive:"):
        assert question in transcript, transcript
    assert code == 2 and not (tmp_path / "Pulumi.acme.yaml").exists()  # unanswered: nothing written


def test_a_rejected_typed_answer_is_asked_again_at_once_and_nothing_shifts(tmp_path):
    """Issue 25.2: `Cloud` for the hosting printed the rule and moved on; the retyped `cloud` became
    the primary region and every later answer shifted by one."""
    given = [a for a in CLOUD]
    for flag in ("--hosting", "--primary-region", "--id"):
        index = given.index(flag)
        del given[index:index + 2]
    code, transcript = answer_at_terminal(
        ["--stack", "acme", *given],
        {"id": ["Acme", "acme"], "hosting": ["Cloud", "cloud"], "primary region": ["eu-central-9", "eu-central-1"]},
        tmp_path)
    assert code == 0, transcript
    assert "hosting: Input should be 'cloud' or 'on-premise'; type it again" in transcript
    assert 'primary region: "eu-central-9" is not an AWS region' in transcript and 'did you mean "eu-central-2"' in transcript
    assert "id: String should match pattern" in transcript and "installation id: lowercase letters" in transcript
    installation = yaml.safe_load((tmp_path / "Pulumi.acme.yaml").read_text())["config"]["daktela:installation"]
    assert (installation["id"], installation["hosting"], installation["regions"]["primary"]) == \
        ("acme", "cloud", "eu-central-1")


ONPREM_TYPED = {"hosting": "on-premise", "price on premise": "200", "price setup": "1500", "host": "cc.acme.example",
                "operational drive": "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
                "archive drive": "/dev/disk/by-id/wwn-0x5000c500a1b2c3d5"}


def without(arguments: list[str], *flags: str) -> list[str]:
    given = list(arguments)
    for flag in flags:
        index = given.index(flag)
        del given[index:index + 2]
    return given


def test_the_typed_form_asks_whether_the_host_answers_and_every_other_setting(tmp_path):
    """Issue 25.1 and 25.2: the typed form never asked for the probe or the host key and, after 18
    answers, exited 2 with every answer lost; the flags' other settings could not be typed at all."""
    code, transcript = answer_at_terminal(
        ["--stack", "acme", *without(CLOUD, "--hosting", "--subnet-id")],
        {**ONPREM_TYPED, "host reachable now": "no", "other settings": "yes", "archive after days": "60",
         "timezone": "Europe/Prague", "backup time": "01:30 13:30", "port": "2222"}, tmp_path)
    assert code == 0, transcript
    assert "key:" not in transcript  # a host not reachable yet needs no key
    for question in ("included gb:", "billing email:", "reserve hours:", "user:", "operational mount:",
                     "expected daily change gb:"):
        assert question in transcript, question  # every other flag is offered, its default kept by nothing
    installation = yaml.safe_load((tmp_path / "Pulumi.acme.yaml").read_text())["config"]["daktela:installation"]
    onprem = installation["on_premise"]
    assert onprem["host_unchecked"] is True and onprem["archive_after_days"] == 60 and onprem["host"]["port"] == 2222
    assert installation["backup"] == {"times": ["01:30", "13:30"], "timezone": "Europe/Prague"}
    assert not (tmp_path / ".onboard-acme.json").exists()  # written: the draft is gone


def test_a_run_that_stops_keeps_the_typed_answers_and_the_next_resumes_them(tmp_path):
    """Issue 25.2: answers typed before a stop were lost. The draft keeps them (owner-only), and the
    next run on a terminal asks only what is still missing; a flag given then comes first."""
    given = without(CLOUD, "--hosting", "--subnet-id", "--customer")
    code, transcript = answer_at_terminal(["--stack", "acme", *given],
                                          {**ONPREM_TYPED, "customer": "ACME s.r.o.", "host reachable now": "no",
                                           "archive drive": ""}, tmp_path)  # one answer left for later
    assert code == 2 and "missing answers: --archive-drive" in transcript
    draft = tmp_path / ".onboard-acme.json"
    assert f"your answers are kept in {draft}" in transcript
    assert draft.stat().st_mode & 0o777 == 0o600
    kept = json.loads(draft.read_text())
    assert kept["customer"] == "ACME s.r.o." and kept["host"] == "cc.acme.example" and kept["without_host"] is True

    code, again = answer_at_terminal(["--stack", "acme", *given, "--price-setup", "1600"],
                                     {"archive drive": ONPREM_TYPED["archive drive"]}, tmp_path)
    assert code == 0, again
    assert f"resuming the answers kept in {draft}" in again
    for question in ("customer:", "hosting:", "host:", "operational drive:", "host reachable now:"):
        assert question not in again, question  # resumed, not asked again
    installation = yaml.safe_load((tmp_path / "Pulumi.acme.yaml").read_text())["config"]["daktela:installation"]
    assert installation["customer"] == "ACME s.r.o." and installation["on_premise"]["host_unchecked"] is True
    assert installation["contract"]["prices"]["on_premise_setup"] == "1600"  # the flag, not the draft's 1500
    assert not draft.exists()

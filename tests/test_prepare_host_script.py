"""scripts/prepare_host.py as a person runs it against the throwaway host."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import REPO, example_installation

SCRIPT = [sys.executable, str(REPO / "scripts" / "prepare_host.py")]


def stack_for(host, tmp_path, **archive_changes) -> tuple[str, str]:
    installation = example_installation("on-premise")
    installation["on_premise"]["host"] = {
        "address": "127.0.0.1", "port": host.port, "user": "dkhost",
        "host_key_fingerprint": host.host_fingerprint,
    }
    for role, drive in host.drives.items():
        installation["on_premise"]["drives"][role] = {
            "identity": drive.identity, "size_bytes": drive.size_bytes,
            "filesystem": "ext4" if role == "operational" else "xfs",
            "mount_point": host.mount_point(role),
        }
    installation["on_premise"]["drives"]["archive"].update(archive_changes)
    stack = tmp_path / "Pulumi.test.yaml"
    stack.write_text(yaml.safe_dump({"config": {"daktela:installation": installation}}))
    key = tmp_path / "key"
    key.write_text(host.client_key)
    key.chmod(0o600)
    return str(stack), str(key)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCRIPT, *args], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_preflight_dry_run_then_apply_then_nothing_to_do(test_host, tmp_path):
    stack, key = stack_for(test_host, tmp_path)
    dry = run(stack, "--key", key, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"host key:     {test_host.host_fingerprint}" in dry.stdout
    assert "system:       Debian GNU/Linux 12 (bookworm)" in dry.stdout
    assert "    holds: nothing (blank)" in dry.stdout
    assert "redundancy: none the host shows" in dry.stdout
    assert "the archive drive is never backed up by Daktela" in dry.stdout
    assert "plan: 10 step(s)" in dry.stdout and "dry run: nothing was changed" in dry.stdout
    assert "daktela-toolkit" not in test_host.fstab()

    applied = run(stack, "--key", key)
    assert applied.returncode == 0, applied.stderr
    assert "[1/10] operational: create a GPT partition table" in applied.stdout
    assert applied.stdout.rstrip().endswith("prepared and verified")

    again = run(stack, "--key", key)
    assert again.returncode == 0 and "plan: nothing to do, the host is prepared" in again.stdout


def test_refusal_exits_1_and_wipe_needs_confirmation(test_host, tmp_path):
    test_host.run(f"mkfs.ext4 -q -L old-archive {test_host.drives['archive'].device}")
    stack, key = stack_for(test_host, tmp_path)
    refused = run(stack, "--key", key)
    assert refused.returncode == 1
    assert "holds a ext4 signature on the whole disk" in refused.stdout + refused.stderr
    assert "holds: a ext4 signature on the whole disk" in refused.stdout  # the preflight says so too

    identity = test_host.drives["archive"].identity
    stack, key = stack_for(test_host, tmp_path, allow_wipe=identity)
    unconfirmed = run(stack, "--key", key)
    assert unconfirmed.returncode == 1 and "re-run with --yes" in unconfirmed.stderr
    assert "ERASE every signature" in unconfirmed.stdout
    confirmed = run(stack, "--key", key, "--yes")
    assert confirmed.returncode == 0, confirmed.stderr


def test_wrong_host_key_exits_3_and_bad_key_file_exits_2(test_host, tmp_path):
    stack, key = stack_for(test_host, tmp_path)
    document = yaml.safe_load(open(stack))
    document["config"]["daktela:installation"]["on_premise"]["host"]["host_key_fingerprint"] = "SHA256:" + "B" * 43
    open(stack, "w").write(yaml.safe_dump(document))
    wrong = run(stack, "--key", key)
    assert wrong.returncode == 3 and "refusing to connect" in wrong.stderr
    (tmp_path / "key").chmod(0o644)
    assert run(stack, "--key", key).returncode == 2

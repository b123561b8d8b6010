"""A stack's outputs without the CLI: from `pulumi stack output --json`, `pulumi stack export`
(with and without --show-secrets) and a self-managed backend's state file, in the form Pulumi
writes them (checkpoint version 3; a secret is {"4dabf1...": "1b4706...", "ciphertext"|"plaintext"})."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.stack_outputs import OutputsError, outputs_of, require
from tests.conftest import REPO

SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
CREDENTIALS = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}
LOCATIONS = [{"region": "eu-central-1", "bucket": "b1"}, {"region": "eu-west-1", "bucket": "b2"}]


def export(secret: dict, *, state_file: bool = False) -> dict:
    deployment = {"manifest": {"time": "2026-11-26T10:00:00Z", "magic": "x", "version": "v3.200.0"},
                  "resources": [
                      {"urn": "urn:pulumi:acme::daktela-installation::pulumi:pulumi:Stack::daktela-installation-acme",
                       "custom": False, "type": "pulumi:pulumi:Stack",
                       "outputs": {"backup_locations": LOCATIONS, "backup_credentials": secret,
                                   "freshness_targets": '{"installation_id": "acme"}'}},
                      {"urn": "urn:pulumi:acme::daktela-installation::aws:s3/bucket:Bucket::b1", "custom": True,
                       "type": "aws:s3/bucket:Bucket", "outputs": {"bucket": "b1"}}]}
    if state_file:
        return {"version": 3, "checkpoint": {"stack": "urn:pulumi:acme::daktela-installation", "latest": deployment}}
    return {"version": 3, "deployment": deployment}


@pytest.mark.parametrize("document", [
    {"backup_locations": LOCATIONS, "backup_credentials": CREDENTIALS},  # stack output --json --show-secrets
    export({**SIG, "plaintext": json.dumps(CREDENTIALS)}),  # stack export --show-secrets
    export({**SIG, "plaintext": json.dumps(CREDENTIALS)}, state_file=True),  # the backend's state file
], ids=["stack-output", "stack-export", "state-file"])
def test_outputs_come_out_the_same_from_every_form(document):
    outputs = outputs_of(document)
    assert require(outputs, "backup_locations") == LOCATIONS
    assert require(outputs, "backup_credentials") == CREDENTIALS


def test_an_encrypted_secret_is_named_never_guessed():
    outputs = outputs_of(export({**SIG, "ciphertext": "AAABAD..."}))
    assert require(outputs, "backup_locations") == LOCATIONS  # the plain outputs stay usable
    with pytest.raises(OutputsError, match="output backup_credentials is an encrypted secret; export it with --show-secrets"):
        require(outputs, "backup_credentials")
    with pytest.raises(OutputsError, match="has no output 'instance_id'"):
        require(outputs, "instance_id")
    with pytest.raises(OutputsError, match="pulumi:pulumi:Stack"):
        outputs_of({"version": 3, "deployment": {"resources": []}})


def test_backup_status_reads_the_targets_from_a_state_file(tmp_path, aws_env, moto_endpoint):
    from components.freshness import Target, Watch

    watch = Watch("acme", "Daktela/acme", "eu-central-1", 28.0, (
        Target("file-level", "eu-central-1", bucket="no-such-bucket", prefix="restic/acme/snapshots/"),))
    document = export({**SIG, "ciphertext": "AAABAD..."}, state_file=True)
    document["checkpoint"]["latest"]["resources"][0]["outputs"]["freshness_targets"] = watch.to_json()
    state = tmp_path / "acme.json"
    state.write_text(json.dumps(document))
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "backup_status.py"), "--targets", str(state),
                             "--endpoint-url", moto_endpoint], capture_output=True, text=True, env=aws_env, timeout=60)
    assert result.stdout.splitlines()[0] == "Backups of acme:", result.stderr
    assert "file-level" in result.stdout and "unknown (NoSuchBucket" in result.stdout
    assert result.returncode == 1

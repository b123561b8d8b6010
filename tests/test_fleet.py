"""The fleet view over several stack files, one of them broken."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import REPO

FLEET = [sys.executable, str(REPO / "scripts" / "fleet.py")]


def test_fleet_table_and_json(tmp_path):
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", tmp_path / "Pulumi.cloud-a.yaml")
    (tmp_path / "Pulumi.onprem-b.yaml").write_text((REPO / "Pulumi.example-onprem.yaml").read_text().replace(
        "      included_storage_gb: 100\n",
        "      included_storage_gb: 100\n      price_changes:\n"
        "        - {effective_from: 2027-07-01, prices: {installation_monthly: 480}}\n"))
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  daktela:installation:\n    id: X\n")
    files = [str(p) for p in sorted(tmp_path.glob("Pulumi.*.yaml"))]
    table = subprocess.run([*FLEET, *files], capture_output=True, text=True, timeout=300)
    assert table.returncode == 1  # the broken stack fails the fleet
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["stack", "installation", "hosting", "backups", "locations", "fees", "guardrails"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "config error" in rows["broken"]
    assert "block-level + database-dump + file-level at 02:00, 10:00, 18:00 UTC" in rows["cloud-a"]
    assert "location-1 + location-2 at 01:00, 13:00 Europe/Prague" in rows["onprem-b"]
    assert "6.21=1500.00 EUR" in rows["onprem-b"] and "6.21" not in rows["cloud-a"]
    assert "9.03=450.00 EUR, " in rows["onprem-b"] and "9.03=480.00 EUR from 2027-07-01" in rows["onprem-b"]
    assert rows["cloud-a"].rstrip().endswith("passed")

    as_json = json.loads(subprocess.run([*FLEET, "--json", *files[1:]], capture_output=True, text=True).stdout)
    assert [r["hosting"] for r in as_json] == ["cloud", "on-premise"] and all(r["ok"] for r in as_json)


def test_fleet_shows_each_installations_last_restore_drills_from_its_state(tmp_path, aws_env, moto_endpoint):
    """Issue 13: the fleet view shows the last drill per installation: when, result, restore time."""
    from datetime import datetime, timedelta, timezone

    import boto3

    from components.config import parse_installation
    from components.installation import onprem_freshness_watch
    from tests.conftest import example_installation
    from tests.onprem_fixtures import make_buckets
    from tests.test_stack_outputs import SIG, export

    buckets = make_buckets(moto_endpoint)
    watch = onprem_freshness_watch(parse_installation(example_installation("on-premise")), buckets)
    document = export({**SIG, "ciphertext": "AAAB"})
    document["deployment"]["resources"][0]["outputs"]["freshness_targets"] = watch.to_json()
    states = tmp_path / "states"
    states.mkdir()
    (states / "onprem-b.json").write_text(json.dumps(document))
    shutil.copy(REPO / "Pulumi.example-onprem.yaml", tmp_path / "Pulumi.onprem-b.yaml")
    shutil.copy(REPO / "Pulumi.example-cloud.yaml", tmp_path / "Pulumi.cloud-a.yaml")  # no state given

    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    results = {
        1: {"result": "success", "time": yesterday, "last_success": yesterday,
            "last_success_seconds": {"transfer": 12.5, "rest": 40.1}},
        2: {"result": "failed", "time": yesterday, "last_success": None, "error": "restic check --read-data failed"},
    }
    for bucket, region in zip(buckets, ("eu-central-1", "eu-west-1")):
        s3 = boto3.client("s3", region_name=region, endpoint_url=moto_endpoint)
        for number, result in results.items():
            s3.put_object(Bucket=bucket, Key=f"status/acme-onprem/drill-location-{number}.json",
                          Body=json.dumps(result).encode())
    table = subprocess.run([*FLEET, str(tmp_path / "Pulumi.cloud-a.yaml"), str(tmp_path / "Pulumi.onprem-b.yaml"),
                            "--state-dir", str(states), "--endpoint-url", moto_endpoint],
                           capture_output=True, text=True, timeout=300, env=aws_env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[-3:] == ["last", "restore", "drills"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["cloud-a"].rstrip().endswith("no state file cloud-a.json")
    assert (f"location-1 fresh {yesterday[:10]} {yesterday[11:16]} (transfer 12.5 s (connectivity) + 40.1 s)"
            in rows["onprem-b"])
    assert "location-2 failed: last run " in rows["onprem-b"] and "restic check --read-data failed" in rows["onprem-b"]

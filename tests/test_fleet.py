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

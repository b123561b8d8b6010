#!/usr/bin/env python3
"""Fleet planning: the offline plan of 200 generated stacks in one process (scripts/fleet.py's
way) against single-stack plans (scripts/plan.py), run side by side on this machine.

    .venv/bin/python bench/fleet_planning.py [--stacks 200] [--singles 20] [--repeats 5]

Both are timed as whole processes (interpreter start and imports included). The single plans are
sampled (`--singles`) and scaled to the fleet size. Peak memory is each process's own maximum
resident size (wait4's rusage of that child alone), so the single plan's figure does not include
the fleet's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import ROOT, median, save


def generate(directory: Path, count: int) -> list[Path]:
    files = []
    for index in range(count):
        hosting = "cloud" if index % 2 == 0 else "onprem"
        document = yaml.safe_load((ROOT / f"Pulumi.example-{hosting}.yaml").read_text())
        installation = document["config"]["daktela:installation"]
        installation["id"] = f"customer-{index:03d}"
        installation["contract"]["prices"]["installation_monthly"] = 400 + index
        path = directory / f"Pulumi.customer-{index:03d}.yaml"
        path.write_text(yaml.safe_dump(document))
        files.append(path)
    return files


FLEET_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from components.fleet import fleet
rows = fleet([__import__('pathlib').Path(p) for p in sys.argv[1:]])
assert len(rows) == len(sys.argv) - 1 and all(r.ok for r in rows), [r for r in rows if not r.ok][:1]
"""


def run_process(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    process.returncode = 0  # reaped by wait4
    return seconds, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp), args.stacks)
        fleet_runs, fleet_memory = [], []
        for _ in range(args.repeats):
            seconds, peak = run_process([sys.executable, "-c", FLEET_SCRIPT.format(root=str(ROOT)), *map(str, files)])
            fleet_runs.append(seconds)
            fleet_memory.append(peak)
        singles, single_memory = [], []
        for path in files[: args.singles]:
            seconds, peak = run_process([sys.executable, str(ROOT / "scripts" / "plan.py"), str(path), "--json"])
            singles.append(seconds)
            single_memory.append(peak)
    fleet_seconds = median(fleet_runs)
    single_seconds = median(singles)
    save("fleet_planning", {
        "stacks": args.stacks,
        "fleet_seconds_median": round(fleet_seconds, 2),
        "fleet_seconds_min_max": [round(min(fleet_runs), 2), round(max(fleet_runs), 2)],
        "fleet_peak_rss_mib": round(max(fleet_memory) / 1024, 1),
        "single_plan_seconds_median": round(single_seconds, 2),
        "single_plan_seconds_min_max": [round(min(singles), 2), round(max(singles), 2)],
        "single_plan_peak_rss_mib": round(max(single_memory) / 1024, 1),
        "singles_sampled": args.singles,
        "singles_scaled_seconds": round(single_seconds * args.stacks, 1),
        "ratio_fleet_to_singles": round(fleet_seconds / (single_seconds * args.stacks), 3),
        "command": "python bench/fleet_planning.py",
    })


if __name__ == "__main__":
    main()

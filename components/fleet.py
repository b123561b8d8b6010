"""The fleet view: every installation's plan summarised in one row, from the stack files alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from components.config import ConfigError
from components.guardrails import check_plan
from components.names import BLOCK_COPY
from components.offline import StackFileError, read_stack_file, run_program, stack_name_of


@dataclass(frozen=True)
class FleetRow:
    stack: str
    installation: str
    hosting: str
    backups: str  # technologies or locations, with times
    locations: str  # regions
    fees: str
    guardrails: str
    ok: bool


def summarise(stack_file: Path) -> FleetRow:
    stack = stack_name_of(stack_file)
    try:
        plan = run_program(read_stack_file(stack_file)).to_json()
    except ConfigError as error:
        paths = ", ".join(p.path for p in error.problems)
        return FleetRow(stack, "-", "-", "-", "-", "-",
                        f"config error at {paths} (scripts/plan.py {stack_file.name} says what to do)", False)
    except StackFileError as error:
        return FleetRow(stack, "-", "-", "-", "-", "-", f"unreadable: {error}", False)
    outputs = plan["outputs"]
    installation = outputs.get("installation", {})
    backup = outputs.get("backup", {})
    watch = json.loads(outputs.get("freshness_targets") or "{}")
    targets = watch.get("targets", [])
    times = ", ".join(backup.get("times", []))
    # a copy is no backup run, a restore drill no backup
    scheduled = [t["technology"] for t in targets if t["technology"] != BLOCK_COPY and t.get("kind", "backup") == "backup"]
    backups = f"{' + '.join(scheduled)} at {times} {backup.get('timezone', '')}".strip()
    regions = ", ".join(dict.fromkeys(t["region"] for t in targets if t.get("kind", "backup") == "backup"))
    seen: set[str] = set()
    prices = []
    for fee in outputs.get("fees", []):  # a later price says from when
        later = f" from {fee['effective_from']}" if fee["code"] in seen and fee.get("effective_from") else ""
        prices.append(f"{fee['code']}={fee['price']} {fee['currency']}{later}")
        seen.add(fee["code"])
    fees = ", ".join(prices)
    violations = check_plan(plan)
    verdict = "passed" if not violations else f"{len(violations)} violation(s)"
    return FleetRow(stack, installation.get("id", "-"), installation.get("hosting", "-"), backups, regions,
                    fees, verdict, not violations)


def fleet(stack_files: list[Path]) -> list[FleetRow]:
    return [summarise(path) for path in sorted(stack_files)]


def render_table(rows: list[FleetRow]) -> str:
    header = ("stack", "installation", "hosting", "backups", "locations", "fees", "guardrails")
    cells = [header] + [(r.stack, r.installation, r.hosting, r.backups, r.locations, r.fees, r.guardrails) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells) + "\n"


def default_stack_files(root: Path, include_examples: bool = True) -> list[Path]:
    files = sorted(root.glob("Pulumi.*.yaml"))
    return [f for f in files if include_examples or not f.name.startswith("Pulumi.example-")]


def exit_code(rows: list[FleetRow]) -> int:
    return 0 if all(r.ok for r in rows) else 1


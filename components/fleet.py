"""The fleet view: every installation's plan summarised in one row, from the stack files alone; with
the stacks' state files, each installation's last restore drills too (read from AWS)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import Any, Callable, Optional

from components.config import ConfigError
from components.freshness import Finding, Watch, check
from components.guardrails import check_plan
from components.names import BLOCK_COPY
from components.offline import StackFileError, read_stack_file, stack_name_of
from components.stackplan import plan_stack
from components.stack_outputs import outputs_of
from components.version import TOOLKIT_VERSION


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
    drills: str = ""  # the last restore drills, when the stack's state was given
    version: str = ""  # the toolkit version the installation runs, when its state was given


def summarise(stack_file: Path) -> FleetRow:
    stack = stack_name_of(stack_file)
    try:
        planned = plan_stack(read_stack_file(stack_file))
    except ConfigError as error:
        paths = ", ".join(p.path for p in error.problems)
        return FleetRow(stack, "-", "-", "-", "-", "-",
                        f"config error at {paths} (scripts/plan.py {stack_file.name} says what to do)", False)
    except StackFileError as error:
        return FleetRow(stack, "-", "-", "-", "-", "-", f"unreadable: {error}", False)
    plan = planned.plan
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
    if planned.waiting:  # the one rule (components/stackplan.py): planned, not deployable yet
        verdict += f"; waits for its secrets (scripts/plan.py {stack_file.name} says which)"
    return FleetRow(stack, installation.get("id", "-"), installation.get("hosting", "-"), backups, regions,
                    fees, verdict, not violations and not planned.waiting)


def describe_drill(finding: Finding) -> str:
    """One drill for the fleet view: name, verdict, when it last succeeded, how long it took."""
    name = finding.technology.removeprefix("drill-")
    when = f" {finding.newest:%Y-%m-%d %H:%M}" if finding.newest else ""
    took = f" ({finding.detail.removeprefix('restore took ')})" if finding.detail and finding.newest else ""
    why = f": {finding.failed or finding.error}" if finding.failed or finding.error else ""
    return f"{name} {finding.status}{when}{took}{why}"


def drills_of(state_file: Path, client_for: Callable[[str, str], Any]) -> str:
    """The last restore drill of each drill target in the stack's state (export or state file)."""
    if not state_file.exists():
        return f"no state file {state_file.name}"
    try:
        watch = Watch.from_document(json.loads(state_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as error:  # OutputsError is a ValueError
        return f"state unreadable: {error}"
    drills = tuple(t for t in watch.targets if t.kind in ("drill", "restore-test"))
    if not drills:
        return "no drills in this stack's state (pulumi up with this version)"
    findings = check(dataclasses.replace(watch, targets=drills), client_for)
    return "; ".join(describe_drill(f) for f in findings)


def version_of(state_file: Path) -> str:
    """The toolkit version the stack's last `pulumi up` recorded (components/version.py), with a
    mark when it is not this code's: a rollout not yet there."""
    if not state_file.exists():
        return f"no state file {state_file.name}"
    try:
        outputs = outputs_of(json.loads(state_file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        return f"state unreadable: {error}"
    deployed = outputs.get("toolkit_version")
    if not isinstance(deployed, str):
        return "before 2026.12.02.1 (no version recorded)"
    return deployed if deployed == TOOLKIT_VERSION else f"{deployed} (this code: {TOOLKIT_VERSION})"


def fleet(stack_files: list[Path], state_dir: Optional[Path] = None,
          client_for: Optional[Callable[[str, str], Any]] = None) -> list[FleetRow]:
    """One row per stack file; with `state_dir` (one `<stack>.json` per stack: `pulumi stack export`
    or the backend's state file), the last restore drills read with `client_for`."""
    rows = [summarise(path) for path in sorted(stack_files)]
    if state_dir is None:
        return rows
    return [FleetRow(**{**asdict(row), "version": version_of(state_dir / f"{row.stack}.json"),
                        "drills": drills_of(state_dir / f"{row.stack}.json", client_for) if client_for else ""})
            for row in rows]


def render_table(rows: list[FleetRow]) -> str:
    header: tuple[str, ...] = ("stack", "installation", "hosting", "backups", "locations", "fees", "guardrails")
    with_version, with_drills = any(r.version for r in rows), any(r.drills for r in rows)
    if with_version:
        header += ("toolkit version",)
    if with_drills:
        header += ("last restore drills",)
    cells = [header] + [(r.stack, r.installation, r.hosting, r.backups, r.locations, r.fees, r.guardrails)
                        + ((r.version,) if with_version else ()) + ((r.drills,) if with_drills else ()) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells) + "\n"


def default_stack_files(root: Path, include_examples: bool = True) -> list[Path]:
    files = sorted(root.glob("Pulumi.*.yaml"))
    return [f for f in files if include_examples or not f.name.startswith("Pulumi.example-")]


def exit_code(rows: list[FleetRow]) -> int:
    return 0 if all(r.ok for r in rows) else 1


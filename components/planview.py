"""Reading a plan as people do: a text rendering, and the diff of two plans for pull requests.

Both work on the plan's JSON form (`Plan.to_json()`), so a base plan saved by another checkout
(`scripts/plan.py --json > base.json`) diffs against the current one without any cloud access.
Inputs that are JSON documents in a string (a DynamoDB item, an IAM policy) are read as
documents, so a change shows as `inputs.item.price.N`, not as one long changed string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

MAX_VALUE_WIDTH = 120


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            document = json.loads(value)
        except ValueError:
            return value
        if isinstance(document, (dict, list)):
            return document
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": [1]}} -> {"a.b[0]": 1}; JSON-document strings are expanded too, and long
    multi-line strings (user data, scripts) line by line as "path:<line>"."""
    value = _decoded(value)
    if isinstance(value, str) and "\n" in value and len(value) > MAX_VALUE_WIDTH:
        return {f"{prefix}:{number}": line for number, line in enumerate(value.splitlines(), 1)}
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def show(value: Any) -> str:
    """The whole value as JSON: never cut (a cut once hid /srv/daktela/recordings in a command)."""
    return json.dumps(value, sort_keys=True)


def _options_line(options: dict) -> str:
    parts = []
    for key in ("protect", "retain_on_delete", "delete_before_replace"):
        if options.get(key):
            parts.append(key)
    for key in ("ignore_changes", "replace_on_changes", "additional_secret_outputs"):
        if options.get(key):
            parts.append(f"{key}=[{', '.join(options[key])}]")
    return ", ".join(parts)


PLACEHOLDERS_NOTE = (
    "(offline: what AWS assigns at deploy is a placeholder here: ids, ARNs' account and ids, the random "
    "part of engine-made names as x's, and lookups such as the AMI and the subnet's zone)"
)


def render_text(plan: dict) -> str:
    """The whole plan, one block per resource, indented under its parent."""
    resources = plan["resources"]
    depth: dict[str, int] = {}
    lines = [
        f"Stack {plan['stack']} (project {plan['project']}): {len(resources)} resources",
        PLACEHOLDERS_NOTE,
        "",
    ]
    for resource in resources:
        level = depth.get(resource["parent"] or "", -1) + 1
        depth[f"{resource['type']}::{resource['name']}"] = level
        pad = "  " * level
        lines.append(f"{pad}{resource['type']}  {resource['name']}")
        if resource["provider"]:
            lines.append(f"{pad}    provider: {resource['provider']}")
        options = _options_line(resource["options"])
        if options:
            lines.append(f"{pad}    options:  {options}")
        for path, value in flatten(resource["inputs"]).items():
            if path:
                lines.append(f"{pad}    {path}: {show(value)}")
    lines += ["", "Outputs:"]
    lines += [f"  {path}: {show(value)}" for path, value in flatten(plan["outputs"]).items() if path]
    return "\n".join(lines) + "\n"


@dataclass
class Change:
    path: str
    before: Any
    after: Any
    ignored: bool = False  # the resource ignores changes to this input: the live value stays


@dataclass
class ResourceDiff:
    urn: str
    type: str
    name: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class PlanDiff:
    stack: str
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[ResourceDiff] = field(default_factory=list)
    outputs: list[Change] = field(default_factory=list)
    # (URN before, URN now, type, name): found under an alias, kept (its changes, if any, in `changed`)
    moved: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.outputs or self.moved)

    @property
    def counts(self) -> str:
        counts = f"{len(self.added)} to add, {len(self.changed)} to change, {len(self.removed)} to remove"
        return counts + (f", {len(self.moved)} kept under a new URN (alias)" if self.moved else "")

    def to_json(self) -> dict:
        def change(c: Change) -> dict:
            return {"path": c.path, "before": c.before, "after": c.after, "ignored": c.ignored}

        return {
            "stack": self.stack,
            "added": [{"urn": r["urn"], "type": r["type"], "name": r["name"]} for r in self.added],
            "removed": [{"urn": r["urn"], "type": r["type"], "name": r["name"]} for r in self.removed],
            "changed": [
                {"urn": d.urn, "type": d.type, "name": d.name, "changes": [change(c) for c in d.changes]}
                for d in self.changed
            ],
            "outputs": [change(c) for c in self.outputs],
            "moved": [{"from": before, "urn": now, "type": type_, "name": name}
                      for before, now, type_, name in self.moved],
        }


_MISSING = object()


def _changes(before: dict, after: dict, prefix: str, ignored_roots: Optional[set[str]] = None) -> list[Change]:
    old, new = flatten(before), flatten(after)
    changes = []
    for path in sorted(set(old) | set(new), key=lambda p: (p.split(".")[0], p)):
        a, b = old.get(path, _MISSING), new.get(path, _MISSING)
        if a == b:
            continue
        root = path.split(".")[0].split("[")[0].split(":")[0]
        changes.append(Change(
            path=f"{prefix}.{path}" if path else prefix,
            before=None if a is _MISSING else a,
            after=None if b is _MISSING else b,
            ignored=bool(ignored_roots) and root in (ignored_roots or set()),
        ))
    return changes


def diff_plans(base: dict, head: dict) -> PlanDiff:
    """What changes from `base` to `head`, resources keyed by URN. A resource whose URN is new but
    one of whose aliases is a URN of `base` is the same resource, as the engine finds it: compared,
    listed as moved, not replaced."""
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in head["resources"]}
    was = {}  # URN now -> URN before, for resources found under an alias
    for urn, new in after.items():
        if urn not in before:
            alias = next((a for a in new.get("aliases", ()) if a in before and a not in after), None)
            if alias is not None:
                was[urn] = alias
    result = PlanDiff(stack=head["stack"])
    result.added = [r for urn, r in after.items() if urn not in before and urn not in was]
    result.removed = [r for urn, r in before.items() if urn not in after and urn not in was.values()]
    result.moved = [(was[urn], urn, after[urn]["type"], after[urn]["name"]) for urn in sorted(was)]
    for urn, new in after.items():
        old = before.get(was.get(urn, urn))
        if old is None:
            continue
        ignored = set(new["options"].get("ignore_changes", []))
        changes = _changes(old["inputs"], new["inputs"], "inputs", ignored)
        changes += _changes(old["options"], new["options"], "options")
        if old.get("provider") != new.get("provider"):
            changes.append(Change("provider", old.get("provider"), new.get("provider")))
        if old.get("parent") != new.get("parent") and urn not in was:  # a move shows as `=`
            changes.append(Change("parent", old.get("parent"), new.get("parent")))
        if changes:
            result.changed.append(ResourceDiff(urn, new["type"], new["name"], changes))
    result.outputs = _changes(base.get("outputs", {}), head.get("outputs", {}), "outputs")
    return result


def render_diff(diff: PlanDiff) -> str:
    lines = [f"Stack {diff.stack}: {diff.counts}" if not diff.empty else f"Stack {diff.stack}: no changes"]
    for resource in diff.added:
        lines.append(f"+ {resource['type']}  {resource['name']}")
    for resource in diff.removed:
        lines.append(f"- {resource['type']}  {resource['name']}")
    for changed in diff.changed:
        lines.append(f"~ {changed.type}  {changed.name}")
        for change in changed.changes:
            note = "  (ignored: ignore_changes keeps the live value)" if change.ignored else ""
            lines.append(f"    {change.path}: {show(change.before)} -> {show(change.after)}{note}")
    for before, _, type_, name in diff.moved:
        lines.append(f"= {type_}  {name}  (kept through an alias from {before.split('::')[2]})")
    if diff.outputs:
        lines.append("~ outputs")
        for change in diff.outputs:
            lines.append(f"    {change.path}: {show(change.before)} -> {show(change.after)}")
    return "\n".join(lines) + "\n"

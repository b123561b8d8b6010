"""A stack's outputs from what an operator has at hand, with or without the Pulumi CLI.

Accepted, as JSON:
- `pulumi stack output --json [--show-secrets]`: the outputs themselves;
- `pulumi stack export [--show-secrets]`, or the state file of a self-managed backend (e.g.
  `.pulumi/stacks/<project>/<stack>.json` in the state bucket): the outputs of its
  `pulumi:pulumi:Stack` resource. A secret is usable only when exported with `--show-secrets`
  (its plaintext); an encrypted one is reported, never guessed.
"""

from __future__ import annotations

import json
from typing import Any

SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = "pulumi:pulumi:Stack"


class OutputsError(ValueError):
    """Not a stack's outputs, or a needed secret is encrypted; the message says what to do."""


def _reveal(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE:
            if "plaintext" in value:
                return _reveal(json.loads(value["plaintext"]), path)
            return EncryptedSecret(path)
        return {key: _reveal(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


class EncryptedSecret:
    """A secret output exported without --show-secrets: using it is an error that says so."""

    def __init__(self, path: str):
        self.path = path

    def __repr__(self) -> str:
        return f"<encrypted secret {self.path}>"


def outputs_of(document: Any) -> dict[str, Any]:
    """The stack outputs in `document` (see the module's docstring for the accepted forms)."""
    if not isinstance(document, dict):
        raise OutputsError("not a JSON object")
    deployment = document.get("deployment") if "deployment" in document else None
    if deployment is None and isinstance(document.get("checkpoint"), dict):
        deployment = document["checkpoint"].get("latest")  # a self-managed backend's state file
    if deployment is None:
        return {key: _reveal(value, key) for key, value in document.items()}
    stacks = [r for r in (deployment or {}).get("resources", []) if r.get("type") == STACK_TYPE]
    if not stacks:
        raise OutputsError("a stack export without its pulumi:pulumi:Stack resource (was the stack ever updated?)")
    return {key: _reveal(value, key) for key, value in (stacks[0].get("outputs") or {}).items()}


def require(outputs: dict[str, Any], key: str) -> Any:
    """outputs[key], with every secret inside it in plain text."""
    if key not in outputs:
        raise OutputsError(f"the stack has no output {key!r} (run pulumi up with this version of the toolkit)")
    value = outputs[key]

    def check(item: Any) -> None:
        if isinstance(item, EncryptedSecret):
            raise OutputsError(f"output {item.path} is an encrypted secret; export it with --show-secrets")
        if isinstance(item, dict):
            for inner in item.values():
                check(inner)
        if isinstance(item, list):
            for inner in item:
                check(inner)

    check(value)
    return value


def read_outputs(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return outputs_of(json.load(handle))
    except (OSError, json.JSONDecodeError) as error:
        raise OutputsError(f"cannot read {path}: {error}") from None

"""Reading a stack's config through the Pulumi SDK: the installation, its secrets, unknown keys."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Optional


from components.config.errors import ConfigError, Problem
from components.config.model import CONFIG_NAMESPACE, INSTALLATION_KEY, SECRET_KEYS, Installation
from components.config.rules import parse_installation



@dataclass(frozen=True)
class StackConfig:
    """What the program builds from: the validated installation and its secrets (Outputs)."""

    installation: Installation
    secrets: dict[str, Any]  # SecretKey.key -> pulumi.Output[str], always secret


def installation_value(text: Optional[str]) -> Any:
    """`daktela:installation` as the SDK hands it over (an object arrives as JSON text)."""
    import json

    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text


def _all_config_keys() -> list[str]:
    """Every config key the engine handed the program (the SDK keeps them in a context variable,
    or the process environment)."""
    from pulumi.runtime import config as runtime_config

    return sorted({*runtime_config.get_config_env(), *runtime_config.CONFIG.get()})


def unknown_key_problems(keys: Iterable[str]) -> list[Problem]:
    """Keys of this project's namespace that the toolkit does not read, and keys whose namespace
    looks like a typo of it: each named, with the key it probably meant."""
    known = [f"{CONFIG_NAMESPACE}:{INSTALLATION_KEY}", *(s.full_key for s in SECRET_KEYS)]
    problems = []
    for key in keys:
        namespace, _, name = key.partition(":")
        near_namespace = namespace != CONFIG_NAMESPACE and difflib.SequenceMatcher(
            None, namespace, CONFIG_NAMESPACE).ratio() >= 0.75
        if key in known or (namespace != CONFIG_NAMESPACE and not near_namespace):
            continue
        meant = difflib.get_close_matches(f"{CONFIG_NAMESPACE}:{name}", known, n=1, cutoff=0.6)
        hint = f'did you mean "{meant[0]}"? ' if meant else ""
        what = (f'namespace "{namespace}" is not "{CONFIG_NAMESPACE}"' if near_namespace
                else "is not a key the toolkit reads")
        problems.append(Problem(key, f"{what}; {hint}known keys: {', '.join(known)}"))
    return problems


def load_stack_config() -> StackConfig:
    """Read `daktela:installation` and the secret keys; raise ConfigError listing every problem.

    Registers no resource, so a bad stack stops before anything is planned.
    """

    import pulumi
    from pulumi.runtime.config import get_config, is_config_secret

    config = pulumi.Config(CONFIG_NAMESPACE)
    problems: list[Problem] = unknown_key_problems(_all_config_keys())
    raw_text = config.get(INSTALLATION_KEY)
    raw = installation_value(raw_text)
    installation: Optional[Installation] = None
    try:
        installation = parse_installation(raw)
    except ConfigError as error:
        problems += error.problems

    secrets: dict[str, Any] = {}
    # Secrets are checked even when the plain part is invalid, so one run lists every problem.
    hosting = installation.hosting if installation else (raw.get("hosting") if isinstance(raw, dict) else None)
    for secret in SECRET_KEYS:
        if hosting not in secret.hostings:
            continue
        if get_config(secret.full_key) is None:
            problems.append(Problem(secret.full_key, (
                f"is required for {hosting} installations ({secret.meaning}); set it with: "
                f"{secret.how_to_set}"
            )))
        elif not is_config_secret(secret.full_key):
            problems.append(Problem(secret.full_key, (
                f"is stored in plain text; remove it from the stack file and set it as a secret: "
                f"{secret.how_to_set}"
            )))
        else:
            secrets[secret.key] = config.require_secret(secret.key)
    if problems or installation is None:
        raise ConfigError(problems)
    return StackConfig(installation=installation, secrets=secrets)

"""The config reference (docs/reference.md), generated from the model so it cannot drift from it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Iterable, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from components.config.model import ROOT, SECRET_KEYS, Installation
from components.config.rules import inner_model
from components.config.values import (
    _absolute_path, _aws_region, _cidr, _drive_identity, _email, _fingerprint, _host_address, _owner, _price,
    _time_of_day, _timezone,
)



_TYPE_NAMES = {
    _time_of_day: "HH:MM", _aws_region: "AWS region", _price: "price", _email: "e-mail",
    _timezone: "time zone", _cidr: "CIDR", _drive_identity: "drive identity",
    _host_address: "host or IP", _fingerprint: "SHA256 fingerprint", _absolute_path: "absolute path",
    _owner: "user:group",
}


def _type_name(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    for item in metadata:
        if getattr(item, "func", None) in _TYPE_NAMES:
            return _TYPE_NAMES[item.func]
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _type_name(base, extra)
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"mapping of {_type_name(key)} to {_type_name(value)}"
    if origin is Union:
        return _type_name([a for a in get_args(annotation) if a is not type(None)][0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if annotation is date:
        return "YYYY-MM-DD"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, getattr(annotation, "__name__", "?"))


def _default_text(name: str, info: Any) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value}`"
    if info.default is None:
        return "(see meaning)" if name in ("times", "mount_point") else "none"
    return f"`{info.default}`"


def config_reference() -> str:
    """Markdown table of every key of `daktela:installation`, then the secret keys."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}.{name}"
            meaning = (info.description or "").replace("<", "&lt;").replace(">", "&gt;")
            rows.append(f"| `{path}` | {_type_name(info.annotation, info.metadata)} "
                        f"| {_default_text(name, info)} | {meaning} |")
            inner = inner_model(info.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                walk(inner, path)

    walk(Installation, ROOT)
    rows += ["", "| secret key | hostings | meaning | set it with |", "|---|---|---|---|"]
    for secret in SECRET_KEYS:
        rows.append(f"| `{secret.full_key}` | {', '.join(secret.hostings)} | {secret.meaning} "
                    f"| `{secret.how_to_set}` |")
    return "\n".join(rows) + "\n"

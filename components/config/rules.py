"""Parsing: the model's own checks as messages with config paths, then the rules that relate several settings."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from components import names
from components.names import TECHNOLOGIES
from components.config.errors import ConfigError, Problem
from components.config.model import (
    CONFIG_NAMESPACE, ID_LIMITED_BY, INSTALLATION_KEY, MAX_ID_LENGTH, MIN_MINUTES_BETWEEN_BACKUPS, ROOT, Drive,
    Installation, OnPremSettings, narrowed,
)



def parse_installation(raw: Any) -> Installation:
    """Validate the plain installation config; raise ConfigError with every problem found."""
    if not isinstance(raw, dict):
        raise ConfigError([Problem(
            ROOT,
            f"is missing or not a mapping; set {CONFIG_NAMESPACE}:{INSTALLATION_KEY} "
            "in the stack file (see docs/reference.md)",
        )])
    try:
        installation = Installation.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_problems_from_pydantic(error)) from None
    problems = _cross_field_problems(installation)
    if problems:
        raise ConfigError(problems)
    return narrowed(installation)


def _cross_field_problems(inst: Installation) -> list[Problem]:
    """Rules that relate several settings; run only on an otherwise valid model."""
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(f"{ROOT}.{path}", message))

    if inst.regions.primary == inst.regions.secondary:
        add("regions.secondary", (
            f'"{inst.regions.secondary}" is the same region as regions.primary; backups need a '
            "second region so that one region's outage cannot take both copies"
        ))

    prices = inst.contract.prices
    if inst.hosting == "on-premise":
        for field, code in (("on_premise_monthly", "9.04"), ("on_premise_setup", "6.21")):
            if getattr(prices, field) is None:
                add(f"contract.prices.{field}", (
                    f"is required for an on-premise installation (fee {code}); "
                    "take it from the customer's contract"
                ))
    else:
        for field, code in (("on_premise_monthly", "9.04"), ("on_premise_setup", "6.21")):
            if getattr(prices, field) is not None:
                add(f"contract.prices.{field}", (
                    f"fee {code} applies only to on-premise installations; remove it or set hosting"
                ))
    problems += _contract_problems(inst)
    longest = MAX_ID_LENGTH[inst.hosting]
    if len(inst.id) > longest:
        add("id", (
            f'"{inst.id}" has {len(inst.id)} characters; a {inst.hosting} installation\'s id may have '
            f"{longest}, so that every AWS name made from it fits ({ID_LIMITED_BY[inst.hosting]}). "
            "Choose a shorter id"
        ))
    if not re.fullmatch(r"[A-Z]{3}", inst.contract.currency):
        add("contract.currency", f'"{inst.contract.currency}" is not an ISO 4217 code such as "EUR"')

    problems += _backup_problems(inst)

    for section, hosting in (("cloud", "cloud"), ("on_premise", "on-premise")):
        present = getattr(inst, section) is not None
        if inst.hosting == hosting and not present:
            add(section, f"is required when hosting is {hosting!r}; see docs/reference.md")
        if inst.hosting != hosting and present:
            add(section, f"applies only when hosting is {hosting!r}; remove it or change hosting")

    if inst.cloud is not None:
        lock = inst.cloud.vault_lock_days
        if lock is not None and lock > inst.cloud.backup_retention_days:
            add("cloud.vault_lock_days", (
                f"{lock} days is longer than cloud.backup_retention_days "
                f"({inst.cloud.backup_retention_days}); recovery points could never expire. "
                "Lock for at most the retention"
            ))
        ports = inst.cloud.rtp_ports
        if ports.first > ports.last:
            add("cloud.rtp_ports.last", f"{ports.last} is below rtp_ports.first ({ports.first})")
        scratch = inst.cloud.restore_drill.scratch_dir.rstrip("/") or "/"
        if scratch == names.CLOUD_DATA_ROOT or scratch.startswith(names.CLOUD_DATA_ROOT + "/") \
                or names.CLOUD_DATA_ROOT.startswith(scratch + "/") or scratch == "/":
            add("cloud.restore_drill.scratch_dir", (
                f'"{inst.cloud.restore_drill.scratch_dir}" holds or is on the data volumes ({names.CLOUD_DATA_ROOT}), '
                "which are backed up; choose a directory of its own elsewhere, e.g. /var/tmp/daktela-drill"))
        if inst.cloud.volumes_gb.attachments < inst.contract.included_storage_gb:
            add("cloud.volumes_gb.attachments", (
                f"{inst.cloud.volumes_gb.attachments} GB is less than the included storage "
                f"({inst.contract.included_storage_gb} GB); make it at least that"
            ))

    if inst.on_premise is not None:
        problems += _on_premise_problems(inst.on_premise)
    return problems


def _contract_problems(inst: Installation) -> list[Problem]:
    """Dates of the contract and its price changes: one order, inside the contract."""
    problems: list[Problem] = []
    contract = inst.contract
    if contract.end_date is not None and contract.end_date < contract.start_date:
        problems.append(Problem(f"{ROOT}.contract.end_date", (
            f"{contract.end_date} is before contract.start_date ({contract.start_date}); the last "
            "day billed cannot come before the first")))
    previous = contract.start_date
    for index, change in enumerate(contract.price_changes):
        path = f"{ROOT}.contract.price_changes[{index}]"
        day = change.effective_from
        if day <= previous:
            after = "contract.start_date" if index == 0 else f"price_changes[{index - 1}]"
            problems.append(Problem(f"{path}.effective_from", (
                f"{day} is not after {after} ({previous}); list price changes in date order, each on "
                "a later day")))
        if contract.end_date is not None and day > contract.end_date:
            problems.append(Problem(f"{path}.effective_from", (
                f"{day} is after contract.end_date ({contract.end_date}); nothing is billed then")))
        if all(value is None for value in change.prices.model_dump().values()):
            problems.append(Problem(f"{path}.prices", "names no price; give the prices that change"))
        if inst.hosting != "on-premise" and change.prices.on_premise_monthly is not None:
            problems.append(Problem(f"{path}.prices.on_premise_monthly", (
                "fee 9.04 applies only to on-premise installations; remove it")))
        previous = max(previous, day)
    return problems


def _backup_problems(inst: Installation) -> list[Problem]:
    problems: list[Problem] = []
    times = inst.backup_times
    path = f"{ROOT}.backup.times"
    minutes = [t.hour * 60 + t.minute for t in times]
    if inst.hosting == "cloud":
        if len(times) != 3:
            problems.append(Problem(path, (
                f"has {len(times)} time(s); a cloud installation is backed up three times a day, "
                f"one time per technology ({', '.join(TECHNOLOGIES)})"
            )))
        if inst.backup.timezone != "UTC":
            problems.append(Problem(f"{ROOT}.backup.timezone", (
                f'"{inst.backup.timezone}" is not allowed for cloud installations; '
                "AWS schedules run on UTC, so write the times in UTC"
            )))
    elif len(times) < 2:
        problems.append(Problem(path, (
            f"has {len(times)} time(s); the operational drive is backed up at least twice a day"
        )))
    for index, minute in enumerate(minutes):
        for earlier in range(index):
            gap = abs(minute - minutes[earlier])
            gap = min(gap, 24 * 60 - gap)
            minimum = MIN_MINUTES_BETWEEN_BACKUPS[inst.hosting]
            if gap < minimum:
                same = "is the same time as" if gap == 0 else f"is only {gap} minutes from"
                problems.append(Problem(f"{path}[{index}]", (
                    f'"{times[index]:%H:%M}" {same} times[{earlier}]; backups must run at '
                    f"different times, at least {minimum} minutes apart"
                )))
    return problems


_SYSTEM_DIRECTORIES = {
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
}


def _on_premise_problems(onprem: OnPremSettings) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(f"{ROOT}.on_premise.{path}", message))

    host = onprem.host
    drives = onprem.drives
    if not onprem.host_unchecked:  # an unchecked host's key and sizes come with scripts/check_host.py
        if host.host_key_fingerprint is None and host.known_hosts_file is None:
            add("host.host_key_fingerprint", (
                "is required (or host.known_hosts_file): the host key must be verified before any "
                "command runs; get it with ssh-keyscan HOST | ssh-keygen -lf -, or let "
                "scripts/check_host.py --accept-new-host-key pin it"
            ))
        for role in ("operational", "archive"):
            if getattr(drives, role).size_bytes is None:
                add(f"drives.{role}.size_bytes", (
                    "is required: the drive's exact size in bytes (lsblk -b), so that no other drive is "
                    "ever prepared; scripts/check_host.py reads it from the host and writes it"
                ))

    for role in ("operational", "archive"):
        drive: Drive = getattr(drives, role)
        if drive.allow_wipe is not None and drive.allow_wipe != drive.identity:
            add(f"drives.{role}.allow_wipe", (
                f'"{drive.allow_wipe}" does not match drives.{role}.identity ("{drive.identity}"); '
                "consent to erase a drive must repeat its exact identity"
            ))
        mount_point = drives.mount_point(role)
        if mount_point in _SYSTEM_DIRECTORIES:
            add(f"drives.{role}.mount_point", (
                f'"{mount_point}" is a system directory; mount the drive below it, e.g. /srv/daktela'
            ))
    scratch = onprem.restore_drill.scratch_dir.rstrip("/") or "/"
    for role in ("operational", "archive"):
        mount_point = drives.mount_point(role)
        if mount_point in _SYSTEM_DIRECTORIES:
            continue  # reported above; scratch space below it is not the question yet
        if scratch == mount_point or scratch.startswith(mount_point.rstrip("/") + "/"):
            add("restore_drill.scratch_dir", (
                f'"{onprem.restore_drill.scratch_dir}" is on the {role} drive ({mount_point}); '
                + ("a drill's scratch data there would be backed up" if role == "operational"
                   else "the archive drive is the customer's archive, not scratch space")
                + "; choose a directory elsewhere, e.g. /var/tmp/daktela-drill"))
    if onprem.second_location_after_minutes >= onprem.backup_window_minutes:
        add("second_location_after_minutes", (
            f"{onprem.second_location_after_minutes} minutes is not less than backup_window_minutes "
            f"({onprem.backup_window_minutes}); location 2 must start within the run's window"))
    if drives.operational.identity == drives.archive.identity:
        add("drives.archive.identity", (
            f'"{drives.archive.identity}" is the operational drive too; the archive needs a drive '
            "of its own"
        ))
    operational, archive = drives.mount_point("operational"), drives.mount_point("archive")
    if operational == archive or archive.startswith(operational + "/") or operational.startswith(archive + "/"):
        add("drives.archive.mount_point", (
            f'"{archive}" overlaps the operational mount point "{operational}"; '
            "give each drive its own directory, neither inside the other"
        ))
    return problems


def _problems_from_pydantic(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != "[key]")  # a mapping's key: its own path
        path = ROOT + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
        problems.append(Problem(path, _message(dict(item), loc)))
    return problems


def _message(item: dict, loc: tuple) -> str:
    kind, given = item["type"], item.get("input")
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if kind == "missing":
        return f"is required: {_describe(loc) or 'see docs/reference.md'}"
    if kind == "extra_forbidden" and loc[-2:] == ("prices", "on_premise_setup") and "price_changes" in loc:
        return ("6.21 is a one-off fee, billed once in the month the contract starts; it has no later "
                "price. Remove it from the price change")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return f"is not a known setting; {hint}"
    if kind == "literal_error":
        return f"{given!r} is not one of {item['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{given!r} is not valid here: {_describe(loc)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of settings, got {given!r}"
    if kind == "too_short":
        count = item["ctx"]["min_length"]
        return f"needs at least {count} entr{'y' if count == 1 else 'ies'}: {_describe(loc)}"
    text = item["msg"].replace("Input should be", "must be")
    description = _describe(loc)
    return f"{text}, got {given!r}" + (f" ({description})" if description else "")


def _field_at(loc: tuple):
    """The pydantic FieldInfo a location points to, walking from Installation."""
    model: Any = Installation
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = inner_model(field.annotation)
    return field


def inner_model(annotation: Any) -> Any:
    while get_origin(annotation) in (Union, list, Annotated) or str(get_origin(annotation)) == "typing.Union":
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def _describe(loc: tuple) -> str:
    field = _field_at(loc)
    return field.description if field is not None and field.description else ""


def _known_keys(loc: tuple) -> list[str]:
    model = Installation if not loc else inner_model(getattr(_field_at(loc), "annotation", None))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []

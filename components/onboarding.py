"""Onboarding: a customer's answers (scripts/onboard.py's flags) into a validated installation, the
on-premise host checked over SSH before anything is written, and the stack file's text.

scripts/onboard.py keeps only its arguments, the questions it asks on a terminal, its output and
its exit codes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from components.config import ConfigError, Installation, OnPremConfig, parse_installation
from components.host.backup_job import job_from_outputs
from components.host.connectivity import check_connectivity
from components.host.errors import Refused
from components.host.facts import gather
from components.host.layout import layout_from_config
from components.host.planner import PlanRefused, plan, resolve_drive
from components.host.report import preflight_lines
from components.host.ssh import Connection, HostAccess

Say = Callable[[str], None]


class BadAnswers(ValueError):
    """The answers are not a valid installation; the message names each flag and what to do."""


# Which flag answers which config path: config errors are reported in the user's terms.
FLAGS = {
    "installation.id": "--id", "installation.customer": "--customer", "installation.hosting": "--hosting",
    "installation.regions.primary": "--primary-region", "installation.regions.secondary": "--secondary-region",
    "installation.contract.currency": "--currency", "installation.contract.start_date": "--start-date",
    "installation.contract.prices.installation_monthly": "--price-installation",
    "installation.contract.prices.storage_per_gb": "--price-storage-per-gb",
    "installation.contract.prices.on_premise_monthly": "--price-on-premise",
    "installation.contract.prices.on_premise_setup": "--price-setup",
    "installation.contract.included_storage_gb": "--included-gb",
    "installation.ledger.table": "--ledger-table", "installation.ledger.region": "--ledger-region",
    "installation.backup.times": "--backup-time", "installation.backup.timezone": "--timezone",
    "installation.backup.reserve_hours": "--reserve-hours",
    "installation.notifications.ops": "--ops-email", "installation.notifications.billing": "--billing-email",
    "installation.cloud.subnet_id": "--subnet-id", "installation.cloud.instance_type": "--instance-type",
    "installation.cloud.admin_cidrs": "--admin-cidr",
    "installation.on_premise.host.address": "--host", "installation.on_premise.host.port": "--port",
    "installation.on_premise.host.user": "--user",
    "installation.on_premise.host.host_key_fingerprint": "--host-key-fingerprint",
    "installation.on_premise.drives.operational.identity": "--operational-drive",
    "installation.on_premise.drives.archive.identity": "--archive-drive",
    "installation.on_premise.archive_after_days": "--archive-after-days",
}

LEARN_AT_PREFLIGHT = "SHA256:" + "A" * 43


def installation_from(args: argparse.Namespace, sizes: Optional[dict[str, int]] = None,
                      fingerprint: Optional[str] = None) -> dict[str, Any]:
    prices: dict[str, Any] = {"installation_monthly": args.price_installation, "storage_per_gb": args.price_storage_per_gb}
    if args.price_on_premise is not None:
        prices["on_premise_monthly"] = args.price_on_premise
    if args.price_setup is not None:
        prices["on_premise_setup"] = args.price_setup
    contract: dict[str, Any] = {"currency": args.currency, "start_date": args.start_date, "prices": prices}
    if args.included_gb is not None:
        contract["included_storage_gb"] = args.included_gb
    backup: dict[str, Any] = {}
    if args.backup_time:
        backup["times"] = args.backup_time
    if args.timezone:
        backup["timezone"] = args.timezone
    if args.reserve_hours is not None:
        backup["reserve_hours"] = args.reserve_hours
    installation: dict[str, Any] = {
        "id": args.id, "customer": args.customer, "hosting": args.hosting,
        "regions": {"primary": args.primary_region, "secondary": args.secondary_region},
        "contract": contract,
        "ledger": {"table": args.ledger_table, "region": args.ledger_region},
        "notifications": {"ops": args.ops_email or [], "billing": args.billing_email},
    }
    if backup:
        installation["backup"] = backup
    if args.hosting == "cloud":
        cloud: dict[str, Any] = {"subnet_id": args.subnet_id, "admin_cidrs": args.admin_cidr}
        if args.instance_type:
            cloud["instance_type"] = args.instance_type
        installation["cloud"] = cloud
    elif args.hosting == "on-premise":
        unchecked = getattr(args, "without_host", False)
        sizes = sizes or {}
        drives = {}
        for role, identity, mount in (("operational", args.operational_drive, args.operational_mount),
                                      ("archive", args.archive_drive, args.archive_mount)):
            drive: dict[str, Any] = {"identity": identity}
            if not unchecked:  # a stand-in until the preflight reads the size
                drive["size_bytes"] = sizes.get(role, 1)
            if mount:
                drive["mount_point"] = mount
            drives[role] = drive
        host: dict[str, Any] = {"address": args.host, "port": args.port, "user": args.user}
        if fingerprint or args.host_key_fingerprint:
            host["host_key_fingerprint"] = fingerprint or args.host_key_fingerprint
        onprem: dict[str, Any] = {"host": host, "drives": drives}
        if unchecked:
            onprem["host_unchecked"] = True
        if args.archive_after_days is not None:
            onprem["archive_after_days"] = args.archive_after_days
        installation["on_premise"] = onprem
    return installation


def validate(installation: dict[str, Any]) -> Installation:
    try:
        return parse_installation(json.loads(json.dumps(installation, default=str)))
    except ConfigError as error:
        lines = []
        for problem in error.problems:
            flag = next((f for path, f in FLAGS.items() if problem.path == path or problem.path.startswith(path + "[")), None)
            lines.append(f"  {flag or problem.path}: {problem.message}")
        raise BadAnswers("the answers are not a valid installation:\n" + "\n".join(lines)) from None


Answered = Callable[[dict[str, int], str], dict[str, Any]]  # (sizes, fingerprint) -> the installation


def preflight(args: argparse.Namespace, installation: OnPremConfig, say: Say = print,
              answered_with: Optional[Answered] = None) -> tuple[dict[str, int], str]:
    """Check the host (its key, drives, whether they can be prepared as answered and, with
    --probe-outputs, its connectivity); return the drives' exact sizes and the host key
    fingerprint. `answered_with` gives the installation with the sizes and key the host reported
    (default: onboarding's answers). Raises a host error (components/host/errors.py) when
    onboarding must stop."""
    if answered_with is None:
        answered_with = lambda sizes, fingerprint: installation_from(args, sizes, fingerprint)  # noqa: E731
    key_text = Path(args.key).read_text()
    host = installation.on_premise.host
    access = HostAccess(host.address, host.port, host.user, key_text, args.host_key_fingerprint,
                        host.known_hosts_file, accept_new_host_key=args.accept_new_host_key)
    layout = layout_from_config(installation.on_premise)
    with Connection(access, on_new_host_key=lambda seen: say(f"host key {seen}: pinned in the stack file")) as connection:
        facts = gather(connection, layout.paths())
        say("\n".join(preflight_lines(facts, layout, access.name, connection.host_key_fingerprint)))
        sizes = {}
        for drive in layout.drives:
            disk, problem = resolve_drive(facts, drive.identity)
            if disk is None:
                raise Refused(f"{access.name}: drive {drive.role}: {problem}")
            sizes[drive.role] = disk.size
        answered = validate(answered_with(sizes, connection.host_key_fingerprint))
        assert isinstance(answered, OnPremConfig)  # the same answers, with the sizes the host reported
        sized = layout_from_config(answered.on_premise)
        try:
            steps = plan(facts, sized)
        except PlanRefused as refused:
            raise Refused(f"{access.name}: the host cannot be prepared as answered:\n{refused}") from refused
        say(f"preparation plan: {len(steps)} step(s); nothing is changed during onboarding")
        if args.probe_outputs:
            job, key_id, secret = job_from_outputs(installation, sized, json.loads(args.probe_outputs.read_text()),
                                                   args.s3_endpoint or "")
            report = check_connectivity(connection, job, key_id, secret,
                                        expected_daily_change_bytes=int(args.expected_daily_change_gb * 1e9))
            say("\n".join(report.lines()))
            if not report.sufficient:
                raise Refused(f"{access.name}: the host's connectivity is not sufficient for its backups")
    return sizes, connection.host_key_fingerprint


def stack_text(stack: str, installation: dict[str, Any]) -> str:
    header = (f"# Installation {installation['id']} ({installation['customer']}), written by scripts/onboard.py.\n"
              "# Every key is explained in docs/reference.md. Secrets are set with\n"
              "# `pulumi config set --secret` and appear below as `secure:` values once set.\n")
    document = {"config": {"daktela:installation": json.loads(json.dumps(installation, default=str))}}
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)

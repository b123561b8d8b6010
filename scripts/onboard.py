#!/usr/bin/env python3
"""Onboard a customer: write a new installation's stack file from a few answers, checked first.

    scripts/onboard.py --stack acme --id acme --customer "ACME s.r.o." --hosting cloud \
        --primary-region eu-central-1 --secondary-region eu-west-1 --currency EUR \
        --start-date 2026-12-01 --price-installation 450 --price-storage-per-gb 0.25 \
        --ledger-region eu-central-1 --ops-email ops@example.com --subnet-id subnet-0a1b2c3d4e5f60718

    on-premise adds: --price-on-premise 200 --price-setup 1500 --host cc.acme.example --user daktela
        --key ~/.ssh/acme_ed25519 (--host-key-fingerprint SHA256:... | --accept-new-host-key)
        --operational-drive /dev/disk/by-id/wwn-0x... --archive-drive /dev/disk/by-id/wwn-0x...
        --probe-outputs probe.json (a location and key to measure upload speed against)

The answers are validated with the config model. For on-premise, the host is checked first over
SSH (host key, OS, drives and their exact sizes, whether they can be prepared) and then its
connectivity (upload speed against the daily change); a failure writes nothing. An existing stack
file is never overwritten. Secrets are not stored: the script prints the `pulumi config set
--secret` commands to run. Missing answers are asked for on a terminal; without one (automation)
they are errors. Exit codes: 0 written, 1 refused (file exists, host or connectivity not
sufficient, the host cannot be reached or read), 2 bad or missing answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import _repo
from _host_access import host_failure

import yaml

from components.config import SECRET_KEYS, ConfigError, parse_installation
from components.host.connectivity import check_connectivity
from components.host.facts import gather
from components.host.layout import layout_from_config
from components.host.planner import PlanRefused, plan, resolve_drive
from components.host.report import preflight_lines
from components.host.errors import OUTCOMES, HostError, Refused
from components.host.ssh import Connection, HostAccess
from components.host.backup_job import job_from_outputs

STOPPED = "onboarding stopped, nothing was written: "

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
REQUIRED = ["stack", "id", "customer", "hosting", "primary_region", "secondary_region", "currency",
            "start_date", "price_installation", "price_storage_per_gb", "ledger_region", "ops_email"]
REQUIRED_BY_HOSTING = {
    "cloud": ["subnet_id"],
    "on-premise": ["price_on_premise", "price_setup", "host", "key", "operational_drive", "archive_drive"],
}


LEARN_AT_PREFLIGHT = "SHA256:" + "A" * 43


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add("--stack", help="stack name: writes Pulumi.<stack>.yaml")
    add("--dir", type=Path, default=_repo.REPO_ROOT, help="where stack files live (default: the repo)")
    add("--id"); add("--customer"); add("--hosting", choices=["cloud", "on-premise"])
    add("--primary-region"); add("--secondary-region"); add("--currency"); add("--start-date")
    add("--price-installation"); add("--price-storage-per-gb"); add("--price-on-premise"); add("--price-setup")
    add("--included-gb", type=int); add("--ledger-table", default="daktela-fee-ledger"); add("--ledger-region")
    add("--ops-email", action="append"); add("--billing-email", action="append", default=[])
    add("--backup-time", action="append", help="HH:MM, repeat for each run")
    add("--timezone"); add("--reserve-hours", type=int)
    add("--subnet-id"); add("--instance-type"); add("--admin-cidr", action="append", default=[])
    add("--host"); add("--port", type=int, default=22); add("--user", default="root")
    add("--key", help="private SSH key file for the preflight (not stored)")
    add("--host-key-fingerprint"); add("--accept-new-host-key", action="store_true",
                                       help="learn and pin the host key at the preflight (prints it)")
    add("--operational-drive"); add("--archive-drive"); add("--archive-after-days", type=int)
    add("--operational-mount"); add("--archive-mount")
    add("--probe-outputs", type=Path, help="JSON like `pulumi stack output --json --show-secrets` of a "
                                           "stack with backup_locations and backup_credentials, to measure against")
    add("--expected-daily-change-gb", type=float, default=2.0,
        help="the data the operational drive is expected to change a day (default 2 GB); measured later")
    add("--s3-endpoint", help="S3-compatible endpoint for the probe (tests, local servers)")
    add("--skip-connectivity-check", action="store_true", help="onboard without measuring (says so)")
    return p


def _needed(args: argparse.Namespace) -> list[str]:
    return REQUIRED + REQUIRED_BY_HOSTING.get(args.hosting or "", [])


def ask_missing(args: argparse.Namespace) -> list[str]:
    """Ask for missing answers on a terminal; return the flags still missing. The hosting's own
    questions follow once the hosting is known (asked or given), each question at most once."""
    asked: set[str] = set()
    while sys.stdin.isatty():
        questions = [name for name in _needed(args) if not getattr(args, name) and name not in asked]
        if not questions:
            break
        for name in questions:
            asked.add(name)
            answer = input(f"{name.replace('_', ' ')}: ").strip()
            if name == "hosting" and answer not in REQUIRED_BY_HOSTING:
                print(f"hosting is one of: {', '.join(REQUIRED_BY_HOSTING)}", file=sys.stderr)
                answer = ""
            if answer:
                setattr(args, name, [answer] if name == "ops_email" else answer)
    return ["--" + name.replace("_", "-") for name in _needed(args) if not getattr(args, name)]


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
        sizes = sizes or {}
        drives = {}
        for role, identity, mount in (("operational", args.operational_drive, args.operational_mount),
                                      ("archive", args.archive_drive, args.archive_mount)):
            drive: dict[str, Any] = {"identity": identity, "size_bytes": sizes.get(role, 1)}
            if mount:
                drive["mount_point"] = mount
            drives[role] = drive
        host: dict[str, Any] = {"address": args.host, "port": args.port, "user": args.user}
        if fingerprint or args.host_key_fingerprint:
            host["host_key_fingerprint"] = fingerprint or args.host_key_fingerprint
        onprem: dict[str, Any] = {"host": host, "drives": drives}
        if args.archive_after_days is not None:
            onprem["archive_after_days"] = args.archive_after_days
        installation["on_premise"] = onprem
    return installation


def validate(installation: dict[str, Any]):
    try:
        return parse_installation(json.loads(json.dumps(installation, default=str)))
    except ConfigError as error:
        lines = []
        for problem in error.problems:
            flag = next((f for path, f in FLAGS.items() if problem.path == path or problem.path.startswith(path + "[")), None)
            lines.append(f"  {flag or problem.path}: {problem.message}")
        raise ValueError("the answers are not a valid installation:\n" + "\n".join(lines)) from None


def preflight(args: argparse.Namespace, installation) -> tuple[dict[str, int], str]:
    """Check the host; return the drives' exact sizes and the host key fingerprint."""
    key_text = Path(args.key).read_text()
    host = installation.on_premise.host
    access = HostAccess(host.address, host.port, host.user, key_text, args.host_key_fingerprint,
                        host.known_hosts_file, accept_new_host_key=args.accept_new_host_key)
    layout = layout_from_config(installation.on_premise)
    with Connection(access, on_new_host_key=lambda seen: print(f"host key {seen}: pinned in the stack file")) as connection:
        facts = gather(connection, layout.paths())
        print("\n".join(preflight_lines(facts, layout, access.name, connection.host_key_fingerprint)))
        sizes = {}
        for drive in layout.drives:
            disk, problem = resolve_drive(facts, drive.identity)
            if disk is None:
                raise Refused(f"{access.name}: drive {drive.role}: {problem}")
            sizes[drive.role] = disk.size
        sized = layout_from_config(validate(installation_from(args, sizes, connection.host_key_fingerprint)).on_premise)
        try:
            steps = plan(facts, sized)
        except PlanRefused as refused:
            raise Refused(f"{access.name}: the host cannot be prepared as answered:\n{refused}") from refused
        print(f"preparation plan: {len(steps)} step(s); nothing is changed during onboarding")
        if args.probe_outputs:
            job, key_id, secret = job_from_outputs(installation, sized, json.loads(args.probe_outputs.read_text()),
                                                   args.s3_endpoint or "")
            report = check_connectivity(connection, job, key_id, secret,
                                        expected_daily_change_bytes=int(args.expected_daily_change_gb * 1e9))
            print("\n".join(report.lines()))
            if not report.sufficient:
                raise Refused(f"{access.name}: the host's connectivity is not sufficient for its backups")
    return sizes, connection.host_key_fingerprint


def stack_text(stack: str, installation: dict[str, Any]) -> str:
    header = (f"# Installation {installation['id']} ({installation['customer']}), written by scripts/onboard.py.\n"
              "# Every key is explained in docs/reference.md. Secrets are set with\n"
              "# `pulumi config set --secret` and appear below as `secure:` values once set.\n")
    document = {"config": {"daktela:installation": json.loads(json.dumps(installation, default=str))}}
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    missing = ask_missing(args)
    if missing:
        print(f"missing answers: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not args.dir.is_dir():
        print(f"--dir {args.dir}: no such directory; create it, or give the directory of the repository",
              file=sys.stderr)
        return 2
    target = args.dir / f"Pulumi.{args.stack}.yaml"
    if target.exists():
        print(f"{target} exists: onboarding never overwrites a stack file. Edit it, or choose another --stack",
              file=sys.stderr)
        return 1
    if args.hosting == "on-premise" and not (args.probe_outputs or args.skip_connectivity_check):
        print("on-premise onboarding measures the connectivity: give --probe-outputs "
              "(or --skip-connectivity-check, and run scripts/check_connectivity.py after pulumi up)", file=sys.stderr)
        return 2
    try:
        # With --accept-new-host-key the fingerprint is learnt at the preflight; until then a
        # well-formed stand-in lets the rest of the answers be validated.
        learning = args.hosting == "on-premise" and args.accept_new_host_key and not args.host_key_fingerprint
        answers = installation_from(args, fingerprint=LEARN_AT_PREFLIGHT if learning else None)
        installation = validate(answers)
        if args.hosting == "on-premise":
            sizes, fingerprint = preflight(args, installation)
            answers = installation_from(args, sizes, fingerprint)
            validate(answers)
            if args.skip_connectivity_check:
                print("connectivity NOT checked (--skip-connectivity-check): run scripts/check_connectivity.py after pulumi up")
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    except HostError as error:  # whatever its outcome, onboarding stops before writing anything
        return host_failure(error, dict.fromkeys(OUTCOMES, 1), prefix=STOPPED)
    except (OSError, KeyError) as error:
        print(f"{STOPPED}{error}", file=sys.stderr)
        return 1
    target.write_text(stack_text(args.stack, answers))
    print(f"wrote {target}")
    print(f"then: pulumi stack init {args.stack}")
    print("and set the secrets (this script stores none):")
    for secret in SECRET_KEYS:
        if args.hosting in secret.hostings:
            print(f"  {secret.how_to_set.replace('pulumi config set', f'pulumi config set --stack {args.stack}', 1)}")
    print(f"next: {_repo.REPO_ROOT / 'scripts' / 'plan.py'} {target} --check "
          f"&& pulumi preview --diff --stack {args.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

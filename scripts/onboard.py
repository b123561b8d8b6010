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
connectivity (upload speed against the daily change); a failure writes nothing. Before the server
is reachable, --without-host writes a stack whose host is marked unchecked (it plans; it cannot be
deployed) and scripts/check_host.py checks the host later, writing what it found into the file. An existing stack
file is never overwritten. Secrets are not stored: the script prints the `pulumi config set
--secret` commands to run. Missing answers are asked for on a terminal (on-premise: also whether the
host can be reached now, its key and the probe; every other flag when you want): each typed answer
is kept in <dir>/.onboard-<stack>.json until the file is written, so a run that stops loses
nothing and the next one on a terminal resumes them. Without a terminal (automation) missing
answers are errors. Exit codes: 0 written, 1 refused (file exists, host or connectivity not
sufficient, the host cannot be reached or read), 2 bad or missing answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import _repo
from _host_access import host_failure

from components.config import SECRET_KEYS, OnPremConfig
from components.host.errors import OUTCOMES, HostError
from components.matrix import STACK_NAME
from components.onboarding import LEARN_AT_PREFLIGHT, installation_from, preflight, stack_text, validate

STOPPED = "onboarding stopped, nothing was written: "

REQUIRED = ["stack", "id", "customer", "hosting", "primary_region", "secondary_region", "currency",
            "start_date", "price_installation", "price_storage_per_gb", "ledger_region", "ops_email"]
REQUIRED_BY_HOSTING = {
    "cloud": ["subnet_id"],
    "on-premise": ["price_on_premise", "price_setup", "host", "key", "operational_drive", "archive_drive"],
}





def parser() -> argparse.ArgumentParser:
    p = _repo.parser(__doc__)
    add = p.add_argument
    add("--stack", help="stack name: writes Pulumi.<stack>.yaml")
    add("--dir", type=Path, default=_repo.REPO_ROOT, help="where stack files live (default: the repo)")
    add("--id", help="installation id: lowercase letters, digits and dashes (installation.id)")
    add("--customer", help="the customer's name, for people (installation.customer)")
    add("--hosting", choices=["cloud", "on-premise"], help="Daktela Cloud on AWS, or the customer's own server")
    add("--primary-region", help="AWS region of the backups (cloud: the installation too), e.g. eu-central-1")
    add("--secondary-region", help="a second AWS region: the cloud's copies, on-premise's second location")
    add("--currency", help="the contract's currency, three letters, e.g. EUR")
    add("--start-date", help="the contract's first day, YYYY-MM-DD: the 6.21 setup fee's month")
    add("--price-installation", help="fee 9.03, monthly per installation")
    add("--price-storage-per-gb", help="the monthly price of a GB of comments and attachments above the included")
    add("--price-on-premise", help="fee 9.04, monthly (on-premise)")
    add("--price-setup", help="fee 6.21, once (on-premise)")
    add("--included-gb", type=int, help="GB of comments and attachments included (default 100)")
    add("--ledger-table", default="daktela-fee-ledger", help="DynamoDB table of fee records (default %(default)s)")
    add("--ledger-region", help="AWS region of the ledger table")
    add("--ops-email", action="append", help="who hears about failed and stale backups (repeat for several)")
    add("--billing-email", action="append", default=[], help="who hears about storage above the included GB (default: the ops addresses)")
    add("--backup-time", action="append", help="HH:MM, repeat for each run (default: the hosting's times)")
    add("--timezone", help="the backup times' time zone, e.g. Europe/Prague (default UTC; cloud runs on UTC)")
    add("--reserve-hours", type=int, help="hours a backup may take on top of the promised 24 (default 4)")
    add("--subnet-id", help="cloud: the subnet the instance runs in")
    add("--instance-type", help="cloud: the EC2 instance type (default in docs/reference.md)")
    add("--admin-cidr", action="append", default=[], help="cloud: an address range allowed to SSH in (repeat)")
    add("--host", help="on-premise: the server's address")
    add("--port", type=int, default=22, help="on-premise: its SSH port (default %(default)s)")
    add("--user", default="root", help="on-premise: the SSH user (root, or one with sudo; default %(default)s)")
    add("--key", help="private SSH key file for the preflight (not stored)")
    add("--host-key-fingerprint", help="on-premise: the server's SSH host key, SHA256:..., as its admin gives it")
    add("--accept-new-host-key", action="store_true", help="learn and pin the host key at the preflight (prints it)")
    add("--operational-drive", help="on-premise: the operational drive's identity, /dev/disk/by-id/...")
    add("--archive-drive", help="on-premise: the archive drive's identity, /dev/disk/by-id/...")
    add("--archive-after-days", type=int, help="on-premise: attachments and recordings move to the archive after this")
    add("--operational-mount", help="on-premise: where the operational drive is mounted (default in docs/reference.md)")
    add("--archive-mount", help="on-premise: where the archive drive is mounted (default in docs/reference.md)")
    add("--probe-outputs", type=Path, help="JSON like `pulumi stack output --json --show-secrets` of a "
                                           "stack with backup_locations and backup_credentials, to measure against")
    add("--expected-daily-change-gb", type=float, default=2.0,
        help="the data the operational drive is expected to change a day (default 2 GB); measured later")
    add("--s3-endpoint", help="S3-compatible endpoint for the probe (tests, local servers)")
    add("--skip-connectivity-check", action="store_true", help="onboard without measuring (says so)")
    add("--without-host", action="store_true",
        help="on-premise, before the server is reachable: write a plannable stack whose host is marked "
             "unchecked (no SSH, no --key); scripts/check_host.py checks it later")
    return p


def _checked() -> dict[str, tuple[Any, str]]:
    """The typed questions checked at once, each against its field of the config model."""
    from components.config.model import CloudSettings, Contract, Host, Installation, Ledger, Notifications, Prices, Regions

    return {"id": (Installation, "id"), "customer": (Installation, "customer"), "hosting": (Installation, "hosting"),
            "primary_region": (Regions, "primary"), "secondary_region": (Regions, "secondary"),
            "currency": (Contract, "currency"), "start_date": (Contract, "start_date"),
            "price_installation": (Prices, "installation_monthly"), "price_storage_per_gb": (Prices, "storage_per_gb"),
            "price_on_premise": (Prices, "on_premise_monthly"), "price_setup": (Prices, "on_premise_setup"),
            "ledger_region": (Ledger, "region"), "ops_email": (Notifications, "ops"),
            "subnet_id": (CloudSettings, "subnet_id"), "host": (Host, "address")}


def rejected(name: str, answer: str) -> Optional[str]:
    """Why a typed answer cannot be the config's value (its field's own rule), or None. The whole
    stack is validated again before anything is written: rules between fields are checked there."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    found = _checked().get(name)
    if found is None:
        return None
    model, field = found
    info = model.model_fields[field]
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]
        adapter.validate_python([answer] if name == "ops_email" else answer)
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        return f"{message} ({info.description})" if message.startswith("String should match") else message
    return None


def _needed(args: argparse.Namespace) -> list[str]:
    needed = REQUIRED + REQUIRED_BY_HOSTING.get(args.hosting or "", [])
    return [name for name in needed if not (args.without_host and name == "key")]


# Asked on a terminal after the required answers, when the person wants them: every other flag,
# with its default kept by answering nothing. (name, how the answer is read, hostings)
OPTIONAL: list[tuple[str, Callable[[str], Any], tuple[str, ...]]] = [
    ("included_gb", int, ("cloud", "on-premise")),
    ("billing_email", str.split, ("cloud", "on-premise")),
    ("backup_time", str.split, ("cloud", "on-premise")),
    ("timezone", str, ("cloud", "on-premise")),
    ("reserve_hours", int, ("cloud", "on-premise")),
    ("ledger_table", str, ("cloud", "on-premise")),
    ("instance_type", str, ("cloud",)),
    ("admin_cidr", str.split, ("cloud",)),
    ("port", int, ("on-premise",)),
    ("user", str, ("on-premise",)),
    ("archive_after_days", int, ("on-premise",)),
    ("operational_mount", str, ("on-premise",)),
    ("archive_mount", str, ("on-premise",)),
    ("expected_daily_change_gb", float, ("on-premise",)),
]


class Draft:
    """The answers typed on a terminal, kept in <dir>/.onboard-<stack>.json (readable by its owner
    only) until the stack file is written: a run that stops (a missing or refused answer, a host
    that cannot be reached, Ctrl-C) loses nothing, and the next run on a terminal resumes them.
    No secret is ever asked, so none is kept."""

    def __init__(self, directory: Path, stack: str):
        self.path = directory / f".onboard-{stack}.json"
        self.answers: dict[str, Any] = {}

    def resume(self, args: argparse.Namespace, defaults: argparse.Namespace) -> list[str]:
        """Fill the answers the flags left at their defaults from the draft; the names filled."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        filled = []
        for name, value in saved.items() if isinstance(saved, dict) else ():
            if hasattr(args, name) and getattr(args, name) == getattr(defaults, name, None):
                setattr(args, name, Path(value) if name == "probe_outputs" and value else value)
                filled.append(name)
            self.answers[name] = value
        return filled

    def keep(self, name: str, value: Any) -> None:
        self.answers[name] = str(value) if isinstance(value, Path) else value
        _repo.write_atomically(self.path, json.dumps(self.answers, indent=1, sort_keys=True))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _ask(name: str, read: Callable[[str], Any], check: Callable[[str, str], Optional[str]] = lambda n, a: None) -> Any:
    """One question, asked again at once while its answer is rejected; None for no answer."""
    label = name.replace("_", " ")
    while True:
        answer = input(f"{label}: ").strip()
        if not answer:
            return None
        problem = check(name, answer)
        if problem is None:
            try:
                return read(answer)
            except ValueError as error:
                problem = f"{error}"
        print(f"{label}: {problem}; type it again (nothing: leave it for later)", file=sys.stderr)


def _yes(name: str, hint: str) -> Optional[bool]:
    print(hint)
    while True:
        answer = input(f"{name}: ").strip().lower()
        if answer in ("yes", "y", "no", "n", ""):
            return None if not answer else answer.startswith("y")
        print(f"{name}: answer yes or no", file=sys.stderr)


def _reachable() -> Optional[bool]:
    return _yes("host reachable now", "Can the server be reached over SSH now? (no: the stack is written with its "
                                      "host unchecked, and scripts/check_host.py checks it later)")


def ask_missing(args: argparse.Namespace, draft_for: Callable[[], Optional[Draft]] = lambda: None) -> list[str]:
    """Ask for missing answers on a terminal; return the flags still missing. The hosting's own
    questions follow once the hosting is known (asked or given), each question once; an answer its
    field's rule rejects is asked again at once (issue 25.2: a rejected hosting used to shift every
    later answer by one). Every typed answer goes into the draft (`draft_for`, once the stack's name
    is known), which a later run resumes; on-premise, the host key, the probe and whether the host
    can be reached now are asked too, and every other flag when the person wants it."""
    if not sys.stdin.isatty():
        return _still_missing(args)
    asked: set[str] = set()
    draft: Optional[Draft] = None

    def kept(name: str, value: Any) -> None:
        nonlocal draft
        setattr(args, name, value)
        draft = draft or draft_for()
        if draft is not None:
            draft.keep(name, value)

    reachable: Optional[bool] = None
    while True:
        draft = draft or draft_for()
        questions = [name for name in _needed(args) if not getattr(args, name) and name not in asked]
        if not questions:
            break
        for name in questions:
            asked.add(name)
            if name == "key" and not args.without_host:  # no key is needed for a host not reachable yet
                reachable = _reachable()
                if reachable is False:
                    kept("without_host", True)
                    continue
            answer = _ask(name, str, rejected)
            if answer:
                kept(name, [answer] if name == "ops_email" else answer)
                if name == "stack" and (draft := draft_for()) is not None:
                    break  # the draft may hold the rest: ask only what it does not
    if args.hosting == "on-premise" and not (args.without_host or args.probe_outputs or args.skip_connectivity_check):
        reachable = _reachable() if reachable is None else reachable
        if reachable is False:
            kept("without_host", True)
        elif reachable:
            if not (args.host_key_fingerprint or args.accept_new_host_key):
                print("The server's SSH host key, SHA256:..., as its admin gives it (nothing: learn it now and pin it)")
                fingerprint = _ask("host key fingerprint", str)
                kept("host_key_fingerprint", fingerprint) if fingerprint else kept("accept_new_host_key", True)
            print("The outputs of a stack with backup_locations and backup_credentials, to measure the upload "
                  "against (docs/operate.md, the probe file; nothing: measure after pulumi up)")
            probe = _ask("probe outputs", Path)
            kept("probe_outputs", probe) if probe else kept("skip_connectivity_check", True)
    more = _yes("other settings", "Other settings (backup times, time zone, included GB, SSH port and user, "
                                  "mount points...)? (nothing: no, the defaults)")
    if more:
        helps = {action.dest: action.help for action in parser()._actions}
        for name, read, hostings in OPTIONAL:
            if args.hosting in hostings:
                print(f"{helps.get(name) or name} (now: {getattr(args, name) or 'the default'}; nothing keeps it)")
                value = _ask(name, read)
                if value is not None:
                    kept(name, value)
    return _still_missing(args)


def _still_missing(args: argparse.Namespace) -> list[str]:
    return ["--" + name.replace("_", "-") for name in _needed(args) if not getattr(args, name)]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    defaults = parser().parse_args([])
    drafts: list[Draft] = []

    def draft_for() -> Optional[Draft]:
        """The stack's draft, once its name is known and usable; resumed when it exists."""
        if drafts or not args.stack or not STACK_NAME.match(args.stack) or not args.dir.is_dir():
            return drafts[0] if drafts else None
        drafts.append(Draft(args.dir, args.stack))
        if drafts[0].path.exists():
            filled = drafts[0].resume(args, defaults)
            print(f"resuming the answers kept in {drafts[0].path} ({len(filled)} of them; flags given now come first)")
        return drafts[0]

    try:
        code = onboard(args, draft_for)
    except KeyboardInterrupt:
        code = 130
    if drafts and code == 0:
        drafts[0].remove()
    elif drafts and drafts[0].answers:
        print(f"your answers are kept in {drafts[0].path}: run scripts/onboard.py --stack {args.stack} again on a "
              "terminal to go on from them (flags given then come first)", file=sys.stderr)
    return code


def onboard(args: argparse.Namespace, draft_for: Callable[[], Optional["Draft"]]) -> int:
    missing = ask_missing(args, draft_for)
    if missing:
        print(f"missing answers: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not args.dir.is_dir():
        print(f"--dir {args.dir}: no such directory; create it, or give the directory of the repository",
              file=sys.stderr)
        return 2
    if not STACK_NAME.match(args.stack):
        print(f"--stack {args.stack!r}: a stack name is one word of letters, digits, '.', '_' and '-' "
              "(it names Pulumi.<stack>.yaml, and the pipeline's batches split names on spaces), e.g. "
              "--stack acme", file=sys.stderr)
        return 2
    target = args.dir / f"Pulumi.{args.stack}.yaml"
    if target.exists():
        print(f"{target} exists: onboarding never overwrites a stack file. Edit it, or choose another --stack",
              file=sys.stderr)
        return 1
    if args.without_host and args.hosting != "on-premise":
        print("--without-host is for on-premise installations (a cloud installation has no host to reach)",
              file=sys.stderr)
        return 2
    if args.hosting == "on-premise" and not (args.probe_outputs or args.skip_connectivity_check or args.without_host):
        print("on-premise onboarding measures the connectivity: give --probe-outputs "
              "(or --skip-connectivity-check, and run scripts/check_connectivity.py after pulumi up)", file=sys.stderr)
        return 2
    try:
        # With --accept-new-host-key the fingerprint is learnt at the preflight; until then a
        # well-formed stand-in lets the rest of the answers be validated.
        learning = (args.hosting == "on-premise" and args.accept_new_host_key and not args.host_key_fingerprint
                    and not args.without_host)
        answers = installation_from(args, fingerprint=LEARN_AT_PREFLIGHT if learning else None)
        installation = validate(answers)
        if isinstance(installation, OnPremConfig) and args.without_host:
            print(f"host {args.host} NOT checked (--without-host): the stack plans, but its guardrail "
                  "onprem-host-checked fails and pulumi up refuses the host until scripts/check_host.py has "
                  "checked it")
        elif isinstance(installation, OnPremConfig):
            sizes, fingerprint = preflight(args, installation)
            answers = installation_from(args, sizes, fingerprint)
            validate(answers)
            if args.skip_connectivity_check:
                print("connectivity NOT checked (--skip-connectivity-check): run scripts/check_connectivity.py after pulumi up")
    except ValueError as error:  # BadAnswers, or a --probe-outputs file that is not JSON
        print(error, file=sys.stderr)
        return 2
    except HostError as error:  # whatever its outcome, onboarding stops before writing anything
        return host_failure(error, dict.fromkeys(OUTCOMES, 1), prefix=STOPPED)
    except (OSError, KeyError) as error:
        print(f"{STOPPED}{error}", file=sys.stderr)
        return 1
    target.write_text(stack_text(args.stack, answers))
    print(f"wrote {target}")
    plan = _repo.REPO_ROOT / "scripts" / "plan.py"
    print("next, as a person with the Pulumi CLI (this script stores no secret; docs/operate.md, "
          "\"From onboarding to the first preview\"):")
    print(f"  pulumi stack init {args.stack}")
    for secret in SECRET_KEYS:
        if args.hosting in secret.hostings:
            print(f"  {secret.how_to_set.replace('pulumi config set', f'pulumi config set --stack {args.stack}', 1)}")
    print(f"  {plan} {target} --check")
    print(f"  pulumi preview --diff --stack {args.stack}")
    print(f"until then the stack waits for its secrets: {plan} {target} plans it with placeholders (exit 0), "
          "--check exits 4, and a pull request's comment says so")
    if args.without_host:
        print(f"once the host answers: {_repo.REPO_ROOT / 'scripts' / 'check_host.py'} {target} --key KEY "
              "(--host-key-fingerprint SHA256:... | --accept-new-host-key) --probe-outputs PROBE.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check an on-premise host that was onboarded before it was reachable, and record what it found.

    scripts/check_host.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 --accept-new-host-key \
        --probe-outputs probe.json
    scripts/check_host.py Pulumi.acme.yaml --key ~/.ssh/acme_ed25519 \
        --host-key-fingerprint SHA256:... --skip-connectivity-check

The second stage of on-premise onboarding (the first: scripts/onboard.py --without-host). It runs
onboarding's checks against the host the stack file names: the host key (pinned with
--host-key-fingerprint, the one already in the file, or learnt with --accept-new-host-key), the OS,
each drive and its exact size, whether the drives can be prepared, and, with --probe-outputs, the
upload speed to two locations against --expected-daily-change-gb. Only when everything passes does
it update the stack file: the host key, the drives' sizes, and `on_premise.host_unchecked` removed.
Everything else in the file is kept (its encrypted secrets too); comments other than the header at
its top are not. Nothing on the host is changed.

Exit codes: 0 checked and the file updated, 1 refused (the host or its connectivity is not
sufficient, or it cannot be reached or read; the file is unchanged), 2 bad arguments or a stack file
that is not an unchecked on-premise installation.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import _repo
import yaml
from _host_access import host_failure

from components.config import OnPremConfig
from components.host.errors import OUTCOMES, HostError
from components.onboarding import LEARN_AT_PREFLIGHT, preflight, validate

KEY = "daktela:installation"


class BadStack(ValueError):
    pass


def read_unchecked(path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(the header comment, the whole YAML document, its installation) of an unchecked stack file."""
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BadStack(f"{path}: cannot be read: {error}") from None
    installation = (document or {}).get("config", {}).get(KEY) if isinstance(document, dict) else None
    if not isinstance(installation, dict):
        raise BadStack(f"{path}: has no {KEY} to check (write one with scripts/onboard.py)")
    if installation.get("hosting") != "on-premise":
        raise BadStack(f"{path}: installation {installation.get('id')} is not on-premise: it has no host to check")
    if not (installation.get("on_premise") or {}).get("host_unchecked"):
        raise BadStack(f"{path}: the host of {installation.get('id')} is already checked "
                       "(installation.on_premise.host_unchecked is not set); scripts/prepare_host.py --dry-run "
                       "shows what the host holds now")
    header = "".join(line for line in text.splitlines(keepends=True)[:20] if line.startswith("#"))
    return header, document, installation


def with_findings(installation: dict[str, Any], sizes: dict[str, int], fingerprint: str) -> dict[str, Any]:
    """The installation as checked: the drives' sizes and the host key, no longer unchecked."""
    checked = copy.deepcopy(installation)
    onprem = checked["on_premise"]
    onprem.pop("host_unchecked", None)
    for role in ("operational", "archive"):
        onprem["drives"][role]["size_bytes"] = sizes.get(role, 1)
    if fingerprint:
        onprem["host"]["host_key_fingerprint"] = fingerprint
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("stack_file", type=Path, help="the stack file onboard.py --without-host wrote")
    parser.add_argument("--key", required=True, help="private SSH key file for the host's user (not stored)")
    parser.add_argument("--host-key-fingerprint", help="the server's SSH host key, SHA256:..., as its admin gives it")
    parser.add_argument("--accept-new-host-key", action="store_true", help="learn the host key and pin it in the file")
    parser.add_argument("--probe-outputs", type=Path, help="JSON like `pulumi stack output --json --show-secrets` of "
                                                           "a stack with backup_locations and backup_credentials")
    parser.add_argument("--expected-daily-change-gb", type=float, default=2.0,
                        help="the data the operational drive is expected to change a day (default 2 GB)")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint for the probe (tests, local servers)")
    parser.add_argument("--skip-connectivity-check", action="store_true",
                        help="check the host only; run scripts/check_connectivity.py after pulumi up")
    args = parser.parse_args(argv)
    try:
        header, document, installation = read_unchecked(args.stack_file)
        if not (args.probe_outputs or args.skip_connectivity_check):
            raise BadStack("give --probe-outputs to measure the connectivity (or --skip-connectivity-check, and run "
                           "scripts/check_connectivity.py after pulumi up)")
        pinned = args.host_key_fingerprint or installation["on_premise"].get("host", {}).get("host_key_fingerprint")
        if not (pinned or args.accept_new_host_key or installation["on_premise"]["host"].get("known_hosts_file")):
            raise BadStack("give --host-key-fingerprint (ssh-keyscan HOST | ssh-keygen -lf -, or ask the host's admin) "
                           "or --accept-new-host-key: a host key must be verified before any command runs")
        args.host_key_fingerprint = pinned
        # validated as the checked installation it will be, with stand-ins for what the host tells
        parsed = validate(with_findings(installation, {}, pinned or LEARN_AT_PREFLIGHT))
        assert isinstance(parsed, OnPremConfig)
    except ValueError as error:  # BadStack, BadAnswers
        print(f"check_host: {error}", file=sys.stderr)
        return 2
    try:
        sizes, fingerprint = preflight(args, parsed, answered_with=lambda found, key: with_findings(installation, found, key))
    except ValueError as error:  # a --probe-outputs file that is not JSON
        print(f"check_host: {error}", file=sys.stderr)
        return 2
    except HostError as error:
        return host_failure(error, dict.fromkeys(OUTCOMES, 1), prefix="check_host: the file is unchanged: ")
    except (OSError, KeyError) as error:
        print(f"check_host: the file is unchanged: {error}", file=sys.stderr)
        return 1
    checked = with_findings(installation, sizes, fingerprint)  # validated by the preflight, as answered_with
    document["config"][KEY] = json.loads(json.dumps(checked, default=str))
    _repo.write_atomically(args.stack_file, header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    print(f"checked; wrote into {args.stack_file}: host key {fingerprint}, drive sizes "
          + ", ".join(f"{role} {size} bytes" for role, size in sorted(sizes.items()))
          + "; the host is no longer marked unchecked")
    if args.skip_connectivity_check:
        print("connectivity NOT checked (--skip-connectivity-check): run scripts/check_connectivity.py after pulumi up")
    print(f"next: commit it; {_repo.REPO_ROOT / 'scripts' / 'plan.py'} {args.stack_file} --check, then pulumi up")
    return 0


if __name__ == "__main__":
    sys.exit(main())

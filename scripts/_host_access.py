"""What the on-premise scripts share: read a stack file's host settings and an SSH key file."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass

import _repo

from components.config import ConfigError, OnPremConfig
from components.offline import StackFileError, installation_of, read_stack_file
from components.host.errors import OUTCOMES, HostError
from components.host.ssh import HostAccess


class UsageError(Exception):
    """Bad arguments or stack file; the message says what to fix."""


def host_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every on-premise host script starts with: the stack file and the SSH key; its
    help from the script's docstring (its first paragraph, then the rest as the epilog)."""
    parser = _repo.parser(doc)
    parser.add_argument("stack_file", help="the installation's Pulumi.<stack>.yaml")
    parser.add_argument("--key", required=True, help="private SSH key file for the host's user")
    return parser


def host_failure(error: HostError, codes: dict[str, int], hints: dict[str, str] | None = None,
                 prefix: str = "") -> int:
    """Report a host error as the script documents it: its message (after the script's `prefix`,
    then the script's hint for its outcome) on stderr, and the script's exit code for its outcome
    (components/host/errors.py lists the outcomes; every script maps all of them)."""
    assert set(codes) == set(OUTCOMES), f"exit codes for {sorted(set(OUTCOMES) - set(codes))} are missing"
    hint = (hints or {}).get(error.outcome)
    print(f"{prefix}{error}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
    return codes[error.outcome]


@dataclass(frozen=True)
class OnPremTarget:
    installation: OnPremConfig
    access: HostAccess


def load_target(stack_file: str, key_file: str, accept_new_host_key: bool = False) -> OnPremTarget:
    try:
        installation = installation_of(read_stack_file(stack_file))
    except StackFileError as error:
        raise UsageError(str(error)) from None
    except ConfigError as error:
        raise UsageError(f"{stack_file}: {error}") from None
    if not isinstance(installation, OnPremConfig):
        raise UsageError(f"{stack_file}: hosting is {installation.hosting!r}; this is for on-premise hosts")
    try:
        mode = os.stat(key_file).st_mode
        with open(key_file, encoding="utf-8") as handle:
            key_text = handle.read()
    except OSError as error:
        raise UsageError(f"--key {key_file}: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"--key {key_file} is readable by others; chmod 600 it first")
    host = installation.on_premise.host
    return OnPremTarget(installation, HostAccess(
        host.address, host.port, host.user, key_text, host.host_key_fingerprint, host.known_hosts_file,
        accept_new_host_key=accept_new_host_key,
    ))

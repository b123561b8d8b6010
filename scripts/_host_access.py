"""What the on-premise scripts share: read a stack file's host settings and an SSH key file."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from components.config import ConfigError, OnPremConfig
from components.offline import StackFileError, installation_of, read_stack_file
from components.host.ssh import HostAccess


class UsageError(Exception):
    """Bad arguments or stack file; the message says what to fix."""


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

"""The one SSH runner: verified host key first, then commands with deadlines, atomic uploads.

Plain paramiko, no Pulumi. The host key is checked right after key exchange and before
authentication, so a wrong or unknown key means no command ever runs on that host.
"""

from __future__ import annotations

import base64
import hashlib
import io
import select
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import paramiko

# The host errors live in components/host/errors.py; imported here too for the runner's callers.
from components.host.errors import CommandError, ConnectionLost, HostError, HostKeyError, Unreachable  # noqa: F401

CONNECT_TIMEOUT = 15.0
COMMAND_TIMEOUT = 600.0
KEEPALIVE_SECONDS = 15


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class HostAccess:
    """Everything needed to reach a host. `private_key` is the key's text: never log this object."""

    address: str
    port: int
    user: str
    private_key: str
    host_key_fingerprint: Optional[str] = None
    known_hosts_file: Optional[str] = None
    accept_new_host_key: bool = False  # only ever set by a person, who is shown the fingerprint

    def __repr__(self) -> str:  # keep the key out of tracebacks and logs
        return f"HostAccess({self.user}@{self.address}:{self.port})"

    @property
    def name(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """SHA256 fingerprint as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_private_key(text: str) -> paramiko.PKey:
    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as error:
            errors.append(f"{key_class.__name__}: {error}")
    raise Unreachable("the SSH private key cannot be read (an unencrypted OpenSSH or PEM key is expected): "
                    + "; ".join(errors))


def _known_host_keys(path: str, address: str, port: int) -> list[paramiko.PKey]:
    keys = paramiko.HostKeys()
    try:
        keys.load(path)
    except OSError as error:
        raise HostKeyError(f"cannot read known_hosts file {path}: {error}") from None
    names = [address] if port == 22 else [f"[{address}]:{port}"]
    found = []
    for name in names:
        entry = keys.lookup(name)
        if entry:
            found += list(entry.values())
    return found


class Connection:
    """An authenticated SSH connection to one host. Use as a context manager."""

    def __init__(self, access: HostAccess, on_new_host_key: Optional[Callable[[str], None]] = None):
        self.access = access
        self.commands_run = 0  # round trips, for progress reports and benchmarks
        self.host_key_fingerprint = ""  # as seen on this connection
        self._transport = self._open(on_new_host_key)

    # -- connecting -------------------------------------------------------------------------

    def _open(self, on_new_host_key: Optional[Callable[[str], None]]) -> paramiko.Transport:
        access = self.access
        try:
            sock = socket.create_connection((access.address, access.port), timeout=CONNECT_TIMEOUT)
        except OSError as error:
            raise Unreachable(f"{access.name}: cannot connect: {error}") from None
        transport = paramiko.Transport(sock)
        transport.banner_timeout = CONNECT_TIMEOUT
        transport.auth_timeout = CONNECT_TIMEOUT
        try:
            transport.start_client(timeout=CONNECT_TIMEOUT)
            self._check_host_key(transport.get_remote_server_key(), on_new_host_key)
            transport.auth_publickey(access.user, load_private_key(access.private_key))
        except paramiko.AuthenticationException:
            transport.close()
            raise Unreachable(
                f"{access.name}: the SSH key was refused; is its public half in the user's "
                "authorized_keys?"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            transport.close()
            raise Unreachable(f"{access.name}: SSH failed: {error}") from None
        except HostError:
            transport.close()
            raise
        transport.set_keepalive(KEEPALIVE_SECONDS)
        return transport

    def _check_host_key(self, key: paramiko.PKey, on_new_host_key: Optional[Callable[[str], None]]) -> None:
        access = self.access
        seen = self.host_key_fingerprint = fingerprint(key)
        if access.host_key_fingerprint is not None:
            if seen != access.host_key_fingerprint:
                raise HostKeyError(
                    f"{access.name}: host key {seen} is not the pinned {access.host_key_fingerprint}; "
                    "refusing to connect. If the host was reinstalled, confirm the new key with its "
                    "administrator and update on_premise.host.host_key_fingerprint"
                )
            return
        if access.known_hosts_file is not None:
            known = _known_host_keys(access.known_hosts_file, access.address, access.port)
            if any(k.get_name() == key.get_name() and k.asbytes() == key.asbytes() for k in known):
                return
            if known:
                raise HostKeyError(
                    f"{access.name}: host key {seen} differs from the one in "
                    f"{access.known_hosts_file}; refusing to connect (possible man-in-the-middle)"
                )
        if access.accept_new_host_key:
            if on_new_host_key is not None:
                on_new_host_key(seen)
            return
        raise HostKeyError(
            f"{access.name}: unknown host key {seen}; refusing to connect. Check it with the host's "
            "administrator, then pin it in on_premise.host.host_key_fingerprint"
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------

    def _privileged(self, script: str) -> str:
        shell = f"sh -c {shlex.quote(script)}"
        return shell if self.access.user == "root" else f"sudo -n -- {shell}"

    def run(
        self,
        script: str,
        *,
        stdin: Optional[bytes] = None,
        timeout: float = COMMAND_TIMEOUT,
        check: bool = True,
        privileged: bool = True,
    ) -> CommandResult:
        """Run a shell script (as root via `sudo -n` unless the user is root), reading stdout and
        stderr together until it exits or the deadline passes."""
        command = self._privileged(script) if privileged else script
        self.commands_run += 1
        try:
            channel = self._transport.open_session(timeout=CONNECT_TIMEOUT)
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise ConnectionLost(f"{self.access.name}: the connection is gone: {error}") from None
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            # Read both streams until the channel's EOF: sshd may report the exit status before
            # the last output has arrived, so the status alone never ends the loop.
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                    continue
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    continue
                if channel.eof_received or channel.closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandError(f"{self.access.name}: command ran past {timeout:.0f}s: {_short(script)}")
                select.select([channel], [], [], min(remaining, 1.0))
            while not channel.status_event.wait(0.2):
                if not self._transport.is_active():
                    raise ConnectionLost(f"{self.access.name}: the connection was lost during a command")
                if time.monotonic() > deadline:
                    raise CommandError(f"{self.access.name}: no exit status for: {_short(script)}")
            exit_code = channel.recv_exit_status()
            if exit_code == -1:  # paramiko: the channel closed without an exit status
                raise ConnectionLost(f"{self.access.name}: the connection was lost during a command "
                                     "(no exit status came back)")
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise ConnectionLost(f"{self.access.name}: the connection was lost during a command: {error}") from None
        finally:
            channel.close()
        result = CommandResult(script, exit_code, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and not result.ok:
            detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
            if "sudo:" in result.stderr and "password" in result.stderr:
                detail += " (the user needs passwordless sudo: `user ALL=(ALL) NOPASSWD: ALL`)"
            raise CommandError(
                f"{self.access.name}: command failed with exit code {exit_code}: {_short(script)}\n{detail}",
                result,
            )
        return result

    def upload(self, path: str, content: bytes, mode: int = 0o644, owner: str = "root:root") -> None:
        """Write a file atomically: a temp file in the same directory, synced, then renamed."""
        self.run(atomic_write_script(path, mode, owner), stdin=content)


def atomic_write_script(path: str, mode: int = 0o644, owner: str = "root:root") -> str:
    """Shell that writes its stdin to `path` atomically (temp file beside it, fsync, rename)."""
    from components.templates import render

    return render("host/atomic-write.sh.j2", path=path, directory=str(Path(path).parent), mode=mode, owner=owner)


def _short(script: str) -> str:
    first = script.strip().splitlines()[0] if script.strip() else ""
    return first if len(first) < 100 else first[:97] + "..."

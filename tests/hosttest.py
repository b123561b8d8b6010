"""A throwaway "customer host" for tests: sshd on a loopback port inside its own mount namespace.

- The namespace gets a private copy of /etc bind-mounted over /etc, so /etc/fstab, the fstab
  backups, the toolkit's state file, the test user (key-only, passwordless sudo) and the sudoers
  rule exist only there: the machine's own /etc and fstab are never touched. /usr/local and
  /var/lib are overlays whose writes land in the temp directory, and /run is a fresh tmpfs.
- Its drives are loop devices over sparse files in the test's temp directory.
- Mounts made over SSH happen inside the namespace and die with it.
- `stop()` ends every process whose mount namespace is the host's (a lingering SSH session would
  keep the mounts busy), then detaches the loop devices: nothing is left behind.

Needs root, unshare, sshd, losetup; in CI a missing piece fails the test (it never skips).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from components.host.ssh import HostAccess, fingerprint

import paramiko

USER = "dkhost"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UID = 4242


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for tool in ("unshare", "losetup", "sfdisk", "partx", "wipefs", "mkfs.ext4", "mkfs.xfs", "findmnt", "sudo"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if not Path("/usr/sbin/sshd").exists():
        missing.append("sshd (openssh-server)")
    return missing


@dataclass
class Drive:
    role: str
    backing_file: Path
    size_bytes: int
    device: str = ""

    @property
    def identity(self) -> str:
        return f"loop:{self.backing_file}"


@dataclass
class ThrowawayHost:
    root: Path
    drive_sizes: dict[str, int] = field(default_factory=lambda: {"operational": 256 << 20, "archive": 320 << 20})
    port: int = 0
    drives: dict[str, Drive] = field(default_factory=dict)
    client_key: str = ""
    host_fingerprint: str = ""
    process: Optional[subprocess.Popen] = None
    namespace: str = ""
    namespace_fd: int = -1
    # The drives' loop devices read and write their backing files with O_DIRECT: what a drive "holds"
    # is on the machine's disk, never served from the backing file's page cache (benchmarks that
    # read copies back from the drive, as a real drive would answer them).
    direct_io: bool = False

    # -- set up -----------------------------------------------------------------------------

    def start(self) -> "ThrowawayHost":
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._make_etc()
            self._make_drives()
            self._start_sshd()
        except BaseException:
            self.stop()
            raise
        return self

    def _make_etc(self) -> None:
        etc = self.root / "etc"
        subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
        (etc / "fstab").write_text("# /etc/fstab of the throwaway test host\nproc /proc proc defaults 0 0\n")
        with open(etc / "passwd", "a") as f:
            f.write(f"{USER}:x:{UID}:{UID}:test host user:/:/bin/sh\n")
        with open(etc / "group", "a") as f:
            f.write(f"{USER}:x:{UID}:\n")
        with open(etc / "shadow", "a") as f:
            f.write(f"{USER}:*:19000:0:99999:7:::\n")
        rule = etc / "sudoers.d" / USER
        rule.write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)

        keys = self.root / "keys"
        keys.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client")], check=True)
        self.client_key = (keys / "client").read_text()
        # Inside the namespace /etc is the private copy, readable by sshd as the user (the temp
        # directory's own parents are not).
        authorized = etc / "ssh" / "daktela-test-authorized"
        authorized.mkdir()
        (authorized / USER).write_text((keys / "client.pub").read_text())
        (authorized / "root").write_text((keys / "client.pub").read_text())
        self.host_fingerprint = fingerprint(paramiko.Ed25519Key.from_private_key_file(str(keys / "host")))

        self.port = _free_port()
        (self.root / "sshd_config").write_text(f"""
Port {self.port}
ListenAddress 127.0.0.1
HostKey {keys / 'host'}
PidFile {self.root / 'sshd.pid'}
AuthorizedKeysFile /etc/ssh/daktela-test-authorized/%u
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers {USER} root
LogLevel VERBOSE
""")

    def _make_drives(self) -> None:
        for role, size in self.drive_sizes.items():
            backing = self.root / f"{role}.img"
            with open(backing, "wb") as f:
                f.truncate(size)
            device = subprocess.run(["losetup", "-f", "--show", "-P", *(["--direct-io=on"] if self.direct_io else []),
                                     str(backing)], check=True,
                                    capture_output=True, text=True).stdout.strip()
            self.drives[role] = Drive(role, backing, size, device)

    def _start_sshd(self) -> None:
        # Private views of what the toolkit writes outside /etc: overlays over /usr/local, /var/lib
        # and root's home (restic's cache: writes land in the temp directory), a fresh /run.
        overlays = []
        for directory in ("/usr/local", "/var/lib", "/root"):
            layer = self.root / "overlay" / directory.strip("/").replace("/", "-")
            (layer / "upper").mkdir(parents=True)
            (layer / "work").mkdir()
            overlays.append(f"mount -t overlay overlay -o lowerdir={directory},upperdir={layer / 'upper'},"
                            f"workdir={layer / 'work'} {directory}\n")
        script = (
            "set -e\n"
            f"mount --bind {self.root / 'etc'} /etc\n"
            + "".join(overlays)
            + "mount -t tmpfs -o mode=0755 tmpfs /run\n"
            "mkdir -m 0755 /run/sshd\n"  # sshd's privilege separation directory
            f"exec /usr/sbin/sshd -D -e -f {self.root / 'sshd_config'}\n"
        )
        log = open(self.root / "sshd.log", "wb")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"test sshd did not start:\n{self.log()}")
                time.sleep(0.05)
        # Held open until teardown: a namespace's inode number is reused once it is freed, and
        # teardown kills every process in "its" namespace (with tests in parallel, another test's
        # fresh namespace could otherwise carry the same number).
        self.namespace_fd = os.open(f"/proc/{self.process.pid}/ns/mnt", os.O_RDONLY)
        self.namespace = os.readlink(f"/proc/self/fd/{self.namespace_fd}")
        if self.namespace == os.readlink("/proc/self/ns/mnt"):
            raise RuntimeError("the test host did not get its own mount namespace")

    # -- use --------------------------------------------------------------------------------

    def access(self, user: str = USER, **overrides) -> HostAccess:
        values = dict(address="127.0.0.1", port=self.port, user=user, private_key=self.client_key,
                      host_key_fingerprint=self.host_fingerprint)
        values.update(overrides)
        return HostAccess(**values)

    def mount_point(self, role: str) -> str:
        return str(self.root / "srv" / role)

    def run(self, command: str, env: Optional[dict[str, str]] = None, timeout: int = 120) -> subprocess.CompletedProcess:
        """Run a command inside the host's mount namespace directly (to inspect or stage state, or run
        a job as its timer would), with a Debian host's PATH: the host's own tools, never this
        machine's (a pyenv python3 or a pip-installed aws ahead of Debian's)."""
        return subprocess.run(
            ["nsenter", f"--mount=/proc/{self.process.pid}/ns/mnt", "sh", "-c", command],
            capture_output=True, text=True, timeout=timeout,
            env={**{k: v for k, v in os.environ.items() if k != "RESTIC_CACHE_DIR"},  # the host's own, in its home
                 "PATH": HOST_PATH, **(env or {})},
        )

    def fstab(self) -> str:
        return (self.root / "etc" / "fstab").read_text()

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- tear down --------------------------------------------------------------------------

    def _namespace_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "ns" / "mnt") == self.namespace:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def stop(self) -> None:
        if self.namespace:
            deadline = time.monotonic() + 10
            while True:
                pids = self._namespace_pids()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"processes {pids} of the test host would not end")
                time.sleep(0.05)
        if self.namespace_fd >= 0:  # no process left in it: it may go (and its mounts with it)
            os.close(self.namespace_fd)
            self.namespace_fd = -1
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for drive in self.drives.values():
            if drive.device:
                subprocess.run(["losetup", "-d", drive.device], capture_output=True)
        for drive in self.drives.values():
            # A device still mounted in the dying namespace is detached lazily (autoclear) once the
            # kernel has torn the namespace down; on a busy machine that takes a moment.
            deadline = time.monotonic() + 15
            while True:
                leftovers = subprocess.run(["losetup", "-j", str(drive.backing_file)],
                                           capture_output=True, text=True).stdout
                if not leftovers.strip():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"loop devices left behind: {leftovers}")
                for device in [line.split(":", 1)[0] for line in leftovers.splitlines() if line]:
                    subprocess.run(["losetup", "-d", device], capture_output=True)
                time.sleep(0.2)
        # Nothing the host made stays behind but its log: drive images (sparse, GBs apparent), the
        # private /etc copy, keys, overlays and staged data.
        for child in self.root.iterdir():
            if child.name == "sshd.log":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

"""Locations as production's networks make them: one that never answers, and one behind a crawling link.

- `SilentLocation`: a TLS listener on loopback that completes the handshake with the double's own
  certificate and then reads forever, answering nothing (a stuck proxy, a half-open firewall).
- `ShapedLocation`: the strict double reached through a real, shaped link. A network namespace of
  the test's own, a veth pair into it, the kernel's `tc tbf` on the way in (the host's upload),
  and a forwarder whose listening socket lives inside the namespace and whose upstream connections
  go to the double on loopback. The host reaches it by a name its private /etc/hosts maps to the
  namespace's address (the double's certificate has that name).
Both stop with the test, whatever happens: listeners closed, the namespace (and its veth) deleted.
Nothing listens outside loopback and the test's own namespace, and nothing is sent anywhere else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
# Names the double's certificate carries (tests/strict_aws.py, make_certificate).
SHAPED_NAME = "slow-location.daktela.test"
UNKNOWN_NAME = "unknown-location.daktela.invalid"


def serve(listener: socket.socket, stopped: threading.Event, handle) -> None:
    """Accept on `listener` until `stopped`, each connection handed to `handle` in a thread of its own."""
    listener.settimeout(0.2)
    while not stopped.is_set():
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        threading.Thread(target=handle, args=(client,), daemon=True).start()


def pipe(source: socket.socket, sink: socket.socket, stopped: threading.Event, chunk: int = 65536,
         bytes_per_second: Optional[int] = None, cut: Optional[Callable[[int], bool]] = None,
         held: Optional[Callable[[], bool]] = None) -> None:
    """Copy `source` into `sink` until either end closes (then both are shut down), at most at
    `bytes_per_second` when given; `cut(bytes copied so far)` saying True ends it there, and nothing
    is passed on while `held()` says True (the connection stays open, silent)."""
    copied = 0
    try:
        while not stopped.is_set():
            data = source.recv(chunk)
            if not data:
                break
            while held and held() and not stopped.is_set():
                time.sleep(0.05)
            sink.sendall(data)
            copied += len(data)
            if cut and cut(copied):
                break
            if bytes_per_second:
                time.sleep(len(data) / bytes_per_second)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextlib.contextmanager
def _subnets_lock(wait: float = 60.0) -> Iterator[None]:
    """One test process at a time chooses a link's subnet: an abstract socket bound under one name is
    the lock (the kernel frees it with the process; no file is left behind)."""
    holder = socket.socket(socket.AF_UNIX)
    deadline = time.monotonic() + wait
    while True:
        try:
            holder.bind("\0daktela-test-shaped-links")
            break
        except OSError:
            if time.monotonic() > deadline:
                holder.close()
                raise RuntimeError("another test process held the shaped links' lock for a minute") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        holder.close()


def _free_subnet() -> int:
    """The first 10.233.N.0/30 no interface of this machine uses (under _subnets_lock): two links on
    one subnet would route one test's packets into the other's namespace."""
    used = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True).stdout
    for octet in range(1, 255):
        if f" 10.233.{octet}." not in used:
            return octet
    raise RuntimeError("every 10.233.N.0/30 subnet is in use: shaped links were left behind (ip -4 addr)")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


class SilentLocation:
    """Accepts, completes TLS, reads whatever comes and never answers."""

    def __init__(self, certificate: Path, key: Path):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.context, self.stopped, self.held = context, threading.Event(), []
        self.accepted = 0
        threading.Thread(target=serve, args=(self.listener, self.stopped, self._hold), daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _hold(self, client: socket.socket) -> None:
        self.accepted += 1
        try:
            client.settimeout(5)
            tls = self.context.wrap_socket(client, server_side=True)
            self.held.append(tls)
            tls.settimeout(0.5)
            while not self.stopped.is_set():
                try:
                    if not tls.recv(65536):
                        return
                except (socket.timeout, ssl.SSLError):
                    continue
        except OSError:
            return

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for held in self.held:
            try:
                held.close()
            except OSError:
                pass


class ShapedLocation:
    """The double behind a link in its own namespace: the host's uploads to it at `rate`, its
    downloads from it at `download_rate` (tc tbf syntax, e.g. "256kbit"; either unshaped when None)."""

    def __init__(self, upstream_port: int, rate: Optional[str], download_rate: Optional[str] = None):
        suffix = uuid.uuid4().hex[:6]
        self.namespace = f"dk-{suffix}"
        outside, inside = f"dko{suffix}", f"dki{suffix}"
        self.upstream_port = upstream_port
        self.outside = outside
        self.stopped = threading.Event()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.cut_lock = threading.Lock()
        self.cut_after: Optional[int] = None
        self.cuts = 0
        self.hold_after: Optional[int] = None
        self.holding = threading.Event()  # set: every answer stops where it is (the location hangs)
        try:
            with _subnets_lock():
                octet = _free_subnet()
                for command in (
                    ["ip", "netns", "add", self.namespace],
                    ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
                    ["ip", "addr", "add", f"10.233.{octet}.1/30", "dev", outside],
                ):
                    subprocess.run(command, check=True, capture_output=True, text=True)
            self.address = f"10.233.{octet}.2"
            for command in (
                ["ip", "link", "set", inside, "netns", self.namespace],
                ["ip", "link", "set", outside, "up"],
                ["ip", "-n", self.namespace, "addr", "add", f"{self.address}/30", "dev", inside],
                ["ip", "-n", self.namespace, "link", "set", inside, "up"],
                ["ip", "-n", self.namespace, "link", "set", "lo", "up"],
                # the host's upload crawls: what leaves toward the location is shaped by the kernel
                *([["tc", "qdisc", "add", "dev", outside, "root", "tbf", "rate", rate, "burst", "16kbit",
                    "latency", "400ms"]] if rate else []),
                # the host's download: what the namespace sends back
                *([["tc", "-n", self.namespace, "qdisc", "add", "dev", inside, "root", "tbf", "rate", download_rate,
                    "burst", "64kb", "latency", "400ms"]] if download_rate else []),
            ):
                subprocess.run(command, check=True, capture_output=True, text=True)
            self._listen()
        except BaseException:
            self.close()
            raise
        threading.Thread(target=serve, args=(self.listener, self.stopped, self._forward), daemon=True).start()

    def _listen(self) -> None:
        """The listening socket is made inside the namespace; this thread returns to its own after."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        theirs = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY)
        try:
            _setns(theirs)
            try:
                listener = socket.socket()
                listener.bind((self.address, 443))
                listener.listen(32)
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(theirs)
        self.listener = listener

    @property
    def endpoint(self) -> str:
        return f"https://{SHAPED_NAME}"

    def hosts_line(self) -> str:
        return f"{self.address} {SHAPED_NAME}\n"

    def cut_next_download(self, after_bytes: int) -> None:
        """The next connection whose download passes `after_bytes` is cut there (once): a link that
        drops a connection in the middle of an answer."""
        with self.cut_lock:
            self.cut_after = after_bytes

    def hold_after_download(self, after_bytes: int) -> None:
        """Once an answer passes `after_bytes`, the location stops answering, every connection where
        it is (open, silent): a location that hangs in the middle of a large download."""
        with self.cut_lock:
            self.hold_after = after_bytes

    def _cut_here(self, copied: int) -> bool:
        with self.cut_lock:
            if self.hold_after is not None and copied >= self.hold_after:
                self.hold_after = None
                self.holding.set()
            if self.cut_after is None or copied < self.cut_after:
                return False
            self.cut_after = None
            self.cuts += 1
            return True

    def _forward(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))  # from this thread's namespace
        self.connections += [client, upstream]
        threading.Thread(target=pipe, args=(client, upstream, self.stopped), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, self.stopped),
                         kwargs={"cut": self._cut_here, "held": self.holding.is_set}, daemon=True).start()

    def close(self) -> None:
        """Every socket closed (an open one keeps the namespace alive), the namespace and the link gone."""
        self.stopped.set()
        for open_socket in [*self.connections, *([self.listener] if self.listener else [])]:
            try:
                open_socket.close()
            except OSError:
                pass
        subprocess.run(["ip", "netns", "delete", self.namespace], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.outside], capture_output=True)  # gone with it, or now

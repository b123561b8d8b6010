"""A throttled loopback link: a TCP proxy on 127.0.0.1 that forwards to a loopback server at a
fixed rate, for testing what a slow customer connection does. Bounded and stops with the test."""

from __future__ import annotations

import socket
import threading

from tests.rude_network import pipe, serve


class ThrottledProxy:
    def __init__(self, target_port: int, bytes_per_second: int):
        self.target_port = target_port
        self.rate = bytes_per_second
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=serve, args=(self.listener, self.stopped, self._forward), daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _forward(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        # the upload direction is the customer's bottleneck
        threading.Thread(target=pipe, args=(client, upstream, self.stopped, max(1024, self.rate // 20), self.rate),
                         daemon=True).start()
        pipe(upstream, client, self.stopped, max(1024, self.rate // 20))

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()

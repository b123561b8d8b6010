"""A throttled loopback link: a TCP proxy on 127.0.0.1 that forwards to a loopback server at a
fixed rate, for testing what a slow customer connection does. Bounded and stops with the test."""

from __future__ import annotations

import socket
import threading
import time


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
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, throttled: bool) -> None:
        chunk = max(1024, self.rate // 20)
        try:
            while not self.stopped.is_set():
                data = source.recv(chunk)
                if not data:
                    break
                sink.sendall(data)
                if throttled:  # the upload direction is the customer's bottleneck
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()

"""A moto server (real S3, DynamoDB, CloudWatch APIs) on a loopback port: for the tests and benchmarks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator


class MotoDidNotStart(RuntimeError):
    pass


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Start moto on a free loopback port, yield its endpoint URL, stop it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "wb") as out:
        # moto's server, its GetMetricData indexed and as strict as CloudWatch's (tests/moto_main.py)
        server = subprocess.Popen([sys.executable, "-m", "tests.moto_main", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise MotoDidNotStart(f"moto server did not start; log:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

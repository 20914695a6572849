"""`custody serve` in its own process on a free port of 127.0.0.1, as an operator starts it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    stderr: str = field(default="")

    def stop(self) -> str:
        """Stop the service (once) and return what it wrote on stderr."""
        if self.process.returncode is None:
            self.process.terminate()
            _, self.stderr = self.process.communicate(timeout=30)
        return self.stderr


@contextmanager
def custody_serve(env: dict[str, str]) -> Iterator[Served]:
    """Started, and answering /healthz; stopped on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{served.url}/healthz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, "custody serve died: " + served.stop()
                assert time.monotonic() < deadline, "custody serve did not start"
                time.sleep(0.2)
        yield served
    finally:
        served.stop()

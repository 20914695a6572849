"""`custody serve` in its own process on a free port of 127.0.0.1, as an operator starts it."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    log: IO[str]  # its stderr: a file, which a long run cannot fill as it would a pipe
    stderr: str = field(default="")

    def stop(self) -> str:
        """Stop the service (once) and return what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if not self.log.closed:
            self.log.seek(0)
            self.stderr = self.log.read()
            self.log.close()
        return self.stderr


@contextmanager
def custody_serve(env: dict[str, str]) -> Iterator[Served]:
    """Started, and answering /healthz; stopped on the way out."""
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process, log)
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

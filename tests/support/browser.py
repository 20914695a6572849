"""Headless Chromium for the portal's browser tests: Debian's /usr/bin/chromium, driven by
Playwright (which never downloads a browser of its own here), and the app served on
127.0.0.1 by a real HTTP server in a thread."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
MISSING = (
    f"no Chromium at {CHROMIUM}: the portal's browser tests are skipped "
    "(install Debian's chromium package, or set CUSTODY_CHROMIUM)"
)
FLAGS = [  # what a closed network and a root user need
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a free port of 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def artifacts(root: Path) -> Path:
    """Where screenshots go: CUSTODY_TEST_ARTIFACTS, else build/test-artifacts/portal."""
    folder = Path(os.environ.get("CUSTODY_TEST_ARTIFACTS") or root / "build" / "test-artifacts")
    folder = folder / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

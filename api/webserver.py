"""`custody web`: the app under gunicorn, several worker processes of several threads each.

Each worker builds its own container after the fork (its own database pool, its own keys
read from the key folder) without touching the database, so a worker replaced while the
database restarts boots all the same; the master holds no connection and restarts a worker
that dies. Metrics are counted by every worker into files of one folder (prometheus-client's
multiprocess mode) and summed at each scrape, whichever worker answers it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"


class WebServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        from api.app import create_app
        from api.container import build
        from api.logconfig import configure
        from api.settings import Settings

        settings = Settings.from_env()
        configure(settings.log_level)
        return create_app(container=build(settings, migrate=False))


def metrics_folder() -> Path:
    """The folder the workers count metrics into, emptied: counts start at zero with the
    server. Set before prometheus-client is imported, which picks its mode then."""
    folder = Path(os.environ.get(METRICS_FOLDER) or tempfile.mkdtemp(prefix="custody-metrics-"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[METRICS_FOLDER] = str(folder)
    return folder


def _worker_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def run(host: str, port: int, workers: int, threads: int, timeout: int) -> None:
    metrics_folder()
    import api.app  # noqa: F401  # imported once in the master: a new worker boots at once

    WebServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": timeout,
            "graceful_timeout": timeout,
            "proc_name": "custody-web",
            "child_exit": _worker_exit,
            "accesslog": None,  # the app writes its own access lines, as JSON
            "control_socket_disable": True,  # one per user otherwise: servers side by side clash
        }
    ).run()

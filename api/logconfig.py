"""Log lines: one JSON object each, carrying the id of the request being served.

Every line has `timestamp` (RFC 3339, UTC), `level`, `logger`, `message` and `request_id`
(the `X-Request-Id` of the response; "-" outside a request: scheduled jobs, start-up).
What is logged never holds a URL's path or query string, which may carry a worker's
reference or an access link: the access line names the route (`/v1/workers/<worker>/uses`),
and SQL errors leave out their parameters (see ledger.db.make_engine).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

FIELDS = "{levelname}{name}{message}{request_id}"
RENAMED = {"levelname": "level", "name": "logger"}
QUIET = {"apscheduler": logging.WARNING}  # a line for every job run otherwise
access = logging.getLogger("custody.access")


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id`; on a handler, it covers every logger that reaches it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record to `stream` (stderr) as JSON lines; the custody loggers at
    `level`, the others at WARNING. Replaces the root logger's handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter(FIELDS, style="{", rename_fields=RENAMED, timestamp="timestamp")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("custody").setLevel(level.upper())
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
    return handler


def install(app: Flask) -> None:
    """One access line for each request: method, route, status and time taken."""

    @app.before_request
    def _started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "(no route)"
        took = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
        access.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": took,
            },
        )
        return response

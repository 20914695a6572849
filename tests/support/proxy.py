"""A real HTTP proxy on 127.0.0.1 in front of the service, that misbehaves as scripted: it
answers an error itself, drops the connection before forwarding, or forwards the request,
lets the service answer, and then cuts the client's connection without passing the answer
on. It can also rewrite answers on their way back (tampering). It records every request."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass(frozen=True)
class Action:
    kind: str  # "status", "drop", "cut" or "forward"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def status(code: int, **headers: str) -> Action:
    """Answer `code` with a problem body, without forwarding."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return Action("status", code, {"Content-Type": "application/problem+json", **named})


DROP = Action("drop")  # close the connection at once: nothing reaches the service
CUT = Action("cut")  # forward, let the service answer, then close without passing it on
FORWARD = Action("forward")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    action: str
    answered: int | None = None  # the service's status, when it was asked
    answer_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Proxy:
    url: str = ""
    upstream: str = ""
    plan: list[Action] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    rewrite: Callable[[str, bytes], bytes] | None = None  # (path, answer body) -> body

    def script(self, *actions: Action) -> None:
        self.plan.extend(actions)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (method is None or s.method == method) and (path is None or s.path.startswith(path))
        ]


@contextmanager
def proxy(upstream: str) -> Iterator[Proxy]:
    state = Proxy(upstream=upstream)
    target = urlsplit(upstream)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                action = state.plan.pop(0) if state.plan else FORWARD
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    action.kind,
                )
                state.seen.append(seen)
            if action.kind == "drop":
                self.close_connection = True
                return
            if action.kind == "status":
                self._answer(action.status, action.headers, _problem(action.status))
                return
            code, headers, answer = self._forward(body)
            seen.answered, seen.answer_headers = code, {k.lower(): v for k, v in headers.items()}
            if action.kind == "cut":
                self.close_connection = True
                return
            if state.rewrite is not None:
                answer = state.rewrite(self.path, answer)
            self._answer(code, headers, answer)

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP}
                return response.status, kept, answer
            finally:
                connection.close()

        def _answer(self, code: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _problem(code: int) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": "Proxy says no", "status": code, "detail": "scripted"}
    ).encode()

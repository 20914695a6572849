"""Bodies in the media type an operation takes. APIFlask reads a JSON body only when it is
sent as JSON, and takes any other body for no body at all: a withdrawal naming purposes,
sent as text/plain, would withdraw everything. An operation that takes JSON refuses a body
in another media type with 415 instead."""

from __future__ import annotations

from apiflask import APIFlask
from flask import Response, request

from api.errors import problem


def install(app: APIFlask) -> None:
    @app.before_request
    def _json_bodies_as_json() -> Response | None:
        view = app.view_functions.get(request.endpoint or "")
        takes_json = getattr(view, "_spec", {}).get("content_type") == "application/json"
        if not takes_json or not _has_body() or request.is_json:
            return None
        return problem(
            415, "This operation takes a JSON body: send it with Content-Type: application/json."
        )


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")

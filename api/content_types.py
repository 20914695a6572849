"""Requests in the shape an operation takes. APIFlask reads a JSON body only when it is sent
as JSON, and takes any other body for no body at all: a withdrawal naming purposes, sent as
text/plain, would withdraw everything. An operation that takes JSON refuses a body in
another media type with 415 instead. Likewise an operation under /v1 refuses query
parameters it does not take (a mistyped `?limt=` must not pass unnoticed): webargs drops
unknown ones from a query schema silently."""

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

    @app.before_request
    def _no_unknown_query() -> Response | None:
        if not request.args or not request.path.startswith("/v1/"):
            return None
        view = app.view_functions.get(request.endpoint or "")
        known = {
            field.data_key or name
            for arg in getattr(view, "_spec", {}).get("args", [])
            if len(arg) > 1 and arg[1] == "query"
            for name, field in arg[0].fields.items()
        }
        unknown = sorted(set(request.args) - known)
        if not unknown:
            return None
        takes = f"takes only {', '.join(sorted(known))}" if known else "takes no query parameters"
        return problem(
            422,
            f"This operation {takes}; remove {', '.join(unknown)}.",
            errors=[{"in": "query", "field": n, "message": "Unknown field."} for n in unknown],
        )


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")

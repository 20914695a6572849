"""One mapper from errors to RFC 9457 application/problem+json responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Response, g
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from api.throttle import TooManyAttempts
from ledger.access.links import LinkRefused, Refusal
from ledger.errors import (
    Conflict,
    CustodyError,
    Gone,
    InvalidRequest,
    KeyUnavailable,
    NotFound,
    TryLater,
    VaultError,
)

PROBLEM = "application/problem+json"
log = logging.getLogger("custody.api")
RETRY_AFTER = 2  # seconds: a database failing over or storage coming back

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    headers: Mapping[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    request_id = g.get("request_id") if g else None
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status, headers=headers, mimetype=PROBLEM)
    (log.error if status >= 500 else log.warning)("%s %s", status, detail)
    return response


def _validation_errors(detail: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    for location, fields in detail.items():
        if not isinstance(fields, dict):
            errors.append({"in": location, "field": "", "message": str(fields)})
            continue
        for name, messages in fields.items():
            for message in _flatten(messages):
                if name == "_schema":  # marshmallow's word for the body as a whole
                    name, message = "body", f"{message} Send a JSON object."
                errors.append({"in": location, "field": str(name), "message": message})
    return errors


def _flatten(messages: Any) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten(item)]
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, v in messages.items() for m in _flatten(v)]
    return [str(messages)]


DETAILS = {
    400: (
        "The request is malformed: a JSON body must be valid JSON (an object) sent with "
        "Content-Type: application/json."
    ),
    401: "Send an API key as `Authorization: Bearer cust_...`.",
    404: "There is nothing at this address for this key.",
    405: "This address does not take that method.",
    413: "The request body is larger than this service accepts.",
}


LINK_PROBLEMS = {
    Refusal.INVALID: (403, "This access link is not valid. Ask the platform for a new one."),
    Refusal.EXPIRED: (410, "This access link has expired. Ask the platform for a new one."),
    Refusal.USED: (410, "This access link was already used; each works once. Ask for a new one."),
}


def register(app: APIFlask) -> None:
    @app.error_processor
    def _http_error(error: HTTPError) -> Response:
        status = error.status_code
        headers = dict(error.headers or {})
        if status == 422 or (status == 400 and isinstance(error.detail, dict) and error.detail):
            errors = _validation_errors(error.detail or {})
            summary = "; ".join(f"{e['field'] or e['in']}: {e['message']}" for e in errors) or str(
                error.message
            )
            return problem(status, summary, headers, errors=errors)
        generic = error.message in (None, "", HTTP_STATUS_CODES.get(status))
        detail = DETAILS.get(status, str(error.message)) if generic else str(error.message)
        return problem(status, detail, headers)

    @app.errorhandler(CustodyError)
    def _domain_error(error: CustodyError) -> Response:
        if isinstance(error, LinkRefused):
            return problem(*LINK_PROBLEMS[error.reason])
        if isinstance(error, TooManyAttempts):
            detail = f"Too many failed attempts; try again in {error.retry_after} seconds."
            return problem(429, detail, {"Retry-After": str(error.retry_after)})
        if isinstance(error, NotFound):
            return problem(404, f"No such {error.kind}.")
        if isinstance(error, InvalidRequest):
            named = [{"field": error.field, "message": str(error)}] if error.field else None
            return problem(400, str(error), errors=named)
        if isinstance(error, Gone):
            return problem(410, str(error))
        if isinstance(error, Conflict):
            return problem(409, str(error))
        if isinstance(error, KeyUnavailable):
            log.error("signing key unavailable: %s", error)
            return problem(503, "A signing key is unavailable; the operator has been alerted.")
        if isinstance(error, TryLater):
            return problem(503, str(error), {"Retry-After": str(error.retry_after)})
        if isinstance(error, VaultError):
            log.error("vault: %s", error)
            return problem(
                503,
                "Stored content cannot be read or written, or failed its integrity check; "
                "nothing was changed. Retry shortly.",
                {"Retry-After": str(RETRY_AFTER)},
            )
        log.exception("unmapped domain error")
        return problem(500, "The request failed; nothing was changed.")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # raised outside APIFlask's own handling
            return problem(error.code or 500, error.description or "")
        if isinstance(error, OperationalError | InterfaceError):  # the database went away
            log.error("database unreachable: %s", type(error.orig).__name__)
            detail = "The database cannot be reached; nothing was changed. Retry shortly."
            return problem(503, detail, {"Retry-After": str(RETRY_AFTER)})
        log.exception("unhandled error")
        return problem(500, "The request failed; nothing was changed.")

"""The OpenAPI document, made to say what the service really answers, in one place.

APIFlask documents each view's success answer and some errors, as `application/json` with
its own error schemas; the service answers every error as RFC 9457
`application/problem+json` (api.errors). This module is the app's spec processor: every
error answer of every operation becomes a Problem, the errors an operation can give are
added by rule (auth, path parameters, a body, a write, idempotency keys, the /v1 request
quota), and every answer documents its headers (`X-Request-Id`; under /v1 the quota's
`RateLimit-*`). A view declares only codes of its own, with `@bp.doc(responses=...)`; this
module gives them the Problem body too.

`render` is the one serialisation of the document: the committed openapi.json is it."""

from __future__ import annotations

import json
from typing import Any

from apiflask import APIFlask
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM = "application/problem+json"
_SCHEMA = "#/components/schemas/"
_HEADER = "#/components/headers/"
_RESPONSE = "#/components/responses/"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "always `about:blank`"},
        "title": {"type": "string", "description": "the status code's meaning"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "request_id": {"type": "string", "description": "the answer's X-Request-Id"},
        "errors": {
            "type": "array",
            "description": "one per field at fault, when the problem is about fields",
            "items": {"$ref": f"{_SCHEMA}ProblemError"},
        },
    },
}
PROBLEM_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "in": {"type": "string", "description": "json, query or headers, when validated"},
        "field": {"type": "string", "description": "empty when about the whole request"},
        "message": {"type": "string"},
    },
}

HEADERS: dict[str, dict[str, Any]] = {  # by component name
    "X-Request-Id": {
        "description": "The request's id: a sane incoming X-Request-Id, else a new one. "
        "Problem bodies carry it as `request_id`.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: Bearer.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After-Optional": {
        "description": "Seconds to wait before trying again, when it is known.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Limit": {
        "description": "Requests this credential (or address, without one) may make per window, "
        "while the request quota is on.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window frees a request.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Idempotent-Replayed": {
        "description": "`true` on the stored first answer to a repeated Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
QUOTA_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the call safe to retry: the same key with the same request gets the "
    "first answer again (with `Idempotent-Replayed: true`), for 24 hours; with another request, "
    "422; while the first is still running, 409 with Retry-After.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}

ERRORS: dict[int, str] = {
    400: "The request is malformed (a body that is not JSON, a bad header) or holds values "
    "the service refuses; `errors` names the fields.",
    401: "No credential, or one that is unknown, revoked or expired. Send "
    "`Authorization: Bearer cust_...` (an API key) or `Bearer cwk_...` (a worker token).",
    403: "The credential's role may not do this.",
    404: "Nothing at this address for this credential, or a record the request names does "
    "not exist.",
    409: "The request conflicts with the record's state (already done, already revoked, "
    "not ready yet).",
    410: "The record's content is gone (erased, or the link used up or expired).",
    413: "The request body is larger than this service accepts.",
    415: "A body was sent with a Content-Type other than the one this operation takes.",
    422: "The request does not match its schema; `errors` lists each field at fault.",
    429: "Too many requests; wait Retry-After seconds.",
    503: "A signing key, the content store or a signed checkpoint is not available yet; try "
    "again (after Retry-After seconds, when given).",
}
_ERROR_HEADERS = {  # code: (header, component)
    401: ("WWW-Authenticate", "WWW-Authenticate"),
    409: ("Retry-After", "Retry-After-Optional"),
    429: ("Retry-After", "Retry-After"),
    503: ("Retry-After", "Retry-After-Optional"),
}

# Operations that take raw bytes rather than JSON: APIFlask cannot see them.
RAW_BODIES: dict[tuple[str, str], str] = {
    ("/v1/clips/{item_id}/content", "put"): "application/octet-stream",
}
_WRITES = {"post", "put", "patch", "delete"}


def install(app: APIFlask) -> None:
    """Make `document` the app's spec processor. The document names no server, so that
    the served one is the committed one whatever address it is asked at."""
    app.config["AUTO_SERVERS"] = False

    @app.spec_processor
    def _process(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
        return document(spec) if isinstance(spec, dict) else spec


def render(spec: dict[str, Any]) -> str:
    """The document as committed: keys sorted, indent 2, a final newline."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """APIFlask's document, with the errors, headers and bodies the service really has."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemError"] = PROBLEM_ERROR_SCHEMA
    components["headers"] = dict(HEADERS)
    components["responses"] = {_name(code): _problem(code, {}, quota=True) for code in ERRORS}
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            _operation(path, method, operation)
    for unused in ("HTTPError", "ValidationError"):
        schemas.pop(unused, None)
    spec["tags"] = list({tag["name"]: tag for tag in spec.get("tags", [])}.values())
    return spec


def _operation(path: str, method: str, operation: dict[str, Any]) -> None:
    raw = RAW_BODIES.get((path, method))
    if raw:
        operation["requestBody"] = {
            "required": True,
            "content": {raw: {"schema": {"type": "string", "format": "binary"}}},
        }
    idempotent = _idempotent(path, method, operation)
    if idempotent:
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    quota = path.startswith("/v1/")  # api.ratelimit counts requests under /v1
    responses = operation.setdefault("responses", {})
    for code in _error_codes(path, method, operation):
        responses.setdefault(str(code), {})
    for code, response in responses.items():
        if not code.isdigit() or int(code) < 400:
            names = ["X-Request-Id", *(QUOTA_HEADERS if quota else ())]
            names += ["Idempotent-Replayed"] if idempotent else []
            headers = response.setdefault("headers", {})
            headers.update({name: {"$ref": f"{_HEADER}{name}"} for name in names})
        elif quota and response.get("description") in _GENERIC and int(code) in ERRORS:
            responses[code] = {"$ref": f"{_RESPONSE}{_name(int(code))}"}
        else:  # a view's own description of this error, or one outside /v1
            _problem(int(code), response, quota)


def _idempotent(path: str, method: str, operation: dict[str, Any]) -> bool:
    """api.idempotency takes a key on every POST under /v1 made with a credential."""
    return method == "post" and path.startswith("/v1/") and bool(operation.get("security"))


def _error_codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The errors any operation of this shape can answer."""
    located = {p.get("in") for p in operation.get("parameters", [])}
    body = operation.get("requestBody", {}).get("content", {})
    codes = {503}
    if operation.get("security"):
        codes |= {401, 403}
    if "path" in located or body:
        codes.add(404)
    if body:
        codes |= {400, 413}
    if "application/json" in body:  # api.content_types refuses other media types
        codes |= {415, 422}
    if "query" in located:
        codes |= {400, 422}
    if path.startswith("/v1/"):  # api.content_types refuses query parameters it does not take
        codes.add(422)
    if method in _WRITES:
        codes |= {400, 409}
    if _idempotent(path, method, operation):
        codes |= {400, 409, 422}  # a bad key; the first still running; a key reused
    if path.startswith("/v1/"):
        codes.add(429)
    return codes


# APIFlask's own descriptions, replaced by the service's.
_GENERIC = {None, "", "Authentication error", "Not found", "Validation error"}


def _name(code: int) -> str:
    """A response component's name: NotFound, TooManyRequests..."""
    return "".join(word.capitalize() for word in HTTP_STATUS_CODES[code].split())


def _problem(code: int, response: dict[str, Any], quota: bool) -> dict[str, Any]:
    """An error answer: a Problem, described, with the headers its code carries."""
    if response.get("description") in _GENERIC:
        response["description"] = ERRORS.get(code, "An error; see `detail`.")
    response["content"] = {PROBLEM: {"schema": {"$ref": f"{_SCHEMA}Problem"}}}
    headers = response.setdefault("headers", {})
    for name in ("X-Request-Id", *(QUOTA_HEADERS if quota else ())):
        headers[name] = {"$ref": f"{_HEADER}{name}"}
    if code in _ERROR_HEADERS:
        header, component = _ERROR_HEADERS[code]
        headers[header] = {"$ref": f"{_HEADER}{component}"}
    return response


def answers(table: dict[int, dict[str, Any]]) -> dict[int | str, Any]:
    """A view's own answers, as `@bp.doc(responses=...)` takes them."""
    typed: dict[int | str, Any] = {code: answer for code, answer in table.items()}
    return typed


def file_answer(
    mimetype: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A success answer that is a file (raw bytes unless `schema` says otherwise), for
    `@bp.doc(responses={200: ...})` on a view that sends a Response of its own."""
    schema = schema or {"type": "string", "format": "binary"}
    return {"description": description, "content": {mimetype: {"schema": schema}}}


def json_answer(schema_name: str, description: str) -> dict[str, Any]:
    """Another success answer in the shape of a schema the document holds."""
    schema = {"$ref": f"{_SCHEMA}{schema_name}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answer(description: str) -> dict[str, Any]:
    """An error of a view's own, for `@bp.doc(responses={409: ...})` beside other answers;
    `document` gives it the Problem body."""
    return {"description": description}

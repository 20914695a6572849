"""`Idempotency-Key` on every creating call (a POST under /v1 with a key or worker token): a
retry with the same key gets the first answer, marked `Idempotent-Replayed: true`; the same
key with a different request is a 422; while the first is still running, a 409."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apiflask import APIFlask
from flask import Response, g, has_request_context, request
from sqlalchemy.exc import InterfaceError, OperationalError

from api.deps import container
from api.errors import problem
from ledger.idempotency import (
    Answer,
    KeyReused,
    StillRunning,
    fingerprint,
    mark_effected,
    scope_of,
)
from ledger.log.appender import Appender, LogWriter

log = logging.getLogger("custody.api")

HEADER = "Idempotency-Key"
# Headers of the first answer that a replay repeats; request ids and quotas are the replay's own.
KEPT_HEADERS = ("Content-Type", "Location", "Retry-After")
# Answers that changed nothing: the key is released so that a retry runs afresh.
RELEASED = (401, 429)


def _credential() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def effect_of_claim() -> Callable[[LogWriter], None] | None:
    """The appender's unit hook: every log transaction of a call that holds a claim also
    marks the claim effected, or rolls back if a retry took the claim over."""
    claim_id = g.get("idempotency_claim") if has_request_context() else None
    if claim_id is None:
        return None
    return lambda writer: mark_effected(writer.session, claim_id)


def install(app: APIFlask, appender: Appender) -> None:
    appender.unit_hook = effect_of_claim

    @app.before_request
    def _claim() -> Response | None:
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/v1/"):
            return None
        credential = _credential()
        if credential is None:
            return None  # no caller to scope the key to: the call answers 401 or needs none
        if not 0 < len(key) <= 255 or not key.isascii() or not key.isprintable():
            return problem(
                400,
                f"{HEADER} must be 1 to 255 printable ASCII characters, such as a UUID",
                errors=[{"in": "header", "field": HEADER, "message": "not a usable key"}],
            )
        digest = fingerprint(
            request.method.encode(),
            request.path.encode(),
            request.query_string,
            request.get_data(cache=True),
        )
        try:
            claim_id, first = container().idempotency.claim(scope_of(credential), key, digest)
        except KeyReused as exc:
            return problem(
                422, str(exc), errors=[{"in": "header", "field": HEADER, "message": str(exc)}]
            )
        except StillRunning as exc:
            return problem(409, str(exc), {"Retry-After": str(exc.retry_after)})
        if first is not None:
            replay = Response(first.body, first.status, headers=first.headers)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        g.idempotency_claim = claim_id  # the call's log transactions mark it effected
        return None

    @app.after_request
    def _answer(response: Response) -> Response:
        claim_id = g.pop("idempotency_claim", None)
        if claim_id is None:
            return response
        store = container().idempotency
        try:
            if response.status_code >= 500 or response.status_code in RELEASED:
                store.release(claim_id)
            else:
                kept = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
                store.answer(claim_id, Answer(response.status_code, kept, response.get_data()))
        except (OperationalError, InterfaceError) as exc:
            # The database went away after the call: its claim says whether it took effect,
            # and a retry after STALE is answered accordingly. This answer still goes out.
            log.warning("idempotency: answer not kept (%s)", type(exc).__name__)
        return response

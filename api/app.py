"""The application factory."""

from __future__ import annotations

import logging
import secrets

from apiflask import APIFlask
from flask import Response, g, request

from api import (
    access,
    apikeys,
    checks,
    consents,
    content_types,
    erasures,
    errors,
    idempotency,
    items,
    logconfig,
    logs,
    manifests,
    metrics,
    openapi,
    policies,
    ratelimit,
    redactions,
    reports,
    webhooks,
    wellknown,
    workers,
)
from api.container import Container, build
from api.deps import close_session
from api.portal import i18n, pages
from api.settings import Settings
from api.throttle import Attempts, RequestLimit


def create_app(settings: Settings | None = None, container: Container | None = None) -> APIFlask:
    settings = settings or (container.settings if container else Settings.from_env())
    app = APIFlask(
        "custody",
        title="Custody",
        version="1",
        docs_path=None,  # the docs UI pulls scripts from CDNs; the spec is at /openapi.json
        spec_path="/openapi.json",
    )
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        VALIDATION_ERROR_STATUS_CODE=422,
        DESCRIPTION=(
            "Provenance, consent and compliance ledger. Errors are RFC 9457 "
            "application/problem+json. Hashes are base64."
        ),
    )
    app.extensions["custody"] = built = container or build(settings)
    app.extensions["custody_attempts"] = Attempts(
        settings.rate_limit_storage, access.FAILED_ATTEMPTS
    )
    app.config.update(  # the portal's session cookie: signed, never read by scripts
        SECRET_KEY=built.cookie_key,
        SESSION_COOKIE_NAME="custody_portal",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=int(settings.worker_session_seconds),
        WTF_CSRF_TIME_LIMIT=int(settings.worker_session_seconds),
    )
    i18n.install(app)
    errors.register(app)
    openapi.install(app)
    metrics.install(app, built)
    logconfig.install(app)
    app.teardown_appcontext(close_session)

    @app.before_request
    def _request_id() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = (
            supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else secrets.token_hex(8)
        )

    ratelimit.install(
        app,
        RequestLimit(settings.rate_limit_storage, settings.rate_limit)
        if settings.rate_limit
        else None,
    )
    content_types.install(app)  # before idempotency: a body refused claims no key
    idempotency.install(app, built.appender)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    for blueprint in (
        wellknown.bp,
        logs.bp,
        apikeys.bp,
        policies.bp,
        consents.bp,
        items.bp,
        checks.bp,
        manifests.bp,
        workers.bp,
        erasures.bp,
        webhooks.bp,
        redactions.bp,
        reports.bp,
        access.bp,
        pages.bp,
    ):
        app.register_blueprint(blueprint)
    logging.getLogger("custody").setLevel(settings.log_level)
    return app

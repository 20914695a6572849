"""Requests per API key or worker token (per address for calls without one), under /v1: every
answer says the quota (`RateLimit-Limit`, `-Remaining`, `-Reset`); past it, 429 with
`Retry-After`. `CUSTODY_RATE_LIMIT_STORAGE=redis://...` shares the count across processes."""

from __future__ import annotations

from apiflask import APIFlask
from flask import Response, g, request

from api.errors import problem
from api.throttle import Quota, RequestLimit


def install(app: APIFlask, limit: RequestLimit | None) -> None:
    if limit is None:
        return

    @app.before_request
    def _count() -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        client = (
            f"credential:{token.strip()}"
            if scheme.lower() == "bearer" and token.strip()
            else f"address:{request.remote_addr}"
        )
        g.quota = quota = limit.hit(client)
        if quota.allowed:
            return None
        return problem(
            429,
            f"More than {limit.limit} requests for this key; try again in {quota.reset} seconds.",
            {"Retry-After": str(quota.reset)},
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        quota: Quota | None = g.get("quota")
        if quota is not None:
            response.headers["RateLimit-Limit"] = str(quota.limit)
            response.headers["RateLimit-Remaining"] = str(quota.remaining)
            response.headers["RateLimit-Reset"] = str(quota.reset)
        return response

"""Requests per API key or worker token (per address for calls without one), under /v1: every
answer says the quota (`RateLimit-Limit`, `-Remaining`, `-Reset`); past it, 429 with
`Retry-After`. A credential that is refused (401) counts against its address, so that made-up
tokens cannot each have a quota of their own. `CUSTODY_RATE_LIMIT_STORAGE=redis://...`
shares the counts across processes."""

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
        address = f"address:{request.remote_addr}"
        if scheme.lower() == "bearer" and token.strip():
            g.credential_sent = True
            # Refused credentials count against the address: when they spent its quota,
            # no credential from there is tried.
            g.quota = quota = limit.exhausted(address) or limit.hit(f"credential:{token.strip()}")
        else:
            g.quota = quota = limit.hit(address)
        if quota.allowed:
            return None
        return problem(
            429,
            f"More than {limit.limit} requests for this key; try again in {quota.reset} seconds.",
            {"Retry-After": str(quota.reset)},
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        if response.status_code == 401 and g.get("credential_sent"):
            limit.hit(f"address:{request.remote_addr}")
        quota: Quota | None = g.get("quota")
        if quota is not None:
            response.headers["RateLimit-Limit"] = str(quota.limit)
            response.headers["RateLimit-Remaining"] = str(quota.remaining)
            response.headers["RateLimit-Reset"] = str(quota.reset)
        return response

"""HTTP to the service: authentication, retries, idempotency keys, error mapping.

Every logical call gets one `X-Request-Id` and, when it is a POST, one `Idempotency-Key`;
both are sent unchanged on every retry, so the service can answer a retried create with
the first answer instead of creating twice.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from custody_client.bodies import Body
from custody_client.errors import ApiError, ConnectionFailed, error_from, retry_after
from custody_client.retry import RetryPolicy, retryable

log = logging.getLogger("custody_client")
# No answer, but the request may be sent again: timeouts, refused or broken connections.
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
USER_AGENT = "custody-client/0.1"


class Transport:
    """One connection pool to one service, with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._owned = http_client is None
        self.http = http_client or httpx.Client(
            timeout=timeout, transport=transport, verify=verify, follow_redirects=False
        )
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": user_agent, "Accept": "application/json", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.rate_limit: dict[str, str] = {}  # the RateLimit-* headers of the last answer

    def close(self) -> None:
        if self._owned:
            self.http.close()

    # --- calls ----------------------------------------------------------------------------

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A call whose answer is JSON (or empty): the decoded answer."""
        content = None if body is None else Body(json.dumps(body).encode())
        with self.stream(method, path, params=params, content=content, key=idempotency_key) as r:
            r.read()
        if not r.content:
            return None
        return r.json()

    def text(self, path: str, *, params: Mapping[str, Any] | None = None) -> str:
        with self.stream("GET", path, params=params, accept="*/*") as response:
            response.read()
        return response.text

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: Body | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
        key: str | None = None,
        forbidden: type[ApiError] | None = None,
    ) -> Iterator[httpx.Response]:
        """Send with retries until an answer that is final; yield it unread (streaming).
        An error answer raises its ApiError; `forbidden` is the class to raise for a 403."""
        headers = {**self.headers, "X-Request-Id": uuid.uuid4().hex}
        if accept:
            headers["Accept"] = accept
        if method == "POST":
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        elif key:
            headers["Idempotency-Key"] = key
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        response = self._send(method, path, clean, headers, content, content_type)
        try:
            if response.status_code >= 400:
                response.read()
                raise error_from(response, forbidden if response.status_code == 403 else None)
            yield response
        finally:
            response.close()

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        content: Body | None,
        content_type: str,
    ) -> httpx.Response:
        started = time.monotonic()
        key = headers.get("Idempotency-Key")
        attempt = 0
        while True:
            request = self._build(method, path, params, headers, content, content_type)
            try:
                response = self.http.send(request, stream=True)
            except RETRY_ERRORS as exc:
                wait = self.retry.wait(attempt, None, started)
                if wait is None or (content is not None and not content.rewindable):
                    raise ConnectionFailed(
                        f"{method} failed after {attempt + 1} attempt(s): {type(exc).__name__}"
                    ) from exc
                reason = type(exc).__name__
            except httpx.TransportError as exc:  # a bad URL, a proxy refusing: no retry helps
                raise ConnectionFailed(f"{method} failed: {type(exc).__name__}: {exc}") from exc
            else:
                self._note_rate_limit(response)
                if not retryable(response, key):
                    return response
                wait = self.retry.wait(attempt, retry_after(response), started)
                if wait is None or (content is not None and not content.rewindable):
                    return response
                response.close()
                reason = str(response.status_code)
            log.info("retrying %s after %s in %.2fs (retry %d)", method, reason, wait, attempt + 1)
            time.sleep(wait)
            attempt += 1

    def _build(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        content: Body | None,
        content_type: str,
    ) -> httpx.Request:
        if content is None:
            return self.http.build_request(
                method, self.base_url + path, params=params, headers=headers
            )
        data, size = content.open()
        sent = {**headers, "Content-Type": content_type}
        if size is not None:
            sent["Content-Length"] = str(size)
        return self.http.build_request(
            method, self.base_url + path, params=params, headers=sent, content=data
        )

    def _note_rate_limit(self, response: httpx.Response) -> None:
        limits = {
            name: response.headers[name]
            for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
            if name in response.headers
        }
        if limits:
            self.rate_limit = limits


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rfc3339(moment: datetime) -> str:
    """A timezone-aware moment as RFC 3339 UTC with a `Z`; naive moments are refused."""
    if moment.tzinfo is None:
        raise ValueError("give a timezone-aware datetime (e.g. datetime.now(UTC))")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

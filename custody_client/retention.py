"""Erasure requests, erasures with their certificates, and webhook endpoints."""

from __future__ import annotations

from typing import cast

from custody_client.pages import Page, page
from custody_client.resource import Resource, given, seg
from custody_client.types import Erasure, ErasureRequest, WebhookEndpoint


class ErasureRequests(Resource):
    def create(
        self,
        worker: str,
        *,
        scope: str | None = None,
        consent: str | None = None,
        item: str | None = None,
        idempotency_key: str | None = None,
    ) -> ErasureRequest:
        """Ask for one item, one consent's items, or everything (`scope="all"`) of a worker
        to be erased. Checks deny the items at once; erasure follows before the deadline."""
        body = given(worker=worker, scope=scope, consent=consent, item=item)
        path = "/v1/erasure-requests"
        return cast(
            ErasureRequest, self._t.json("POST", path, body=body, idempotency_key=idempotency_key)
        )

    def get(self, request: str) -> ErasureRequest:
        return cast(ErasureRequest, self._t.json("GET", f"/v1/erasure-requests/{seg(request)}"))

    def list(
        self,
        *,
        status: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Page[ErasureRequest]:
        """Requests, oldest deadline first; status in_progress, completed or overdue."""
        params = {"status": status, "after": after, "limit": limit}
        return page(self._t.json("GET", "/v1/erasure-requests", params=params), "requests")


class Erasures(Resource):
    def get(self, erasure: str) -> Erasure:
        return cast(Erasure, self._t.json("GET", f"/v1/erasures/{seg(erasure)}"))

    def certificate(self, erasure: str) -> str:
        """The deletion certificate (compact JWS). Conflict (409) until a signed checkpoint
        covers the erasure's tombstone."""
        return self._t.text(f"/v1/erasures/{seg(erasure)}/certificate")

    def confirm(self, erasure: str, *, idempotency_key: str | None = None) -> Erasure:
        """Confirm that the platform deleted its own copies of the erased items."""
        path = f"/v1/erasures/{seg(erasure)}/confirmation"
        return cast(Erasure, self._t.json("POST", path, idempotency_key=idempotency_key))


class WebhookEndpoints(Resource):
    def add(self, url: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        """Register an endpoint; the answer's `secret` (whsec_...) is shown only now."""
        body = {"url": url}
        answer = self._t.json(
            "POST", "/v1/webhook-endpoints", body=body, idempotency_key=idempotency_key
        )
        return cast(WebhookEndpoint, answer)

    def list(self, *, after: str | None = None, limit: int | None = None) -> Page[WebhookEndpoint]:
        answer = self._t.json(
            "GET", "/v1/webhook-endpoints", params={"after": after, "limit": limit}
        )
        return page(answer, "endpoints")

    def remove(self, endpoint: str) -> None:
        self._t.json("DELETE", f"/v1/webhook-endpoints/{seg(endpoint)}")

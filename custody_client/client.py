"""`Custody`: one client for the service's HTTP API, grouped by what the calls are about."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from custody_client.consents import Consents, Policies, Workers
from custody_client.logs import Logs
from custody_client.manifests import Manifests
from custody_client.memory import CheckpointMemory
from custody_client.pages import Page, iterate
from custody_client.provenance import Checks, Clips, Derivations, Items
from custody_client.reports import Reports
from custody_client.retention import ErasureRequests, Erasures, WebhookEndpoints
from custody_client.retry import RetryPolicy
from custody_client.transport import USER_AGENT, Transport
from custody_client.types import KeyDocument
from custody_client.verifier import Verifier

T = TypeVar("T")


class Custody:
    """A platform's (or auditor's) client.

        with Custody("https://custody.example", "cust_...", log_id="log_...") as custody:
            consent = custody.consents.give(worker="w-123", purposes=[...], ...)
            custody.verifier.consent(consent)          # the receipt, and its hash on the log

    Every POST carries one Idempotency-Key for all its attempts, so a retried create never
    creates twice. 429, 502, 503, 504, a 409 "still in progress" and connection failures
    are retried with backoff (the service's Retry-After when it gives one), at most
    `retries` times and never past `retry_deadline` seconds.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        log_id: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        retry_deadline: float = 120.0,
        keys: KeyDocument | None = None,
        checkpoints: CheckpointMemory | str | os.PathLike[str] | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        user_agent: str = USER_AGENT,
    ) -> None:
        """`log_id` is the tenant's log (for log calls and verification); `keys` pins the
        key document instead of fetching it; `checkpoints` keeps the last verified
        checkpoints (a CheckpointMemory, or a JSON file path to keep them across runs);
        `http_client` or `transport` replace the connection pool (proxies, mTLS, tests)."""
        self.transport = Transport(
            base_url,
            api_key,
            timeout=timeout,
            retry=RetryPolicy(retries, backoff, max_backoff, retry_deadline),
            http_client=http_client,
            transport=transport,
            headers=headers,
            verify=verify,
            user_agent=user_agent,
        )
        t = self.transport
        self.policies = Policies(t)
        self.consents = Consents(t)
        self.workers = Workers(t)
        self.clips = Clips(t)
        self.derivations = Derivations(t)
        self.items = Items(t)
        self.checks = Checks(t)
        self.manifests = Manifests(t)
        self.erasure_requests = ErasureRequests(t)
        self.erasures = Erasures(t)
        self.webhook_endpoints = WebhookEndpoints(t)
        self.reports = Reports(t)
        self.logs = Logs(t, log_id)
        memory = (
            checkpoints
            if isinstance(checkpoints, CheckpointMemory)
            else CheckpointMemory(checkpoints)
        )
        self.verifier = Verifier(self.logs, keys=keys, memory=memory)

    def well_known_keys(self) -> KeyDocument:
        """The published key document, fetched now (the verifier keeps its own copy)."""
        return self.logs.keys()

    @property
    def rate_limit(self) -> dict[str, str]:
        """RateLimit-Limit, -Remaining and -Reset from the last answer that had them."""
        return dict(self.transport.rate_limit)

    @staticmethod
    def iterate(list_page: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
        """Every item of a list, page after page: `custody.iterate(custody.policies.list)`,
        `custody.iterate(custody.workers.consents, "w-123", limit=500)`."""
        return iterate(list_page, *args, **kwargs)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Custody:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

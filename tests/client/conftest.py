"""The client's tests run against the real app served over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from custody_client import Custody
from ledger.clock import FakeClock
from tests.support.browser import serve
from tests.support.proxy import proxy


@pytest.fixture
def clock() -> FakeClock:
    """Today, so that webhook timestamps are within the receiver's tolerance."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serve(app) as url:
        yield url


@pytest.fixture
def custody(server, tenant) -> Iterator[Custody]:  # type: ignore[no-untyped-def]
    with Custody(server, tenant.api_key.token, log_id=tenant.log_id, backoff=0.05) as client:
        yield client


@pytest.fixture
def front(server):  # type: ignore[no-untyped-def]
    """A proxy in front of the server, scripted to misbehave."""
    with proxy(server) as running:
        yield running


@pytest.fixture
def through(front, tenant) -> Iterator[Custody]:  # type: ignore[no-untyped-def]
    """The client, talking to the server through the proxy."""
    with Custody(front.url, tenant.api_key.token, log_id=tenant.log_id, backoff=0.05) as made:
        yield made

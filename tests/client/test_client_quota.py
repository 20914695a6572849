"""The service's own request quota, met through the client: its RateLimit headers are kept,
a short Retry-After is waited out, a long one ends the call at once."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from custody_client import Custody, RateLimited
from tests.support.clients import CONSENT


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return replace(settings, rate_limit="3 per 2 seconds")


def test_a_short_wait_is_waited_out_and_a_long_one_is_not(server, tenant):
    with Custody(server, tenant.api_key.token, log_id=tenant.log_id) as custody:
        custody.policies.list()
        assert custody.rate_limit["RateLimit-Limit"] == "3"
        assert custody.rate_limit["RateLimit-Remaining"] == "2"
        started = time.monotonic()
        made = [custody.consents.give(**CONSENT)["id"] for _ in range(4)]  # past the quota
        assert time.monotonic() - started >= 0.5  # it waited for room, then went on
        assert len(set(made)) == 4
        assert {c["id"] for c in custody.workers.consents("w-123").items} == set(made)
    with Custody(server, tenant.api_key.token, retry_deadline=0.1) as hasty:
        with pytest.raises(RateLimited) as limited:
            for _ in range(4):
                hasty.policies.list()
    assert limited.value.status == 429 and limited.value.retry_after is not None
    assert limited.value.request_id

"""Problem answers become exceptions carrying their fields; lists are walked page by page."""

from __future__ import annotations

import socket
import time

import pytest

from custody_client import (
    ApiError,
    Conflict,
    ConnectionFailed,
    Custody,
    CustodyError,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from custody_client.pages import Page, iterate
from tests.support.clients import CONSENT, sign_checkpoint


def test_a_missing_thing_is_not_found_with_the_problem_fields(custody):
    with pytest.raises(NotFound) as missing:
        custody.consents.get("con_doesnotexist00")
    error = missing.value
    assert isinstance(error, ApiError) and isinstance(error, CustodyError)
    assert (error.status, error.title) == (404, "Not found")
    assert error.detail == "No such consent."
    assert error.request_id and len(error.request_id) == 32  # the id this client sent
    assert error.body["status"] == 404


def test_bad_fields_are_named(custody):
    with pytest.raises(ValidationFailed) as invalid:
        custody.consents.give(**{**CONSENT, "purposes": ["mind_reading"]})
    assert invalid.value.status == 422
    assert [e["field"] for e in invalid.value.errors] == ["purposes"]
    assert "purposes" in invalid.value.detail


def test_a_conflict_and_an_unknown_key(custody, server):
    consent = custody.consents.give(**CONSENT)
    custody.consents.withdraw(consent["id"], ["motion_imitation"])
    with pytest.raises(Conflict) as twice:
        custody.consents.withdraw(consent["id"], ["motion_imitation"])
    assert "already withdrawn" in twice.value.detail
    with Custody(server, "cust_not_a_key") as stranger:
        with pytest.raises(Unauthorized) as refused:
            stranger.policies.list()
    assert refused.value.status == 401 and refused.value.detail


def test_nothing_listening_fails_after_bounded_attempts():
    with socket.socket() as placeholder:  # a port that was free a moment ago
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    started = time.monotonic()
    with Custody(f"http://127.0.0.1:{port}", "cust_x", retries=2, backoff=0.2) as custody:
        with pytest.raises(ConnectionFailed) as failed:
            custody.policies.list()
    assert "3 attempt(s)" in str(failed.value)
    assert 0.2 <= time.monotonic() - started < 5  # two waits of 0.1-0.2 s and 0.2-0.4 s


def test_every_page_is_followed_to_the_last(custody, container, clock):
    consent = custody.consents.give(**CONSENT)
    clip = custody.clips.register(
        content=b"x",
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    decisions = [custody.checks.check(clip["id"], "motion_imitation") for _ in range(7)]
    first = custody.workers.uses("w-123", limit=3)
    assert len(first.items) == 3 and isinstance(first.next, str)
    uses = list(custody.iterate(custody.workers.uses, "w-123", limit=3))
    assert [u["log_index"] for u in uses] == [d["log_index"] for d in decisions]

    for _ in range(4):  # four more checkpoints
        custody.checks.check(clip["id"], "motion_imitation")
        sign_checkpoint(container)
    every = list(custody.iterate(custody.logs.checkpoints, limit=2))
    sizes = [c["tree_size"] for c in every]
    assert len(sizes) >= 5 and sizes == sorted(set(sizes))
    assert every == custody.logs.checkpoints(limit=1000).items


def test_every_list_is_walked_page_by_page(custody, clock):
    for n in range(3):
        custody.policies.publish(f"v{n}", "https://p.example/terms", ["motion_imitation"])
        custody.webhook_endpoints.add(f"http://127.0.0.1:9/hook-{n}")
        consent = custody.consents.give(**CONSENT)
        clip = custody.clips.register(
            content=f"clip {n}".encode(),
            worker="w-123",
            consent=consent["id"],
            data_categories=["body_motion"],
            captured_at=clock.now(),
        )
        custody.erasure_requests.create("w-123", item=clip["id"])
    lists = [
        (custody.policies.list, (), "version"),
        (custody.webhook_endpoints.list, (), "id"),
        (custody.workers.consents, ("w-123",), "id"),
        (custody.erasure_requests.list, (), "id"),
    ]
    for list_page, args, key in lists:
        first = list_page(*args, limit=1)
        assert len(first.items) == 1 and first.next is not None, list_page
        walked = [row[key] for row in custody.iterate(list_page, *args, limit=1)]
        whole = [row[key] for row in list_page(*args, limit=1000).items]
        assert len(walked) == 3 and walked == whole, list_page


def test_a_cursor_that_repeats_is_refused():
    def stuck(after: str | None = None) -> Page[int]:
        return Page([1], "same")

    with pytest.raises(CustodyError, match="repeated"):
        list(iterate(stuck))

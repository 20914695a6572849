"""Retries through a real proxy on 127.0.0.1 that answers errors, drops connections, or cuts
them after the service answered: the client waits as told, keeps one Idempotency-Key per
call, gives up within its bounds, and a retried create never creates twice."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from custody_client import (
    Conflict,
    ConnectionFailed,
    Custody,
    RateLimited,
    ServerError,
    ServiceUnavailable,
)
from tests.support.clients import CONSENT
from tests.support.proxy import CUT, DROP, status


def consents_of(custody: Custody) -> list[str]:
    return [c["id"] for c in custody.iterate(custody.workers.consents, "w-123")]


def test_503_with_retry_after_is_waited_out_with_the_same_keys(front, through):
    front.script(status(503, Retry_After="1"), status(503, Retry_After="1"))
    started = time.monotonic()
    consent = through.consents.give(**CONSENT)
    assert time.monotonic() - started >= 2  # both Retry-After waits were honoured
    posts = front.requests("POST", "/v1/consents")
    assert [p.action for p in posts] == ["status", "status", "forward"]
    assert len({p.headers["idempotency-key"] for p in posts}) == 1
    assert len({p.headers["x-request-id"] for p in posts}) == 1
    assert consents_of(through) == [consent["id"]]
    another = through.policies.publish("v2", "https://p.example/terms", ["motion_imitation"])
    assert another["version"] == "v2"
    keys = {p.headers["idempotency-key"] for p in front.requests("POST")}
    assert len(keys) == 2  # a new logical call, a new key


def test_429_and_gateway_errors_on_reads_are_retried(front, through):
    front.script(status(429, Retry_After="0"), status(502), status(504))
    assert through.policies.list().items == []
    gets = front.requests("GET", "/v1/policies")
    assert [g.action for g in gets] == ["status", "status", "status", "forward"]
    assert "idempotency-key" not in gets[0].headers


def test_a_retry_after_beyond_the_deadline_ends_at_once(front, tenant):
    front.script(status(429, Retry_After="3600"))
    with Custody(front.url, tenant.api_key.token, retry_deadline=30) as custody:
        started = time.monotonic()
        with pytest.raises(RateLimited) as limited:
            custody.policies.list()
    assert time.monotonic() - started < 2
    assert limited.value.retry_after == 3600 and limited.value.status == 429
    assert len(front.requests("GET")) == 1


def test_retries_are_bounded(front, tenant):
    front.script(*[status(503, Retry_After="0")] * 10)
    with Custody(front.url, tenant.api_key.token, retries=3) as custody:
        with pytest.raises(ServiceUnavailable) as unavailable:
            custody.consents.give(**CONSENT)
    assert unavailable.value.detail == "scripted" and isinstance(unavailable.value, ServerError)
    assert len(front.requests("POST")) == 4


def test_the_total_time_is_bounded_too(front, tenant):
    front.script(*[status(503, Retry_After="1")] * 10)
    started = time.monotonic()
    with Custody(front.url, tenant.api_key.token, retries=10, retry_deadline=1.5) as custody:
        with pytest.raises(ServiceUnavailable):
            custody.policies.list()
    assert len(front.requests("GET")) == 2  # a third attempt would start after 2 s
    assert 1 <= time.monotonic() - started < 2.5


def test_retry_after_as_an_http_date_is_honoured(front, through):
    when = formatdate(time.time() + 2, usegmt=True)
    front.script(status(503, Retry_After=when))
    started = time.monotonic()
    assert through.policies.list().items == []
    assert time.monotonic() - started >= 0.9  # the date has one-second precision
    assert len(front.requests("GET")) == 2


def test_a_dropped_connection_is_retried(front, through):
    front.script(DROP, DROP)
    consent = through.consents.give(**CONSENT)
    posts = front.requests("POST", "/v1/consents")
    assert [p.action for p in posts] == ["drop", "drop", "forward"]
    assert consents_of(through) == [consent["id"]]


def test_a_409_in_progress_is_retried_and_other_409s_are_not(front, through):
    front.script(status(409, Retry_After="0"))
    assert through.consents.give(**CONSENT)["status"] == "active"
    assert len(front.requests("POST", "/v1/consents")) == 2
    front.script(status(409))
    with pytest.raises(Conflict):
        through.consents.give(**CONSENT)
    assert len(front.requests("POST", "/v1/consents")) == 3


def test_an_upload_from_a_file_is_sent_again_whole(front, through, clock, tmp_path):
    consent = through.consents.give(**CONSENT)
    video = tmp_path / "clip.bin"
    video.write_bytes(bytes(range(256)) * 1000)
    clip = through.clips.register(
        content=video,
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    front.script(status(503, Retry_After="0"))
    with video.open("rb") as handle:
        stored = through.clips.upload(clip["id"], handle)
    assert stored["content_size"] == 256_000
    puts = front.requests("PUT")
    assert [len(p.body) for p in puts] == [256_000, 256_000]


def test_an_upload_from_a_one_shot_stream_is_not_retried(front, through, clock):
    consent = through.consents.give(**CONSENT)
    clip = through.clips.register(
        content=b"abc",
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    front.script(status(503, Retry_After="0"))
    with pytest.raises(ServiceUnavailable):
        through.clips.upload(clip["id"], iter([b"a", b"bc"]))
    assert len(front.requests("PUT")) == 1


def test_a_retried_create_never_creates_twice(front, through, custody, clock):
    """The proxy forwards the create, the service commits and answers, and the proxy cuts
    the connection instead of passing the answer on: the client sends the same request with
    the same Idempotency-Key and gets the first answer."""
    size = custody.logs.head()["tree_size"]
    front.script(CUT)
    consent = through.consents.give(**CONSENT)
    posts = front.requests("POST", "/v1/consents")
    assert [p.action for p in posts] == ["cut", "forward"]
    assert posts[0].answered == 201  # the first attempt was committed
    assert posts[1].answer_headers.get("idempotent-replayed") == "true"
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[0].body == posts[1].body
    assert consents_of(through) == [consent["id"]]
    assert custody.logs.head()["tree_size"] == size + 1  # one consent.given entry

    front.script(CUT)
    clip = through.clips.register(
        content=b"once",
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    assert clip["created"] is True  # the first answer, replayed
    assert custody.logs.head()["tree_size"] == size + 2


def test_a_cut_without_retries_left_is_a_connection_failure(front, tenant):
    front.script(CUT)
    with Custody(front.url, tenant.api_key.token, retries=0) as custody:
        with pytest.raises(ConnectionFailed):
            custody.consents.give(**CONSENT)

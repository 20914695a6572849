"""Conventions every call follows: idempotent creation, a quota per key, request ids."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import uuid
from dataclasses import replace

import pytest
import redis

from api.app import create_app
from api.container import build
from api.throttle import RequestLimit
from tests.support.browser import serve
from tests.support.http import MINIMAL, PROBLEM, auth, log_entries

REDIS = "redis://127.0.0.1:6379"


def consents_of(api, worker="w-123"):  # type: ignore[no-untyped-def]
    return api.get(f"/v1/workers/{worker}/consents").json["consents"]


def post(api, path, body, key):  # type: ignore[no-untyped-def]
    return api.client.post(path, json=body, headers={**api.headers, "Idempotency-Key": key})


def test_a_repeated_create_with_the_same_key_answers_the_first_answer(api, client, tenant):
    key = str(uuid.uuid4())
    first = post(api, "/v1/consents", MINIMAL, key)
    size = api.size()
    again = post(api, "/v1/consents", MINIMAL, key)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert api.size() == size and len(consents_of(api)) == 1
    assert [e["type"] for e in log_entries(client, tenant)].count("consent.given") == 1


def test_the_same_key_for_another_request_is_refused_and_changes_nothing(api):
    key = str(uuid.uuid4())
    assert post(api, "/v1/consents", MINIMAL, key).status_code == 201
    size = api.size()
    other = post(api, "/v1/consents", {**MINIMAL, "worker": "w-456"}, key)
    assert other.status_code == 422 and other.mimetype == PROBLEM
    assert "different request" in other.json["detail"]
    assert other.json["errors"][0]["field"] == "Idempotency-Key"
    elsewhere = post(api, "/v1/policies", {"version": "v1", "purposes": ["benchmarking"]}, key)
    assert elsewhere.status_code == 422
    assert api.size() == size
    assert api.get("/v1/workers/w-456/consents").status_code == 404  # never created


def test_keys_belong_to_the_credential_that_sent_them(api, client, container, tenant, other):
    key = str(uuid.uuid4())
    assert post(api, "/v1/consents", MINIMAL, key).status_code == 201
    second = container.apikeys.create(tenant.tenant_id, "platform")
    theirs = client.post(
        "/v1/consents", json=MINIMAL, headers={**auth(second.token), "Idempotency-Key": key}
    )
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert len(consents_of(api)) == 2
    foreign = client.post(
        "/v1/consents", json=MINIMAL, headers={**auth(other.api_key.token), "Idempotency-Key": key}
    )
    assert foreign.status_code == 201 and foreign.json["id"] not in {
        c["id"] for c in consents_of(api)
    }


def test_refused_calls_release_their_key_and_bad_keys_are_refused(api, client):
    key = str(uuid.uuid4())
    refused = client.post(
        "/v1/consents", json=MINIMAL, headers={**auth("cust_nope"), "Idempotency-Key": key}
    )
    assert refused.status_code == 401
    assert post(api, "/v1/consents", MINIMAL, key).status_code == 201  # the key was free
    for bad in ("", "x" * 256, "caf\u00e9"):
        response = client.post(
            "/v1/consents",
            json=MINIMAL,
            headers={**api.headers, "Idempotency-Key": bad.encode().decode("latin-1")},
        )
        assert response.status_code == 400 and response.mimetype == PROBLEM
        assert "Idempotency-Key" in response.json["detail"]
    assert len(consents_of(api)) == 1


def test_an_invalid_request_is_answered_the_same_when_repeated(api):
    key = str(uuid.uuid4())
    bad = {**MINIMAL, "purposes": ["flying"]}
    first = post(api, "/v1/consents", bad, key)
    again = post(api, "/v1/consents", bad, key)
    assert first.status_code == again.status_code == 422
    assert again.json["detail"] == first.json["detail"]


def test_keys_expire_after_a_day(api, clock):
    key = str(uuid.uuid4())
    first = post(api, "/v1/consents", MINIMAL, key).json
    clock.advance(hours=24, seconds=1)
    assert api.client.application.extensions["custody"].idempotency.expire() == 1
    second = post(api, "/v1/consents", MINIMAL, key)
    assert second.status_code == 201 and second.json["id"] != first["id"]


def test_concurrent_retries_with_one_key_create_once(app, api, tenant):
    key = str(uuid.uuid4())
    answers: list[int] = []
    ids: set[str] = set()

    def call() -> None:
        with app.test_client() as c:
            response = c.post(
                "/v1/consents", json=MINIMAL, headers={**api.headers, "Idempotency-Key": key}
            )
            answers.append(response.status_code)
            if response.status_code == 201:
                ids.add(response.json["id"])

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers) <= {201, 409} and 201 in answers
    assert len(ids) == 1 and len(consents_of(api)) == 1


def test_a_create_whose_answer_was_lost_is_answered_from_the_first_on_retry(app, api):
    """The connection drops after the server committed: the caller never saw the answer.
    The retry with the same key gets it, and nothing is created twice."""
    key = str(uuid.uuid4())
    body = json.dumps(MINIMAL)
    size = api.size()
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        headers = {
            **api.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        lost = http.client.HTTPConnection(host, int(port), timeout=10)
        lost.request("POST", "/v1/consents", body=body, headers=headers)
        lost.sock.shutdown(1)  # the request is sent; the answer is never read
        lost.close()
        for _ in range(100):  # the server goes on and commits
            if api.size() > size:
                break
            threading.Event().wait(0.05)
        retry = http.client.HTTPConnection(host, int(port), timeout=10)
        while True:
            retry.request("POST", "/v1/consents", body=body, headers=headers)
            answer = retry.getresponse()
            payload = answer.read()
            if answer.status != 409:  # the first may still be storing its answer
                break
            threading.Event().wait(0.1)
        retry.close()
    assert answer.status == 201 and answer.getheader("Idempotent-Replayed") == "true"
    assert json.loads(payload)["id"] == consents_of(api)[0]["id"]
    assert len(consents_of(api)) == 1 and api.size() == size + 1


@pytest.fixture
def limited(settings, clock):  # type: ignore[no-untyped-def]
    built = build(replace(settings, rate_limit="5 per minute"), clock=clock)
    yield create_app(container=built)
    built.close()


def test_each_key_has_a_quota_and_past_it_gets_429(limited):
    container = limited.extensions["custody"]
    mine = container.tenants.create("A").api_key.token
    theirs = container.tenants.create("B").api_key.token
    client = limited.test_client()
    seen = [client.get("/v1/policies", headers=auth(mine)) for _ in range(5)]
    assert [r.status_code for r in seen] == [200] * 5
    assert [r.headers["RateLimit-Remaining"] for r in seen] == ["4", "3", "2", "1", "0"]
    assert seen[0].headers["RateLimit-Limit"] == "5"
    over = client.post("/v1/consents", json=MINIMAL, headers=auth(mine))
    assert over.status_code == 429 and over.mimetype == PROBLEM
    assert 1 <= int(over.headers["Retry-After"]) <= 60 and over.json["request_id"]
    assert over.headers["X-Request-Id"] == over.json["request_id"]
    assert client.get("/v1/policies", headers=auth(theirs)).status_code == 200
    assert client.get("/openapi.json").status_code == 200  # outside /v1: not counted


def test_made_up_credentials_spend_the_quota_of_their_address(limited):
    container = limited.extensions["custody"]
    good = container.tenants.create("A").api_key.token
    client = limited.test_client()
    for n in range(5):
        refused = client.get("/v1/policies", headers=auth(f"cust_made-up-{n}"))
        assert refused.status_code == 401
    blocked = client.get("/v1/policies", headers=auth("cust_made-up-6"))
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert client.get("/v1/policies", headers=auth(good)).status_code == 429  # same address
    elsewhere = limited.test_client()
    answer = elsewhere.get(
        "/v1/policies", headers=auth(good), environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert answer.status_code == 200


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason=f"no Redis answers at {REDIS}")
def test_the_quota_is_shared_through_redis_across_processes():
    client = f"credential:test-{uuid.uuid4()}"
    script = (
        "import sys; from api.throttle import RequestLimit; "
        f"l = RequestLimit({REDIS!r}, '5 per minute'); "
        f"print(sum(l.hit({client!r}).allowed for _ in range(3)))"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "3"
    here = RequestLimit(REDIS, "5 per minute")
    assert [here.hit(client).allowed for _ in range(3)] == [True, True, False]
    assert RequestLimit("memory://", "5 per minute").hit(client).allowed  # a private count


def test_request_ids_are_echoed_or_made(client):
    mine = client.get("/v1/logs/nope/checkpoint", headers={"X-Request-Id": "req-123"})
    assert mine.headers["X-Request-Id"] == "req-123" and mine.json["request_id"] == "req-123"
    made = client.get("/healthz", headers={"X-Request-Id": "x" * 65})
    assert len(made.headers["X-Request-Id"]) == 16

"""What a retry with the same Idempotency-Key gets when the first call's process or database
went away: a first call that changed nothing is taken over after STALE and run afresh; one
that took effect is never run twice; a first call coming back after a takeover rolls back."""

from __future__ import annotations

import json
import uuid

import pytest
from flask import g

from ledger.idempotency import STALE, TakenOver, fingerprint, mark_effected, scope_of
from ledger.models import IdempotencyKey
from tests.support.http import MINIMAL

BODY = json.dumps(MINIMAL).encode()


def send(api, key: str):  # type: ignore[no-untyped-def]
    headers = {**api.headers, "Idempotency-Key": key}
    return api.client.post(
        "/v1/consents", data=BODY, headers=headers, content_type="application/json"
    )


def claimed(container, api, key: str) -> str:  # type: ignore[no-untyped-def]
    """What a first call's claim leaves behind when its process dies before answering."""
    scope = scope_of(api.tenant.api_key.token)
    claim_id, first = container.idempotency.claim(
        scope, key, fingerprint(b"POST", b"/v1/consents", b"", BODY)
    )
    assert first is None
    return claim_id


def consents(api) -> list:  # type: ignore[type-arg,no-untyped-def]
    return api.get("/v1/workers/w-123/consents").json["consents"]


def test_a_first_call_that_changed_nothing_is_taken_over_after_stale(api, container, clock):
    key = str(uuid.uuid4())
    claimed(container, api, key)  # e.g. the database restarted under it, or it was killed
    waiting = send(api, key)
    assert waiting.status_code == 409
    assert 1 <= int(waiting.headers["Retry-After"]) <= 5
    assert "still running" in waiting.json["detail"]
    clock.advance(seconds=STALE.total_seconds() + 1)
    retried = send(api, key)
    assert retried.status_code == 201, retried.json
    assert send(api, key).headers.get("Idempotent-Replayed") == "true"
    assert len(consents(api)) == 1


def test_a_first_call_that_took_effect_is_never_run_again(api, container, clock):
    key = str(uuid.uuid4())
    claim_id = claimed(container, api, key)
    with container.db.write() as session, session.begin():
        mark_effected(session, claim_id)  # committed with its effect; then the process died
    container.idempotency.release(claim_id)  # a failure after the commit releases nothing
    with container.db.session() as session:
        assert session.get(IdempotencyKey, claim_id).state == "effected"
    clock.advance(seconds=STALE.total_seconds() + 1)
    retried = send(api, key)
    assert retried.status_code == 409
    assert "took effect but its answer was lost" in retried.json["detail"]
    worker = api.get("/v1/workers/w-123/consents")
    assert worker.status_code == 404  # the simulated first call created nothing; no retry did


def test_a_first_call_coming_back_after_a_takeover_rolls_back(app, api, container, clock):
    key = str(uuid.uuid4())
    stale_claim = claimed(container, api, key)
    clock.advance(seconds=STALE.total_seconds() + 1)
    assert send(api, key).status_code == 201  # the retry took the claim over
    size = api.size()
    with app.test_request_context():  # the first call, slow, now reaches its commit
        g.idempotency_claim = stale_claim
        with pytest.raises(TakenOver):
            container.apikeys.create(api.tenant.tenant_id, "auditor")
    assert api.size() == size  # nothing of it reached the log
    assert len(consents(api)) == 1

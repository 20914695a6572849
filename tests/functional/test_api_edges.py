"""Requests at the edges of what the API takes, each found by fuzzing the API against its
OpenAPI document: every one gets a clear 4xx problem, never a 500, and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.support.http import MINIMAL, PROBLEM

TOO_BIG = "9" * 23  # past any 64-bit integer


def test_a_json_body_sent_as_another_media_type_is_refused_not_read_as_no_body(api):
    consent = api.consent(purposes=["motion_imitation", "benchmarking"])
    path = f"/v1/consents/{consent}/withdraw"
    for media_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = api.client.post(
            path,
            data=json.dumps({"purposes": ["benchmarking"]}),
            headers={**api.headers, "Content-Type": media_type},
        )
        assert response.status_code == 415, response.json
        assert response.mimetype == PROBLEM and "application/json" in response.json["detail"]
        assert response.json["request_id"] == response.headers["X-Request-Id"]
    # Read as no body, the call would have withdrawn every purpose.
    shown = api.get(f"/v1/consents/{consent}").json
    assert shown["status"] == "active"
    assert sorted(shown["purposes_in_force"]) == ["benchmarking", "motion_imitation"]
    # A body-less withdrawal (everything) and JSON with a charset are still taken.
    charset = {**api.headers, "Content-Type": "application/json; charset=utf-8"}
    some = api.client.post(path, data='{"purposes": ["benchmarking"]}', headers=charset)
    assert some.status_code == 200 and some.json["purposes"] == ["benchmarking"]
    rest = api.client.post(path, headers=api.headers)
    assert rest.status_code == 200 and rest.json["status"] == "withdrawn"


def test_a_consent_sent_as_text_is_refused_and_not_recorded(api):
    before = api.size()
    response = api.client.post(
        "/v1/consents",
        data=json.dumps(MINIMAL),
        headers={**api.headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415 and response.mimetype == PROBLEM
    assert api.size() == before


@pytest.mark.parametrize(
    "query",
    [
        f"checkpoints?after={TOO_BIG}",
        f"entries?start=0&end={TOO_BIG}",
        f"proofs/inclusion?index={TOO_BIG}&tree_size=1",
        f"proofs/consistency?first=1&second={TOO_BIG}",
    ],
)
def test_log_indexes_past_64_bits_are_invalid_not_a_server_error(api, query):
    response = api.get(f"/v1/logs/{api.tenant.log_id}/{query}")
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM and "9223372036854775807" in response.json["detail"]


@pytest.mark.parametrize("after", [f"{TOO_BIG}:use_x", "\u00b2:use_x", "\u0661:use_x"])
def test_a_uses_cursor_that_no_page_gave_is_invalid_not_a_server_error(api, after):
    api.consent()  # the worker exists
    response = api.get(f"/v1/workers/w-123/uses?after={after}")
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM and "next" in response.json["detail"]


def test_a_body_refused_for_its_media_type_claims_no_idempotency_key(api):
    headers = {**api.headers, "Idempotency-Key": "policy-2026-06"}
    body = json.dumps(
        {
            "version": "2026-06",
            "url": "https://platform.example/terms",
            "purposes": ["benchmarking"],
        }
    )
    refused = api.client.post(
        "/v1/policies", data=body, headers={**headers, "Content-Type": "text/plain"}
    )
    assert refused.status_code == 415
    taken = api.client.post(
        "/v1/policies", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert taken.status_code == 201, taken.json
    assert "Idempotent-Replayed" not in taken.headers


def test_an_operation_without_query_parameters_refuses_any(api):
    consent = api.consent()
    size = api.size()
    for method, path in [
        ("get", f"/v1/consents/{consent}?limt=5"),
        ("post", "/v1/consents?dry_run=true"),
    ]:
        response = getattr(api.client, method)(path, json=MINIMAL, headers=api.headers)
        assert response.status_code == 422 and response.mimetype == PROBLEM
        assert response.json["errors"][0]["in"] == "query"
        assert response.json["errors"][0]["field"] in ("limt", "dry_run")
    assert api.size() == size  # nothing was created
    listed = api.get("/v1/policies?limt=5")
    assert listed.status_code == 422 and listed.json["errors"][0]["field"] == "limt"
    assert api.get(f"/v1/consents/{consent}").status_code == 200

"""The committed openapi.json is the document the app serves, and that document says what
the service answers: errors as problem+json, the X-Request-Id header, no portal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.container import build
from api.openapi import PROBLEM, render
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi.json"
REGENERATE = "run `custody openapi --out openapi.json` and commit the result"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, templates: dict[str, Any]) -> Iterator[str]:
    """The document as the app serves it at /openapi.json, as text."""
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(data_dir=folder / "data", database_url=templates["sqlite"].fresh(folder))
    container = build(settings)
    try:
        with create_app(container=container).test_client() as client:
            response = client.get("/openapi.json")
            assert response.status_code == 200
            yield response.get_data(as_text=True)
    finally:
        container.close()


@pytest.fixture(scope="module")
def document(served: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(served)
    return loaded


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_the_committed_document_is_the_one_the_app_serves(document):
    assert COMMITTED.is_file(), f"openapi.json is missing: {REGENERATE}"
    committed = COMMITTED.read_text(encoding="utf-8")
    assert json.loads(committed) == document, f"openapi.json is out of date: {REGENERATE}"
    assert committed == render(document), f"openapi.json is not in its usual form: {REGENERATE}"


def test_the_command_writes_the_committed_document(tmp_path, custody_offline):
    out = tmp_path / "openapi.json"
    custody_offline("openapi", "--out", str(out))  # in tmp_path
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    printed = custody_offline("openapi")
    assert printed.stdout == out.read_text(encoding="utf-8")
    assert not (tmp_path / "custody-data").exists()  # a throwaway database, not the default one


def test_every_error_answer_is_a_problem_and_every_answer_names_its_request_id(document):
    components = document["components"]
    assert {"HTTPError", "ValidationError"}.isdisjoint(components["schemas"])
    problem = components["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    for path, method, operation in _operations(document):
        for code, answer in operation["responses"].items():
            if "$ref" in answer:
                answer = components["responses"][answer["$ref"].rsplit("/", 1)[1]]
            assert "X-Request-Id" in answer["headers"], (method, path, code)
            if int(code) >= 400:
                content = answer["content"]
                assert list(content) == [PROBLEM], (method, path, code)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            if code == "429":
                assert "Retry-After" in answer["headers"], (method, path)


def test_errors_are_documented_by_rule_and_views_add_their_own(document):
    paths = document["paths"]
    withdraw = paths["/v1/consents/{consent_id}/withdraw"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"} <= set(withdraw)
    public = paths["/v1/logs/{log}/checkpoint"]["get"]["responses"]
    assert "401" not in public and "404" in public
    certificate = paths["/v1/erasures/{erasure_id}/certificate"]["get"]["responses"]
    assert list(certificate["200"]["content"]) == ["application/jose"]
    assert "signed checkpoint" in certificate["409"]["description"]
    upload = paths["/v1/clips/{item_id}/content"]["put"]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]
    assert "415" not in upload["responses"]  # raw bytes: any media type is taken
    sessions = paths["/v1/worker-sessions"]["post"]["responses"]
    assert {"403", "410", "429"} <= set(sessions)


def test_idempotency_keys_and_the_request_quota_are_documented(document):
    components = document["components"]
    consents = document["paths"]["/v1/consents"]["post"]
    key = [p for p in consents["parameters"] if p["name"] == "Idempotency-Key"]
    assert key and key[0]["in"] == "header" and key[0]["schema"]["maxLength"] == 255
    created = consents["responses"]["201"]["headers"]
    assert {"Idempotent-Replayed", "RateLimit-Limit", "RateLimit-Remaining"} <= set(created)
    running = components["responses"]["Conflict"]["headers"]
    assert "Retry-After" in running
    # Reads take no key; the public keys are outside /v1 and its quota.
    checkpoints = document["paths"]["/v1/logs/{log}/checkpoints"]["get"]
    assert "Idempotency-Key" not in [p["name"] for p in checkpoints["parameters"]]
    keys = document["paths"]["/.well-known/custody-keys"]["get"]["responses"]
    assert "RateLimit-Limit" not in keys["200"]["headers"]
    assert "RateLimit-Limit" not in keys["503"]["headers"]


def test_the_portal_and_the_health_check_are_left_out(document):
    assert not [p for p in document["paths"] if p.startswith("/portal") or p == "/healthz"]
    assert "/.well-known/custody-keys" in document["paths"]
    assert "servers" not in document  # the same document at any address
    assert list(document["components"]["securitySchemes"]) == ["BearerAuth"]
    names = [tag["name"] for tag in document["tags"]]
    assert len(names) == len(set(names))

"""The served API against its own OpenAPI document, fuzzed by schemathesis.

The real app runs on 127.0.0.1 over HTTP (SQLite), with a tenant, a key of each role and
some real records. Schemathesis reads the committed openapi.json (the fixture checks the
app serves that very document at /openapi.json) and sends every documented operation its
examples, its coverage cases (edge and invalid values, missing and unknown parameters,
wrong types) and fuzzed inputs, each with a key of the role the operation needs. Any 5xx,
any undocumented status code, and any response whose content type, headers or body differ
from what the document says fails the test, with the request that caused it.

Runs are derandomized (a fixed seed per operation), so CI sees the same cases every time.
CUSTODY_FUZZ_EXAMPLES raises the fuzzed examples per operation for a longer local run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from api.app import create_app
from api.container import Container, build
from api.settings import Settings
from ledger.clock import SystemClock, format_ts
from ledger.log.appender import checkpoint_due
from tests.support.browser import serve
from tests.support.http import MINIMAL, auth

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"
EXAMPLES = int(os.environ.get("CUSTODY_FUZZ_EXAMPLES", "25"))
CHECKS = [  # by schemathesis's names; every other check is off
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


class AheadClock(SystemClock):  # sleeps for real
    """Real time, moved ahead on demand: reports need checkpoints, which need time to pass,
    and erasures are due only once planned."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Served:
    """The running app, its keys (by role) and real ids (by path parameter name)."""

    url: str
    container: Container
    tenant_id: str
    keys: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)

    def call(self, method: str, path: str, role: str = "platform", **kwargs: Any) -> Any:
        response = requests.request(
            method, self.url + path, headers=auth(self.keys[role]), timeout=60, **kwargs
        )
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response

    def worker_token(self) -> str:
        """A fresh worker token (signing out ends one, so each such call gets its own)."""
        link = self.container.access.issue(self.tenant_id, "w-123", "fuzz")
        return self.container.access.redeem(link.token).token

    def headers_for(self, case: schemathesis.Case) -> dict[str, str]:
        """A credential of the role the operation needs; none for public operations."""
        path = case.operation.path
        if not case.operation.definition.raw.get("security"):
            return {}
        if path == "/v1/worker-sessions/current":
            return auth(self.worker_token())
        if path.startswith("/v1/audit/") or path.endswith("/verification"):
            return auth(self.keys["auditor"])
        if path.startswith("/v1/apikeys"):
            return auth(self.keys["admin"])
        return auth(self.keys["platform"])


def _seed(served: Served, clock: AheadClock, log_id: str) -> None:
    """Real records, so that path parameters can name things that exist."""
    content = os.urandom(64)
    consent = served.call("POST", "/v1/consents", json=MINIMAL).json()
    body = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "worker": "w-123",
        "consent": consent["id"],
        "data_categories": ["body_motion", "face"],
        "captured_at": format_ts(clock.now()),
    }
    clip = served.call("POST", "/v1/clips", json=body).json()
    served.call("PUT", f"/v1/clips/{clip['id']}/content", data=content)
    derivation = {
        "parents": [clip["id"]],
        "kind": "label",
        "sha256": hashlib.sha256(b"labels").hexdigest(),
        "activity": {"type": "annotation", "agent": "labeler-7"},
    }
    item = served.call("POST", "/v1/derivations", json=derivation).json()
    served.call("POST", "/v1/checks", json={"item": clip["id"], "purpose": "motion_imitation"})
    redaction = served.call("POST", "/v1/redactions", json={"item": clip["id"]}).json()
    manifest = served.call(
        "POST", "/v1/manifests", json={"items": [clip["id"]], "purpose": "motion_imitation"}
    ).json()
    hook = {"url": "http://127.0.0.1:9/hook"}
    endpoint = served.call("POST", "/v1/webhook-endpoints", json=hook).json()
    spare = served.call("POST", "/v1/apikeys", role="admin", json={"role": "auditor"}).json()
    checkpoint_due(served.container.appender)
    report = served.call("GET", "/v1/workers/w-123/report.pdf")
    # A second worker, erased, so that erasures and their certificates exist.
    gone = served.call("POST", "/v1/consents", json={**MINIMAL, "worker": "w-gone"}).json()
    served.call(
        "POST",
        "/v1/clips",
        json={
            **body,
            "worker": "w-gone",
            "consent": gone["id"],
            "sha256": hashlib.sha256(b"gone").hexdigest(),
        },
    )
    request = served.call(
        "POST", "/v1/erasure-requests", json={"worker": "w-gone", "scope": "all"}
    ).json()
    clock.advance(seconds=5)
    served.container.retention.sweep()
    checkpoint_due(served.container.appender)
    served.container.retention.sweep()
    erasures = served.call("GET", f"/v1/erasure-requests/{request['id']}").json()["erasures"]
    REAL_FIELDS.update(
        {
            "consent": [consent["id"]],  # the worker's below
            "item": [clip["id"], item["id"]],
            "parents": [[clip["id"]], [item["id"]]],
            "items": [[clip["id"], item["id"], body["sha256"]]],
            "worker": ["w-123", consent["worker"]],
            "sha256": [body["sha256"]],
            "captured_at": [format_ts(clock.now() - timedelta(days=1))],
        }
    )
    served.ids = {
        "log": [log_id],
        "consent_id": [consent["id"], gone["id"]],
        "item_id": [clip["id"], item["id"]],
        "worker": ["w-123", consent["worker"], "me"],
        "redaction_id": [redaction["id"]],
        "manifest_id": [manifest["id"]],
        "endpoint_id": [endpoint["id"]],
        "key_id": [spare["id"]],
        "report_id": [report.headers["Custody-Report-Id"]],
        "request_id": [request["id"]],
        "erasure_id": [e["id"] for e in erasures],
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, templates: dict[str, Any]) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        data_dir=folder / "data",
        database_url=templates["sqlite"].fresh(folder),
        rate_limit="1000000 per minute",  # the quota's 429 is documented, but would cut the run
    )
    clock = AheadClock()
    container = build(settings, clock=clock)
    try:
        with serve(create_app(container=container)) as url:
            served_document = requests.get(f"{url}/openapi.json", timeout=60).json()
            assert served_document == json.loads(DOCUMENT.read_text()), (
                "the fuzzed document is the committed one: regenerate it with "
                "`custody openapi --out openapi.json`"
            )
            tenant = container.tenants.create("Fuzzed platform")
            keys = {
                "admin": tenant.api_key.token,
                "platform": container.apikeys.create(tenant.tenant_id, "platform").token,
                "auditor": container.apikeys.create(tenant.tenant_id, "auditor").token,
            }
            served = Served(url, container, tenant.tenant_id, keys)
            _seed(served, clock, tenant.log_id)
            REAL_IDS.update(served.ids)
            yield served
    finally:
        container.close()


# Loaded at collection, so that each operation is a test of its own; the fixture above
# checks that the app serves this very document.
schema = schemathesis.openapi.from_path(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20260101,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    ),
)
REAL_IDS: dict[str, list[str]] = {}  # path parameter name: ids that exist, once seeded


@schema.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Now and then, an id that exists in place of a generated one."""

    def real(generated: dict[str, Any] | None) -> Any:
        if not generated:
            return st.just(generated)
        return st.fixed_dictionaries(
            {name: _one_of(REAL_IDS, name, value) for name, value in generated.items()}
        )

    return st.one_of(strategy, strategy.flatmap(real))


# Body fields whose generated values the service would all but always refuse (they must
# name records that exist, or follow rules the document cannot state): half the bodies get
# values it takes instead, so that the operations' success answers are checked too.
REAL_FIELDS: dict[str, list[Any]] = {  # and the seeded ids, once seeded
    "retention": ["P30D", "until_project_end", "until:2030-01-01"],
    "jurisdiction": ["NG"],
    "policy_url": ["https://platform.example/terms"],
    "policy_version": ["2026-04"],
    "url": ["https://platform.example/hooks"],
    "version": ["2026-05"],
    "data_categories": [["body_motion", "face"], ["body_motion"]],
    "parties": [[]],
    "purposes": [["motion_imitation"], ["motion_imitation", "benchmarking"]],
    "recipients": ["platform_only"],
}
FRESH_SHA256 = st.binary(min_size=1, max_size=16).map(lambda b: hashlib.sha256(b).hexdigest())


def _one_of(known: dict[str, list[Any]], name: str, value: Any) -> Any:
    """One of the known values for `name` (looked up once seeded), else `value` as it is."""
    return st.deferred(lambda: st.sampled_from(known[name]) if name in known else st.just(value))


def _realistic(name: str, value: Any) -> Any:
    if name == "sha256":  # new content, or content registered already
        return st.one_of(FRESH_SHA256, _one_of(REAL_FIELDS, name, value))
    return _one_of(REAL_FIELDS, name, value)


@schema.hook
def before_generate_body(context: Any, strategy: Any) -> Any:
    """JSON object bodies, with some fields now and then set to values the service takes."""

    def realistic(body: Any) -> Any:
        if not isinstance(body, dict):
            return st.just(body)
        taken = st.fixed_dictionaries({k: _realistic(k, v) for k, v in body.items()})
        return st.one_of(st.just(body), taken)

    return strategy.flatmap(realistic)


@schema.parametrize()
def test_every_operation_answers_as_its_openapi_document_says(
    case: schemathesis.Case, served: Served
) -> None:
    case.call_and_validate(base_url=served.url, headers=served.headers_for(case), timeout=60)

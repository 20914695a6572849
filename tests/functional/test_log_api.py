"""The log over HTTP: proofs checked by the independent verifier, auth, tenancy, bad input."""

from __future__ import annotations

import base64
import json

import pytest
from nacl.signing import VerifyKey

from tests.independent import rfc9162
from tests.support.http import auth

PROBLEM = "application/problem+json"


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def grow(container, log_id: str, count: int) -> None:
    for n in range(count):
        container.appender.run([log_id], lambda w, n=n: w.append(log_id, "test.event", {"n": n}))


def verify_checkpoint_independently(note: str, keys_doc: dict) -> tuple[str, int, bytes]:
    """Check a C2SP signed note with nothing but PyNaCl and the published verifier keys."""
    body, _, sigs = note.rpartition("\n\n")
    body += "\n"
    verifiers = {}
    for key in keys_doc["keys"]:
        if key["purpose"] == "log":
            name, key_hash, raw = key["verifier_key"].split("+", 2)
            verifiers[(name, bytes.fromhex(key_hash))] = base64.b64decode(raw)[1:]
    good = 0
    for line in sigs.strip("\n").split("\n"):
        _, name, blob = line.split(" ")
        blob = base64.b64decode(blob)
        pub = verifiers.get((name, blob[:4]))
        if pub:
            VerifyKey(pub).verify(body.encode(), blob[4:])
            good += 1
    assert good >= 1
    origin, size, root = body.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def test_proofs_verify_with_an_independent_verifier(client, container, tenant):
    grow(container, tenant.log_id, 11)
    container.clock.advance(1)
    grow(container, tenant.log_id, 1)  # signs a checkpoint over all 14 entries
    keys_doc = client.get("/.well-known/custody-keys").json
    note = client.get(f"/v1/logs/{tenant.log_id}/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    origin, size, root = verify_checkpoint_independently(note.text, keys_doc)
    assert origin == tenant.origin and size == 14

    page = client.get(
        f"/v1/logs/{tenant.log_id}/entries?start=0&end={size}", headers=auth(tenant.api_key.token)
    ).json
    bodies = [b64(e["entry"]) for e in page["entries"]]
    leaves = [rfc9162.leaf_hash(body) for body in bodies]
    assert [b64(e["leaf_hash"]) for e in page["entries"]] == leaves
    assert rfc9162.root_from_leaves(leaves) == root

    for index in range(size):
        proof = client.get(
            f"/v1/logs/{tenant.log_id}/proofs/inclusion?index={index}&tree_size={size}"
        ).json
        path = [b64(h) for h in proof["proof"]]
        assert rfc9162.verify_inclusion(leaves[index], index, size, path, root)
        assert not rfc9162.verify_inclusion(leaves[index - 1], index, size, path, root) or size == 1
    for first in range(1, size + 1):
        proof = client.get(
            f"/v1/logs/{tenant.log_id}/proofs/consistency?first={first}&second={size}"
        ).json
        path = [b64(h) for h in proof["proof"]]
        first_root = rfc9162.root_from_leaves(leaves[:first])
        assert rfc9162.verify_consistency(first, size, path, first_root, root)

    listed = client.get(f"/v1/logs/{tenant.log_id}/checkpoints?limit=1").json
    assert listed["checkpoints"][0]["tree_size"] == 2 and listed["next"] == 2
    following = client.get(f"/v1/logs/{tenant.log_id}/checkpoints?after=2").json
    assert [c["tree_size"] for c in following["checkpoints"]] == [14] and following["next"] is None


def test_entries_page_and_head(client, container, tenant):
    grow(container, tenant.log_id, 3)
    head = client.get(f"/v1/logs/{tenant.log_id}", headers=auth(tenant.api_key.token)).json
    assert head["tree_size"] == 5 and head["origin"] == tenant.origin
    page = client.get(
        f"/v1/logs/{tenant.log_id}/entries?start=1&end=3", headers=auth(tenant.api_key.token)
    ).json
    assert [e["index"] for e in page["entries"]] == [1, 2] and page["next"] is None
    assert json.loads(b64(page["entries"][0]["entry"]))["seq"] == 1


def test_a_key_never_reaches_another_tenants_log(client, tenant, other):
    for path in (f"/v1/logs/{other.log_id}", f"/v1/logs/{other.log_id}/entries?start=0&end=1"):
        response = client.get(path, headers=auth(tenant.api_key.token))
        assert response.status_code == 404 and response.mimetype == PROBLEM
        # Same answer as for a log that does not exist at all.
        missing = client.get(
            path.replace(other.log_id, "log_doesnotexist00"), headers=auth(tenant.api_key.token)
        )
        assert missing.status_code == 404 and missing.json["detail"] == response.json["detail"]
    own = client.get(
        f"/v1/logs/{tenant.log_id}/entries?start=0&end=1", headers=auth(tenant.api_key.token)
    )
    assert own.status_code == 200


def test_keys_roles_and_revocation(client, container, tenant, other):
    path = f"/v1/logs/{tenant.log_id}/entries?start=0&end=1"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth("cust_aaaaaaaaaaaaaaaa_" + "a" * 32)).status_code == 401
    assert (
        client.get(
            path,
            headers=auth(
                tenant.api_key.token[:-1] + ("b" if tenant.api_key.token.endswith("a") else "a")
            ),
        ).status_code
        == 401
    )
    created = client.post(
        "/v1/apikeys", json={"role": "auditor"}, headers=auth(tenant.api_key.token)
    )
    assert created.status_code == 201
    auditor = created.json["api_key"]
    assert auditor.startswith("cust_")
    assert client.get(path, headers=auth(auditor)).status_code == 200
    # An auditor cannot manage keys; an admin of another tenant cannot revoke ours.
    assert (
        client.post("/v1/apikeys", json={"role": "admin"}, headers=auth(auditor)).status_code == 403
    )
    assert (
        client.delete(
            f"/v1/apikeys/{created.json['id']}", headers=auth(other.api_key.token)
        ).status_code
        == 404
    )
    listed = client.get("/v1/apikeys", headers=auth(tenant.api_key.token)).json["keys"]
    assert {k["id"] for k in listed} == {tenant.api_key.key_id, created.json["id"]}
    assert all("api_key" not in k for k in listed)
    assert (
        client.delete(
            f"/v1/apikeys/{created.json['id']}", headers=auth(tenant.api_key.token)
        ).status_code
        == 204
    )
    assert client.get(path, headers=auth(auditor)).status_code == 401
    again = client.delete(f"/v1/apikeys/{created.json['id']}", headers=auth(tenant.api_key.token))
    assert again.status_code == 409 and again.mimetype == PROBLEM
    # Key management is on the log.
    page = client.get(
        f"/v1/logs/{tenant.log_id}/entries?start=0&end=100", headers=auth(tenant.api_key.token)
    ).json
    types = [json.loads(b64(e["entry"]))["type"] for e in page["entries"]]
    assert types == ["log.created", "apikey.created", "apikey.created", "apikey.revoked"]
    assert all(auditor.encode() not in b64(e["entry"]) for e in page["entries"])


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/proofs/inclusion?index=5&tree_size=2", "index"),
        ("/proofs/inclusion?index=0&tree_size=999", "tree_size"),
        ("/proofs/inclusion?index=-1&tree_size=2", "index"),
        ("/proofs/inclusion?index=abc&tree_size=2", "index"),
        ("/proofs/inclusion?tree_size=2", "index"),
        ("/proofs/inclusion?index=0&tree_size=2&extra=1", "extra"),
        ("/proofs/inclusion?index=0&tree_size=99999999999999999999999", "tree_size"),
        ("/proofs/consistency?first=2&second=1", "first"),
        ("/proofs/consistency?first=0&second=1", "first"),
        ("/proofs/consistency?first=1&second=50", "second"),
        ("/checkpoints?limit=0", "limit"),
    ],
)
def test_out_of_range_proof_parameters_are_problems(client, tenant, path, field):
    response = client.get(f"/v1/logs/{tenant.log_id}{path}")
    assert response.status_code in (400, 422)
    assert response.mimetype == PROBLEM
    problem = response.json
    assert problem["status"] == response.status_code and problem["title"]
    assert field in problem["detail"]
    assert any(e["field"] == field for e in problem["errors"])


def test_bad_bodies_are_problems_and_write_nothing(client, container, tenant):
    headers = auth(tenant.api_key.token)
    cases = [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (json.dumps({"role": 7}).encode(), "application/json", 422),
        (json.dumps({"role": "auditor", "extra": 1}).encode(), "application/json", 422),
        (json.dumps({"role": "owner"}).encode(), "application/json", 422),
        (json.dumps({}).encode(), "application/json", 422),
        (b"x" * (container.settings.max_body_bytes + 1), "application/json", 413),
    ]
    for body, content_type, status in cases:
        response = client.post(
            "/v1/apikeys", data=body, headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == status, (body[:40], response.json)
        assert response.mimetype == PROBLEM
        assert response.json["detail"]
    keys = client.get("/v1/apikeys", headers=headers).json["keys"]
    assert len(keys) == 1
    head = client.get(f"/v1/logs/{tenant.log_id}", headers=headers).json
    assert head["tree_size"] == 2


def test_unknown_paths_and_methods_are_problems(client, tenant):
    assert client.get("/v1/nothing").mimetype == PROBLEM
    response = client.put(f"/v1/logs/{tenant.log_id}/checkpoint")
    assert response.status_code == 405 and response.mimetype == PROBLEM
    missing = client.get("/v1/logs/log_doesnotexist00/checkpoint")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM


def test_public_keys_and_openapi(client, container):
    keys = client.get("/.well-known/custody-keys").json["keys"]
    assert {k["purpose"] for k in keys} == {"log", "statement"}
    log_key = next(k for k in keys if k["purpose"] == "log")
    name, key_hash, raw = log_key["verifier_key"].split("+", 2)
    assert name == container.settings.origin and len(bytes.fromhex(key_hash)) == 4
    assert base64.urlsafe_b64decode(log_key["x"] + "=") == base64.b64decode(raw)[1:]
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    proof = spec["paths"]["/v1/logs/{log}/proofs/inclusion"]["get"]
    assert "security" not in proof
    schema = spec["components"]["schemas"]["InclusionOut"]["properties"]["proof"]["items"]
    assert schema["format"] == "byte" and "base64" in schema["description"]
    assert spec["paths"]["/v1/logs/{log}/entries"]["get"]["security"]


def test_request_ids_are_returned(client):
    response = client.get("/.well-known/custody-keys", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 16


def test_verification_endpoint_reports_tampering(client, container, tenant):
    from sqlalchemy import update

    from ledger.models import LogEntry

    grow(container, tenant.log_id, 3)
    path = f"/v1/logs/{tenant.log_id}/verification"
    platform = client.post(
        "/v1/apikeys", json={"role": "platform"}, headers=auth(tenant.api_key.token)
    ).json["api_key"]
    assert client.get(path, headers=auth(platform)).status_code == 403
    report = client.get(path, headers=auth(tenant.api_key.token)).json
    assert report["ok"] and report["entries"] == 6 and report["error"] is None
    with container.db.write() as session, session.begin():
        session.execute(
            update(LogEntry)
            .where(LogEntry.log_id == tenant.log_id, LogEntry.idx == 3)
            .values(body=b"{}")
        )
    report = client.get(path, headers=auth(tenant.api_key.token)).json
    assert not report["ok"] and report["bad_index"] == 3 and "entry 3" in report["error"]

"""Consent receipts over HTTP: given, verified offline with a stock JWS library, withdrawn."""

from __future__ import annotations

import base64
import json

import pytest
from jwcrypto import jws

from tests.support.http import MINIMAL, PROBLEM, auth, log_entries, verify_with_jwcrypto


def give(client, tenant, **changes):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/consents", json={**MINIMAL, **changes}, headers=auth(tenant.api_key.token)
    )


def test_consent_gives_a_receipt_anyone_can_verify(client, tenant):
    response = give(client, tenant)
    assert response.status_code == 201, response.json
    body = response.json
    assert [e["kind"] for e in body["events"]] == ["given"]
    assert body["status"] == "active" and body["purposes_in_force"] == ["motion_imitation"]
    claims = verify_with_jwcrypto(body["receipt"], client.get("/.well-known/custody-keys").json)
    assert claims["receipt_id"] == body["id"]
    assert claims["purposes"] == ["motion_imitation"]
    assert claims["data_categories"] == ["body_motion", "face"]
    assert claims["policy"] == {"url": "https://platform.example/terms", "version": "2026-04"}
    assert claims["controller"] == {"tenant": tenant.tenant_id}
    assert claims["subject"] == body["worker"] and body["worker"].startswith("wkr_")
    assert "w-123" not in json.dumps(claims)
    # A changed payload no longer verifies.
    header, payload, signature = body["receipt"].split(".")
    forged_claims = {**claims, "purposes": ["commercial_reuse"]}
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    )
    with pytest.raises(jws.InvalidJWSSignature):
        verify_with_jwcrypto(
            f"{header}.{forged_payload}.{signature}", client.get("/.well-known/custody-keys").json
        )

    entry = log_entries(client, tenant)[body["log_index"]]
    assert entry["type"] == "consent.given" and entry["subject"] == body["worker"]
    assert entry["data"]["purposes"] == ["motion_imitation"]
    assert (
        entry["data"]["receipt"]
        == __import__("hashlib").sha256(body["receipt"].encode()).hexdigest()
    )
    raw = json.dumps(log_entries(client, tenant))
    assert "w-123" not in raw and "platform.example" not in raw


def test_same_worker_gets_one_pseudonym_per_tenant(client, container, tenant):
    first = give(client, tenant).json["worker"]
    second = give(client, tenant, purposes=["benchmarking"]).json["worker"]
    other = container.tenants.create("Platform B")
    third = give(client, other).json["worker"]
    assert first == second and third != first


def test_withdrawal_some_then_all(client, tenant):
    consent = give(
        client, tenant, purposes=["motion_imitation", "benchmarking", "model_validation"]
    ).json
    path = f"/v1/consents/{consent['id']}/withdraw"
    partial = client.post(
        path, json={"purposes": ["benchmarking"]}, headers=auth(tenant.api_key.token)
    )
    assert partial.status_code == 200, partial.json
    assert partial.json["status"] == "active"
    assert partial.json["purposes_in_force"] == ["model_validation", "motion_imitation"]
    keys = client.get("/.well-known/custody-keys").json
    claims = verify_with_jwcrypto(partial.json["receipt"], keys)
    assert claims["withdraws"] == consent["id"] and claims["purposes"] == ["benchmarking"]
    assert not claims["complete"]

    again = client.post(
        path, json={"purposes": ["benchmarking"]}, headers=auth(tenant.api_key.token)
    )
    assert (
        again.status_code == 409
        and again.mimetype == PROBLEM
        and "benchmarking" in again.json["detail"]
    )

    rest = client.post(path, json={}, headers=auth(tenant.api_key.token))
    assert rest.status_code == 200
    assert rest.json["status"] == "withdrawn" and rest.json["purposes_in_force"] == []
    assert rest.json["purposes"] == ["model_validation", "motion_imitation"]
    assert verify_with_jwcrypto(rest.json["receipt"], keys)["complete"]

    done = client.post(path, json={}, headers=auth(tenant.api_key.token))
    assert done.status_code == 409 and "already withdrawn" in done.json["detail"]

    shown = client.get(f"/v1/consents/{consent['id']}", headers=auth(tenant.api_key.token)).json
    assert [e["kind"] for e in shown["events"]] == ["given", "withdrawn", "withdrawn"]
    types = [e["type"] for e in log_entries(client, tenant)]
    assert types.count("consent.withdrawn") == 2


def test_amendment_supersedes_the_old_consent(client, tenant):
    old = give(client, tenant).json
    new = give(
        client,
        tenant,
        purposes=["motion_imitation", "action_recognition"],
        policy_version="2026-09",
        amends=old["id"],
    )
    assert new.status_code == 201, new.json
    shown = client.get(f"/v1/consents/{old['id']}", headers=auth(tenant.api_key.token)).json
    assert shown["status"] == "superseded" and shown["purposes_in_force"] == []
    withdraw_old = client.post(
        f"/v1/consents/{old['id']}/withdraw", json={}, headers=auth(tenant.api_key.token)
    )
    assert withdraw_old.status_code == 409
    amend_again = give(client, tenant, amends=old["id"])
    assert amend_again.status_code == 409 and "superseded" in amend_again.json["detail"]
    other_worker = give(client, tenant, worker="w-999", amends=new.json["id"])
    assert other_worker.status_code == 400 and other_worker.json["errors"][0]["field"] == "amends"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"purposes": ["world_domination"]}, 422, "purposes"),
        ({"purposes": []}, 422, "purposes"),
        ({"data_categories": ["dna"]}, 422, "data_categories"),
        ({"recipients": "everyone"}, 422, "recipients"),
        ({"retention": "P0D"}, 400, "retention"),
        ({"retention": "thirty days"}, 400, "retention"),
        ({"retention": "until:2027-13-40"}, 400, "retention"),
        ({"jurisdiction": "Nigeria"}, 400, "jurisdiction"),
        ({"policy_url": "not a url"}, 400, "policy_url"),
        ({"worker_is_minor": True}, 400, "guardian"),
        ({"minors_may_appear": True}, 400, "minors_guardian_consent"),
        ({"data_categories": ["bystanders"]}, 400, "bystanders_may_appear"),
        ({"recipients": "named_third_parties"}, 400, "parties"),
        ({"recipients": "named_third_parties", "parties": ["Acme Robotics Inc."]}, 400, "parties"),
        ({"amends": "con_doesnotexist00"}, 400, "amends"),
        ({"extra": "field"}, 422, "extra"),
        ({"purposes": "motion_imitation"}, 422, "purposes"),
    ],
)
def test_bad_consents_are_problems_and_leave_no_trace(client, tenant, changes, status, field):
    size = client.get(f"/v1/logs/{tenant.log_id}", headers=auth(tenant.api_key.token)).json[
        "tree_size"
    ]
    response = give(client, tenant, **changes)
    assert response.status_code == status, response.json
    assert response.mimetype == PROBLEM
    assert any(e["field"] == field for e in response.json["errors"]), response.json
    assert (
        client.get(f"/v1/logs/{tenant.log_id}", headers=auth(tenant.api_key.token)).json[
            "tree_size"
        ]
        == size
    )


@pytest.mark.parametrize("retention", ["PT45S", "P1Y2M", "until:2027-01-01", "until_project_end"])
def test_retention_forms_are_accepted(client, tenant, retention):
    response = give(client, tenant, retention=retention)
    assert response.status_code == 201, response.json
    claims = json.loads(base64.urlsafe_b64decode(response.json["receipt"].split(".")[1] + "=="))
    assert claims["retention"] == retention


def test_minor_with_guardian_and_named_parties_are_accepted(client, tenant):
    response = give(
        client,
        tenant,
        worker_is_minor=True,
        guardian="g-77",
        recipients="named_third_parties",
        parties=["acme-robotics"],
        retention="PT45S",
    )
    assert response.status_code == 201, response.json
    raw = json.dumps(log_entries(client, tenant))
    assert "g-77" not in raw and "acme-robotics" in raw


def test_consents_are_tenant_scoped_and_role_checked(client, container, tenant):
    consent = give(client, tenant).json
    other = container.tenants.create("Platform B")
    for call in (
        lambda: client.get(f"/v1/consents/{consent['id']}", headers=auth(other.api_key.token)),
        lambda: client.post(
            f"/v1/consents/{consent['id']}/withdraw", json={}, headers=auth(other.api_key.token)
        ),
    ):
        response = call()
        assert response.status_code == 404 and response.mimetype == PROBLEM
    auditor = client.post(
        "/v1/apikeys", json={"role": "auditor"}, headers=auth(tenant.api_key.token)
    ).json["api_key"]
    assert client.post("/v1/consents", json=MINIMAL, headers=auth(auditor)).status_code == 403
    assert client.get(f"/v1/consents/{consent['id']}", headers=auth(auditor)).status_code == 200
    still = client.get(f"/v1/consents/{consent['id']}", headers=auth(tenant.api_key.token)).json
    assert still["status"] == "active"


def test_receipts_verify_command(custody, client, tenant, tmp_path):
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(give(client, tenant).json["receipt"])
    keys = tmp_path / "keys.json"
    keys.write_text(client.get("/.well-known/custody-keys").text)
    ok = custody("receipts", "verify", str(receipt), "--keys", str(keys))
    assert json.loads(ok.stdout)["purposes"] == ["motion_imitation"]
    assert custody("receipts", "verify", str(receipt)).returncode == 0
    header, payload, signature = receipt.read_text().split(".")
    receipt.write_text(f"{header}.{payload}.{signature[:-4]}AAAA")
    bad = custody("receipts", "verify", str(receipt), "--keys", str(keys), check=False)
    assert bad.returncode == 1 and "does not verify" in bad.stderr

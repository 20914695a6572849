"""Scheduled deletion, erasure requests, crypto-shredding and deletion certificates, end to
end over HTTP: on SQLite with the local vault, and on PostgreSQL with the vault on a real
S3-compatible server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.container import build
from api.settings import Settings
from ledger.errors import VaultError
from ledger.items.items import object_name
from ledger.log.verification import verify_database
from ledger.models import Item, WorkerKey
from retention.models import Erasure
from tests.support.http import PROBLEM, auth, log_entries
from tests.support.platform import Api
from tests.support.receiver import receiver, signed_correctly
from tests.support.s3 import vault_settings
from verify.certificates import verify_certificate


@pytest.fixture
def settings(tmp_path, db_url, request, monkeypatch) -> Settings:
    return vault_settings(tmp_path, db_url, request, monkeypatch)


def stored_clip(api: Api, consent: str, worker: str = "w-123", **changes) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    content = os.urandom(200_000)
    clip = api.clip(consent, content=content, worker=worker, **changes)
    put = api.client.put(f"/v1/clips/{clip['id']}/content", data=content, headers=api.headers)
    assert put.status_code == 200, put.json
    return clip, content


def keys_document(api: Api) -> dict:  # type: ignore[type-arg]
    return api.client.get("/.well-known/custody-keys").json


def certificate(api: Api, erasure: str) -> dict:  # type: ignore[type-arg]
    response = api.get(f"/v1/erasures/{erasure}/certificate")
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/jose"
    return verify_certificate(response.get_data(as_text=True), keys_document(api))


def erasure_of(container, item: str) -> Erasure:  # type: ignore[no-untyped-def]
    from retention.models import ErasureItem

    with container.db.session() as session:
        erasure_id = session.scalar(
            select(ErasureItem.erasure_id).where(ErasureItem.item_id == item)
        )
        found = session.get(Erasure, erasure_id)
        assert found is not None
        return found


def statuses(container, *ids: str) -> list[str]:  # type: ignore[no-untyped-def]
    with container.db.session() as session:
        return [session.get(Item, i).status for i in ids]  # type: ignore[union-attr]


def tombstones(api: Api) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in log_entries(api.client, api.tenant) if e["type"] == "items.erased"]


def test_the_sweep_erases_exactly_what_is_due_and_everything_derived(api, container, clock):
    short = api.consent(retention="P30D")
    long = api.consent(retention="P365D")
    due_clip, due_bytes = stored_clip(api, short)
    kept_clip, kept_bytes = stored_clip(api, long)
    due_label = api.derive([due_clip["id"]])
    kept_label = api.derive([kept_clip["id"]])
    dataset = api.derive([due_clip["id"], kept_clip["id"]], kind="dataset_membership")
    backend = container.vault.backend
    name = object_name(api.tenant.tenant_id, due_clip["id"])
    assert backend.exists(name)

    clock.advance(days=29)
    assert container.retention.sweep().erased.erasures == 0
    assert api.check(due_clip["id"])["decision"] == "allow"

    clock.advance(hours=25)
    before = api.get("/v1/retention/status").json
    assert before["items"]["due"] == 3  # the clip, its label, and the dataset that holds it
    report = container.retention.sweep()
    assert report.erased.erasures == 1 and report.erased.items == 3
    assert report.erased.objects == 1 and report.erased.keys_destroyed == 0
    assert report.certified == 1

    assert statuses(container, due_clip["id"], due_label["id"], dataset["id"]) == ["erased"] * 3
    assert statuses(container, kept_clip["id"], kept_label["id"]) == ["active"] * 2
    assert not backend.exists(name)
    assert api.check(due_clip["id"])["reasons"] == ["erased"]
    assert api.check(due_label["id"])["reasons"] == ["erased", "parent_erased"]
    assert api.check(dataset["id"])["reasons"] == ["erased", "parent_erased"]
    assert api.check(kept_clip["id"])["decision"] == "allow"
    # The hash is forgotten: asking by it finds nothing.
    assert api.check(due_clip["sha256"])["reasons"] == ["unknown_item"]
    gone = api.get(f"/v1/clips/{due_clip['id']}/content?purpose=motion_imitation")
    assert gone.status_code == 410 and gone.mimetype == PROBLEM
    kept = api.get(f"/v1/clips/{kept_clip['id']}/content?purpose=motion_imitation")
    assert kept.status_code == 200 and kept.data == kept_bytes
    shown = api.get(f"/v1/items/{due_clip['id']}").json
    assert shown["status"] == "erased" and shown["sha256"] is None

    erasure = erasure_of(container, due_clip["id"])
    claims = certificate(api, erasure.id)
    assert claims["reason"] == "retention_ended" and claims["request"] is None
    assert claims["worker"] == due_clip["worker"] and claims["key_destroyed"] is False
    assert {(i["id"], i["sha256"]) for i in claims["items"]} == {
        (due_clip["id"], hashlib.sha256(due_bytes).hexdigest()),
        (due_label["id"], due_label["sha256"]),
        (dataset["id"], dataset["sha256"]),
    }
    [tombstone] = tombstones(api)
    assert tombstone["seq"] == claims["tombstone"]["index"] == erasure.log_index
    assert tombstone["data"]["items"] == sorted([due_clip["id"], due_label["id"], dataset["id"]])
    assert tombstone["subject"] == due_clip["worker"]
    assert all(r.ok for r in verify_database(container.db))

    # Idempotent: a second pass finds nothing to do and writes nothing.
    size = api.size()
    again = container.retention.sweep()
    assert again.planned == 0 and again.erased.erasures == 0 and again.certified == 0
    assert api.size() == size

    # A year on, the rest goes, and with the worker's last clip, their data key.
    clock.advance(days=365)
    last = container.retention.sweep()
    assert last.erased.items == 2 and last.erased.keys_destroyed == 1
    assert statuses(container, kept_clip["id"], kept_label["id"]) == ["erased"] * 2
    assert certificate(api, erasure_of(container, kept_clip["id"]).id)["key_destroyed"] is True
    assert len(tombstones(api)) == 2
    done = api.get("/v1/retention/status").json
    assert done["items"]["erased"] == 5 and done["items"]["due"] == 0
    assert done["erasures"] == {
        "pending": 0,
        "failing": 0,
        "overdue": 0,
        "done": 2,
        "awaiting_certificate": 0,
    }
    assert all(r.ok for r in verify_database(container.db))


def test_crypto_shredding_leaves_backup_copies_unreadable(api, container, clock):
    consent = api.consent()
    clip, content = stored_clip(api, consent)
    backend, vault = container.vault.backend, container.vault
    name = object_name(api.tenant.tenant_id, clip["id"])
    backup = b"".join(backend.get(name))  # a backup taken before the erasure
    with container.db.session() as session:
        key = vault.data_key(session, clip["worker"])
    assert b"".join(vault.get(name, key, hashlib.sha256(content).digest())) == content

    response = api.post("/v1/erasure-requests", {"worker": "w-123", "scope": "all"})
    assert response.status_code == 202, response.json
    clock.advance(seconds=2)
    container.retention.sweep()
    assert not backend.exists(name)
    with container.db.session() as session:
        row = session.get(WorkerKey, clip["worker"])
        assert row.wrapped is None and row.destroyed_at == clock.now()
        with pytest.raises(VaultError, match="destroyed"):
            vault.data_key(session, clip["worker"])
    # The backup restored: the bytes are there, but nothing can decrypt them any more.
    backend.put(name, iter([backup]))
    assert b"".join(backend.get(name)) == backup
    with pytest.raises(VaultError):
        b"".join(vault.get(name, os.urandom(32), hashlib.sha256(content).digest()))
    # A new clip of the same worker gets a new key; the old ciphertext stays unreadable.
    fresh, fresh_bytes = stored_clip(api, api.consent())
    with container.db.session() as session:
        new_key = vault.data_key(session, fresh["worker"])
    assert new_key != key
    with pytest.raises(VaultError, match="authentication"):
        b"".join(vault.get(name, new_key, hashlib.sha256(content).digest()))


def test_an_erasure_request_is_denied_at_once_and_done_by_the_sweep(api, container, clock):
    consent = api.consent()
    other_consent = api.consent(purposes=["benchmarking"])
    clip, _ = stored_clip(api, consent)
    label = api.derive([clip["id"]])
    untouched, _ = stored_clip(api, other_consent)
    before = api.size()

    response = api.post("/v1/erasure-requests", {"worker": "w-123", "consent": consent})
    assert response.status_code == 202, response.json
    request = response.json
    assert response.headers["Location"] == f"/v1/erasure-requests/{request['id']}"
    assert request["status"] == "in_progress" and request["overdue"] is False
    assert request["scope"] == "consent" and request["consent"] == consent
    assert request["received_at"] == "2026-01-01T00:00:00.000000Z"
    assert request["deadline"] == "2026-02-01T00:00:00.000000Z"  # GDPR's one month
    assert request["worker"] == clip["worker"]
    [pending] = request["erasures"]
    assert pending["status"] == "pending" and pending["certificate"] is None
    assert {i["id"] for i in pending["items"]} == {clip["id"], label["id"]}
    # Denied from the moment it is received; the other consent's clip is untouched.
    assert api.check(clip["id"])["reasons"] == ["erased"]
    assert api.check(label["id"])["reasons"] == ["erased", "parent_erased"]
    assert api.check(untouched["id"], purpose="benchmarking")["decision"] == "allow"
    [logged] = [
        e for e in log_entries(api.client, api.tenant)[before:] if e["type"] == "erasure.requested"
    ]
    assert logged["data"] == {
        "request": request["id"],
        "scope": "consent",
        "target": consent,
        "deadline": request["deadline"],
        "erasures": [pending["id"]],
    }
    # Asked again while in progress: the same request.
    again = api.post("/v1/erasure-requests", {"worker": clip["worker"], "consent": consent})
    assert again.status_code == 202 and again.json["id"] == request["id"]
    early = api.get(f"/v1/erasures/{pending['id']}/certificate")
    assert early.status_code == 409 and early.mimetype == PROBLEM

    clock.advance(seconds=5)
    report = container.retention.sweep()
    assert report.erased.items == 2 and report.requests_completed == 1
    shown = api.get(f"/v1/erasure-requests/{request['id']}").json
    assert shown["status"] == "completed"
    assert shown["completed_at"] == "2026-01-01T00:00:05.000000Z"
    [done] = shown["erasures"]
    assert done["status"] == "done" and done["reason"] == "erasure_requested"
    assert done["certificate"] == f"/v1/erasures/{done['id']}/certificate"
    claims = certificate(api, done["id"])
    assert claims["request"] == request["id"] and claims["reason"] == "erasure_requested"
    completed = [
        e for e in log_entries(api.client, api.tenant) if e["type"] == "erasure.request_completed"
    ]
    assert completed[-1]["data"] == {"request": request["id"], "erasures": [done["id"]]}
    assert api.check(untouched["id"], purpose="benchmarking")["decision"] == "allow"
    listed = api.get("/v1/erasure-requests?status=completed").json["requests"]
    assert [r["id"] for r in listed] == [request["id"]]


def test_an_item_request_takes_the_item_and_what_derives_from_it(api, container, clock):
    consent = api.consent()
    clip, _ = stored_clip(api, consent)
    label = api.derive([clip["id"]])
    feature = api.derive([label["id"]], kind="feature_file")
    response = api.post("/v1/erasure-requests", {"worker": "w-123", "item": label["id"]})
    assert response.status_code == 202, response.json
    clock.advance(seconds=5)
    container.retention.sweep()
    assert statuses(container, clip["id"], label["id"], feature["id"]) == [
        "active",
        "erased",
        "erased",
    ]
    assert api.get(f"/v1/erasure-requests/{response.json['id']}").json["status"] == "completed"


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"worker": "w-123"}, 400, "say what to erase"),
        ({"worker": "w-123", "scope": "all", "item": "itm_aaaaaaaaaaaa"}, 400, "leave out"),
        ({"worker": "w-123", "consent": "cns_x", "item": "itm_aaaaaaaaaaaa"}, 400, "say what"),
        ({"worker": "w-123", "scope": "item", "consent": "cns_aaaaaaaaaaaa"}, 400, "say what"),
        ({"worker": "w-123", "scope": "some"}, 422, "Must be one of"),
        ({"worker": "w-nobody", "scope": "all"}, 404, "worker"),
        ({"worker": "w-123", "consent": "cns_doesnotexist"}, 404, "consent"),
        ({"worker": "w-123", "item": "itm_doesnotexist"}, 404, "item"),
        ({"worker": "w-123", "scope": "all", "reason": "x"}, 422, "Unknown field"),
    ],
)
def test_bad_erasure_requests_are_problems_and_leave_no_trace(api, body, status, needle):
    api.clip(api.consent())
    size = api.size()
    response = api.post("/v1/erasure-requests", body)
    assert response.status_code == status and response.mimetype == PROBLEM
    assert needle in str(response.json), response.json
    assert api.size() == size


def test_erasure_stays_within_the_tenant_and_the_worker(api, client, other, clock, container):
    consent = api.consent()
    clip = api.clip(consent)
    theirs = Api(client, other, clock)
    theirs.consent()  # their own w-123, a different person
    other_worker = api.consent(worker="w-456")
    # Another worker's consent or item cannot be named in w-123's request.
    assert (
        api.post("/v1/erasure-requests", {"worker": "w-123", "consent": other_worker}).status_code
        == 404
    )
    their_clip = api.clip(other_worker, worker="w-456")
    assert (
        api.post("/v1/erasure-requests", {"worker": "w-123", "item": their_clip["id"]}).status_code
        == 404
    )
    # Another tenant's request for "w-123" is about their own w-123 only.
    request = theirs.post("/v1/erasure-requests", {"worker": "w-123", "scope": "all"})
    assert request.status_code == 202
    assert api.get(f"/v1/erasure-requests/{request.json['id']}").status_code == 404
    assert (
        theirs.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]}).status_code
        == 404
    )
    clock.advance(seconds=5)
    container.retention.sweep()
    assert api.check(clip["id"])["decision"] == "allow"
    mine = api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]}).json
    clock.advance(seconds=5)
    container.retention.sweep()
    erasure = api.get(f"/v1/erasure-requests/{mine['id']}").json["erasures"][0]["id"]
    assert theirs.get(f"/v1/erasures/{erasure}").status_code == 404
    assert theirs.get(f"/v1/erasures/{erasure}/certificate").status_code == 404
    assert theirs.post(f"/v1/erasures/{erasure}/confirmation", {}).status_code == 404
    # Auditors read, never ask.
    auditor = client.post("/v1/apikeys", json={"role": "auditor"}, headers=api.headers)
    assert auditor.status_code == 201, auditor.json
    as_auditor = auth(auditor.json["api_key"])
    assert client.get(f"/v1/erasures/{erasure}", headers=as_auditor).status_code == 200
    denied = client.post(
        "/v1/erasure-requests", json={"worker": "w-123", "scope": "all"}, headers=as_auditor
    )
    assert denied.status_code == 403


def broken_vault(settings: Settings, tmp_path, tenant_id: str) -> Settings:  # type: ignore[no-untyped-def]
    """The same database with a vault that fails: S3 unreachable, or a folder that cannot
    hold the tenant's objects (its place is taken by a file)."""
    if settings.s3_bucket:
        return replace(settings, s3_endpoint_url="http://127.0.0.1:9")
    folder = tmp_path / "broken-vault"
    folder.mkdir()
    (folder / tenant_id).write_bytes(b"not a folder")
    return replace(settings, vault_dir=folder)


def test_a_failing_vault_leaves_the_erasure_pending_and_retried(
    api, container, settings, clock, tmp_path
):
    clip, content = stored_clip(api, api.consent(retention="P30D"))
    label = api.derive([clip["id"]])
    clock.advance(days=30, hours=1)
    broken = build(
        broken_vault(settings, tmp_path, api.tenant.tenant_id), clock=clock, migrate=False
    )
    try:
        report = broken.retention.sweep()
    finally:
        broken.close()
    assert report.planned == 1 and report.erased.failed == 1 and report.erased.erasures == 0
    # Never marked erased: the items are held (denied), the bytes and hash are still there.
    assert statuses(container, clip["id"], label["id"]) == ["erasing", "erasing"]
    assert api.check(clip["id"])["reasons"] == ["erased"]
    assert tombstones(api) == []
    erasure = erasure_of(container, clip["id"])
    assert erasure.status == "pending" and erasure.attempts == 1
    assert erasure.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert erasure.last_error
    with container.db.session() as session:
        assert session.get(Item, clip["id"]).sha256 == hashlib.sha256(content).digest()
    status = api.get("/v1/retention/status").json
    assert status["erasures"]["failing"] == 1 and status["healthy"] is False
    assert status["failing_erasures"][0]["id"] == erasure.id

    # Not retried before its time, then done by a working vault.
    assert container.retention.sweep().erased.erasures == 0
    clock.advance(minutes=1)
    done = container.retention.sweep()
    assert done.erased.erasures == 1 and done.erased.items == 2
    assert statuses(container, clip["id"], label["id"]) == ["erased", "erased"]
    assert not container.vault.backend.exists(object_name(api.tenant.tenant_id, clip["id"]))
    assert certificate(api, erasure.id)["items"][0]["id"] == min(clip["id"], label["id"])
    assert len(tombstones(api)) == 1


def test_an_overdue_request_is_reported_never_dropped(
    api, container, settings, clock, tmp_path, custody
):
    clip, _ = stored_clip(api, api.consent())
    request = api.post("/v1/erasure-requests", {"worker": "w-123", "scope": "all"}).json
    broken = build(
        broken_vault(settings, tmp_path, api.tenant.tenant_id), clock=clock, migrate=False
    )
    try:
        for _ in range(3):
            clock.advance(days=11)
            assert broken.retention.sweep().erased.failed == 1
    finally:
        broken.close()
    shown = api.get(f"/v1/erasure-requests/{request['id']}").json
    assert shown["status"] == "in_progress" and shown["overdue"] is True
    assert shown["erasures"][0]["overdue"] is True and shown["erasures"][0]["attempts"] == 3
    overdue = api.get("/v1/erasure-requests?status=overdue").json["requests"]
    assert [r["id"] for r in overdue] == [request["id"]]
    status = api.get("/v1/retention/status").json
    assert status["requests"]["overdue"] == 1 and status["erasures"]["overdue"] == 1
    assert status["overdue_requests"][0]["id"] == request["id"]
    # The operator's view: the real command against the same database exits 1 and says so.
    if not settings.s3_bucket:
        shown_cli = custody("retention", "status", check=False)
        assert shown_cli.returncode == 1
        assert f"overdue request: id={request['id']}" in shown_cli.stdout
    # Once the vault works again, the request completes (late, and on the record as such).
    clock.advance(hours=7)
    container.retention.sweep()
    done = api.get(f"/v1/erasure-requests/{request['id']}").json
    assert done["status"] == "completed" and done["overdue"] is False
    assert done["completed_at"] > done["deadline"]


def test_a_full_withdrawal_erases_the_clips_on_the_next_sweep(api, container, clock):
    withdrawn = api.consent()
    partial = api.consent(purposes=["motion_imitation", "benchmarking"])
    gone, _ = stored_clip(api, withdrawn)
    label = api.derive([gone["id"]])
    kept, _ = stored_clip(api, partial)
    assert api.post(f"/v1/consents/{withdrawn}/withdraw", {}).status_code == 200
    assert (
        api.post(f"/v1/consents/{partial}/withdraw", {"purposes": ["benchmarking"]}).status_code
        == 200
    )
    clock.advance(seconds=5)
    report = container.retention.sweep()
    assert report.erased.items == 2
    assert statuses(container, gone["id"], label["id"], kept["id"]) == [
        "erased",
        "erased",
        "active",
    ]
    assert certificate(api, erasure_of(container, gone["id"]).id)["reason"] == "consent_withdrawn"


def test_erasures_are_told_to_the_platform_by_signed_webhooks(api, container, clock):
    clip, content = stored_clip(api, api.consent())
    with receiver(answers=[500]) as hook:
        added = api.post("/v1/webhook-endpoints", {"url": hook.url})
        assert added.status_code == 201, added.json
        secret = added.json["secret"]
        assert secret.startswith("whsec_")
        listed = api.get("/v1/webhook-endpoints").json["endpoints"]
        assert listed == [
            {"id": added.json["id"], "url": hook.url, "created_at": added.json["created_at"]}
        ]
        request = api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]}).json
        clock.advance(seconds=5)
        first = container.retention.sweep()
        assert first.webhooks.retrying == 1 and len(hook.received) == 1  # answered 500
        assert container.webhooks.deliver_due().delivered == 0  # not before its retry time
        clock.advance(seconds=5)
        assert container.webhooks.deliver_due().delivered == 1
        assert len(hook.received) == 2
    failed, delivered = hook.received
    assert failed.headers["webhook-id"] == delivered.headers["webhook-id"]  # one message
    assert failed.body == delivered.body
    for attempt in (failed, delivered):
        assert attempt.path == "/custody-hook"
        assert attempt.headers["content-type"] == "application/json"
        assert signed_correctly(secret, attempt)
        assert not signed_correctly("whsec_" + base64.b64encode(os.urandom(32)).decode(), attempt)
    assert int(delivered.headers["webhook-timestamp"]) == int(clock.now().timestamp())
    message = json.loads(delivered.body)
    erasure = api.get(f"/v1/erasure-requests/{request['id']}").json["erasures"][0]
    assert message["type"] == "erasure.completed"
    assert message["data"]["erasure"] == erasure["id"]
    assert message["data"]["items"] == [
        {"id": clip["id"], "kind": "clip", "sha256": hashlib.sha256(content).hexdigest()}
    ]
    assert message["data"]["certificate"] == erasure["certificate"]
    assert message["data"]["confirm_by"] == "2026-01-08T00:00:05.000000Z"  # a week

    # Unconfirmed past the deadline: overdue, until the platform confirms.
    clock.advance(days=8)
    status = api.get("/v1/retention/status").json
    assert status["confirmations"]["overdue"] == 1
    assert status["overdue_confirmations"][0]["id"] == erasure["id"]
    assert api.get(f"/v1/erasures/{erasure['id']}").json["copies"]["overdue"] is True
    size = api.size()
    confirmed = api.post(f"/v1/erasures/{erasure['id']}/confirmation", {})
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["copies"]["confirmed_at"] == "2026-01-09T00:00:10.000000Z"
    assert confirmed.json["copies"]["overdue"] is False
    again = api.post(f"/v1/erasures/{erasure['id']}/confirmation", {})
    assert again.json["copies"]["confirmed_at"] == confirmed.json["copies"]["confirmed_at"]
    [logged] = [
        e
        for e in log_entries(api.client, api.tenant)[size:]
        if e["type"] == "erasure.copies_confirmed"
    ]
    assert logged["data"] == {"erasure": erasure["id"]}
    assert api.get("/v1/retention/status").json["confirmations"] == {
        "awaiting": 0,
        "overdue": 0,
        "confirmed": 1,
    }


def test_a_delivery_that_never_succeeds_is_failed_and_reported(api, container, clock):
    clip = api.clip(api.consent())
    with receiver(answers=[503] * 20) as hook:
        assert api.post("/v1/webhook-endpoints", {"url": hook.url}).status_code == 201
        api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]})
        clock.advance(seconds=5)
        container.retention.sweep()
        for _ in range(10):
            clock.advance(hours=11)
            container.webhooks.deliver_due()
        assert len(hook.received) == 8  # the first attempt and seven retries
    status = api.get("/v1/retention/status").json
    assert status["webhooks"] == {"pending": 0, "delivered": 0, "failed": 1}
    assert status["healthy"] is False


def test_webhook_endpoints_are_checked_and_removable(api, client, other, clock):
    for url, needle in [
        ("http://platform.example/hook", "https"),
        ("ftp://platform.example/hook", "https"),
        ("https://user:pw@platform.example/hook", "credentials"),
        ("not a url", "absolute"),
    ]:
        response = api.post("/v1/webhook-endpoints", {"url": url})
        assert response.status_code == 400 and response.mimetype == PROBLEM
        assert needle in response.json["detail"]
    added = api.post("/v1/webhook-endpoints", {"url": "https://platform.example/hook"}).json
    assert "secret" not in api.get("/v1/webhook-endpoints").json["endpoints"][0]
    theirs = Api(client, other, clock)
    assert (
        theirs.client.delete(
            f"/v1/webhook-endpoints/{added['id']}", headers=theirs.headers
        ).status_code
        == 404
    )
    assert (
        api.client.delete(f"/v1/webhook-endpoints/{added['id']}", headers=api.headers).status_code
        == 204
    )
    assert (
        api.client.delete(f"/v1/webhook-endpoints/{added['id']}", headers=api.headers).status_code
        == 404
    )
    assert api.get("/v1/webhook-endpoints").json["endpoints"] == []
    types = [e["type"] for e in log_entries(api.client, api.tenant)]
    assert (
        types.count("webhook.endpoint_added") == 1 and types.count("webhook.endpoint_removed") == 1
    )


def test_a_sweep_with_nothing_due_takes_no_log_lock(api, container, clock):
    api.clip(api.consent())  # retained for 30 days: nothing due
    clock.advance(seconds=2)
    container.retention.sweep()  # signs the checkpoint covering the registration
    batches = container.appender.stats.batches
    clock.advance(seconds=2)
    idle = container.retention.sweep()
    assert idle.ran and idle.planned == 0
    assert container.appender.stats.batches == batches  # no log transaction, no lock

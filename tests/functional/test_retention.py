"""Scheduled deletion, erasure requests, crypto-shredding and deletion certificates, end to
end over HTTP: on SQLite with the local vault, and on PostgreSQL with the vault on a real
S3-compatible server."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.container import build
from api.settings import Settings
from ledger.errors import VaultError
from ledger.items import object_name
from ledger.models import Item, WorkerKey
from ledger.verification import verify_database
from retention.certificates import CertificateError, verify_certificate
from retention.models import Erasure
from tests.support import s3
from tests.support.http import PROBLEM, auth, log_entries
from tests.support.platform import Api


@pytest.fixture
def settings(tmp_path, db_url, request, monkeypatch) -> Settings:
    """SQLite keeps the vault in a local folder; PostgreSQL keeps it on S3."""
    local = Settings(data_dir=tmp_path / "data", database_url=db_url)
    if not db_url.startswith("postgresql"):
        return local
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in s3.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    s3.client(endpoint).create_bucket(Bucket=bucket)
    return replace(local, s3_bucket=bucket, s3_endpoint_url=endpoint, s3_prefix="vault")


def stored_clip(api: Api, consent: str, worker: str = "w-123", **changes) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    content = os.urandom(200_000)
    clip = api.clip(consent, content=content, worker=worker, **changes)
    put = api.client.put(
        f"/v1/clips/{clip['id']}/content", data=content, headers=api.headers
    )
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
        erasure_id = session.scalar(select(ErasureItem.erasure_id).where(ErasureItem.item_id == item))
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

"""Client-side verification: genuine checkpoints, proofs, receipts, certificates and webhooks
pass; tampered ones fail, whether the service lies (answers rewritten by a proxy, or
checkpoints signed with the genuine log key over a forged history) or the caller was handed
changed bytes."""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import pytest

from custody_client import (
    CheckpointMemory,
    Custody,
    RollbackError,
    VerificationError,
    WebhookVerificationError,
    verify_webhook,
)
from tests.support.clients import CONSENT, sign_checkpoint
from tests.support.receiver import receiver
from verify.note import Checkpoint, sign_note


def forge(container, origin: str, size: int, root: bytes) -> str:  # type: ignore[no-untyped-def]
    """A checkpoint signed with the genuine log key: what a dishonest operator could serve."""
    with container.db.session() as session:
        signers = container.keys.log_signers(session)
    return sign_note(Checkpoint(origin, size, root).body(), signers)


def flip(text: str) -> str:
    """The same base64 with its first byte changed."""
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def rewrite_json(suffix: str, change):  # type: ignore[no-untyped-def]
    def rewrite(path: str, body: bytes) -> bytes:
        if path.split("?")[0].endswith(suffix):
            return json.dumps(change(json.loads(body))).encode()
        return body

    return rewrite


def test_genuine_checkpoints_entries_and_receipts_verify(custody, container, tenant):
    consent = custody.consents.give(**CONSENT)
    sign_checkpoint(container)
    first = custody.verifier.checkpoint()
    assert first.origin == tenant.origin and first.size == custody.logs.head()["tree_size"]
    proven = custody.verifier.entry(consent["log_index"])
    assert proven.data["type"] == "consent.given" and proven.checkpoint == first
    withdrawal = custody.consents.withdraw(consent["id"], ["motion_imitation"])
    sign_checkpoint(container)
    claims = custody.verifier.consent(custody.consents.get(consent["id"]))
    assert claims["receipt_id"] == consent["id"] and claims["purposes"] == ["motion_imitation"]
    assert custody.verifier.withdrawal(withdrawal)["withdraws"] == consent["id"]
    later = custody.verifier.latest()
    assert later.size > first.size  # proven consistent with the first on the way


def test_a_changed_checkpoint_note_fails(front, through, container):
    through.consents.give(**CONSENT)
    sign_checkpoint(container)
    note = through.logs.checkpoint()
    origin, size, rest = note.split("\n", 2)
    for bad in (
        f"{origin}\n{int(size) + 1}\n{rest}",  # the size changed under the signature
        note.replace(note.split("\n")[2], flip(note.split("\n")[2])),  # the root changed
        note.split("\n\n")[0] + "\n\n",  # no signature
    ):
        front.rewrite = lambda path, body, bad=bad: (
            bad.encode() if path.endswith("/checkpoint") else body
        )
        with pytest.raises(VerificationError, match="checkpoint does not verify"):
            through.verifier.checkpoint()
    assert through.verifier.memory.get(through.logs.default_log) is None


def test_pinned_keys_are_the_only_keys(front, server, tenant, container):
    with Custody(server, tenant.api_key.token) as plain:
        document = plain.well_known_keys()
    sign_checkpoint(container)
    without_log_key = {**document, "keys": [k for k in document["keys"] if k["purpose"] != "log"]}
    with Custody(front.url, tenant.api_key.token, log_id=tenant.log_id, keys=document) as pinned:
        assert pinned.verifier.checkpoint().size >= 1
    with Custody(front.url, None, log_id=tenant.log_id, keys=without_log_key) as wrong:
        with pytest.raises(VerificationError, match="no signature by a known key"):
            wrong.verifier.checkpoint()
    assert front.requests("GET", "/.well-known") == []


def test_a_log_that_goes_backwards_or_forks_is_refused(front, through, container, tenant):
    through.consents.give(**CONSENT)
    sign_checkpoint(container)
    old_note = through.logs.checkpoint()
    through.consents.give(**CONSENT)
    sign_checkpoint(container)
    seen = through.verifier.checkpoint()

    front.rewrite = lambda path, body: old_note.encode() if path.endswith("/checkpoint") else body
    with pytest.raises(RollbackError, match="went backwards"):
        through.verifier.checkpoint()

    same_size = forge(container, tenant.origin, seen.size, os.urandom(32))
    front.rewrite = lambda path, body: same_size.encode() if path.endswith("/checkpoint") else body
    with pytest.raises(RollbackError, match="forked"):
        through.verifier.checkpoint()

    through.consents.give(**CONSENT)  # the log really grows by one
    sign_checkpoint(container)
    grown = forge(container, tenant.origin, seen.size + 1, os.urandom(32))
    front.rewrite = lambda path, body: grown.encode() if path.endswith("/checkpoint") else body
    with pytest.raises(RollbackError, match="not consistent"):
        through.verifier.checkpoint()
    assert through.verifier.latest() == seen  # nothing bad was remembered

    front.rewrite = None
    assert through.verifier.checkpoint().size == seen.size + 1  # the genuine one passes


def test_a_changed_consistency_proof_fails(front, through, container):
    through.consents.give(**CONSENT)
    sign_checkpoint(container)
    through.verifier.checkpoint()
    through.consents.give(**CONSENT)
    sign_checkpoint(container)
    front.rewrite = rewrite_json(
        "/proofs/consistency", lambda p: {**p, "proof": [flip(p["proof"][0]), *p["proof"][1:]]}
    )
    with pytest.raises(RollbackError, match="not consistent"):
        through.verifier.checkpoint()


def test_a_changed_inclusion_proof_or_entry_fails(front, through, container):
    consent = through.consents.give(**CONSENT)
    sign_checkpoint(container)
    index = consent["log_index"]
    genuine = through.verifier.entry(index)
    front.rewrite = rewrite_json(
        "/proofs/inclusion", lambda p: {**p, "proof": [flip(p["proof"][0]), *p["proof"][1:]]}
    )
    with pytest.raises(VerificationError, match="not in the checkpoint"):
        through.verifier.entry(index)
    front.rewrite = None
    changed = genuine.entry.replace(b"motion_imitation", b"motion_imitatioN")
    with pytest.raises(VerificationError, match="not in the checkpoint"):
        through.verifier.entry(index, entry=changed)

    def other_bytes(page):  # type: ignore[no-untyped-def]
        entry = page["entries"][0]
        return {**page, "entries": [{**entry, "entry": base64.b64encode(changed).decode()}]}

    front.rewrite = rewrite_json("/entries", other_bytes)
    with pytest.raises(VerificationError, match="not in the checkpoint"):
        through.verifier.entry(index)


def test_a_changed_receipt_or_one_not_on_the_log_fails(custody, container):
    first = custody.consents.give(**CONSENT)
    second = custody.consents.give(**{**CONSENT, "worker": "w-456"})
    sign_checkpoint(container)
    header, payload, signature = first["receipt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["purposes"] = ["commercial_reuse"]
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(VerificationError, match="receipt does not verify"):
        custody.verifier.receipt(f"{header}.{changed}.{signature}")
    with pytest.raises(VerificationError, match="not this consent's"):
        custody.verifier.consent({**first, "receipt": second["receipt"]})
    with pytest.raises(VerificationError, match="does not record this receipt"):
        custody.verifier.consent({**first, "log_index": second["log_index"]})
    assert custody.verifier.consent(first, on_log=False)["receipt_id"] == first["id"]


def erase_one(custody: Custody, container, clock) -> str:  # type: ignore[no-untyped-def]
    consent = custody.consents.give(**CONSENT)
    clip = custody.clips.register(
        content=os.urandom(16),
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    request = custody.erasure_requests.create("w-123", item=clip["id"])
    for _ in range(2):
        clock.advance(seconds=5)
        container.retention.sweep()
    erasure: str = custody.erasure_requests.get(request["id"])["erasures"][0]["id"]
    return erasure


def test_a_changed_certificate_fails(custody, container, clock):
    certificate = custody.erasures.certificate(erase_one(custody, container, clock))
    claims = custody.verifier.certificate(certificate)
    assert claims["reason"] == "erasure_requested"
    header, payload, signature = certificate.split(".")
    swapped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(VerificationError, match="certificate does not verify"):
        custody.verifier.certificate(f"{header}.{payload}.{swapped}")


def test_a_certificate_from_a_forked_log_fails(front, through, container, clock, tenant):
    certificate = through.erasures.certificate(erase_one(through, container, clock))
    seen = through.verifier.checkpoint()
    assert through.verifier.certificate(certificate)["certificate"]
    forked = forge(container, tenant.origin, seen.size, os.urandom(32))
    with pytest.raises(RollbackError, match="forked"):
        through.verifier.observe(tenant.log_id, forked)


def test_checkpoints_seen_are_kept_across_runs(front, tenant, container, tmp_path):
    seen = tmp_path / "seen.json"
    with Custody(front.url, tenant.api_key.token, log_id=tenant.log_id) as first:
        first.consents.give(**CONSENT)
        sign_checkpoint(container)
        old_note = first.logs.checkpoint()
        first.consents.give(**CONSENT)
        sign_checkpoint(container)
    with Custody(front.url, None, log_id=tenant.log_id, checkpoints=seen) as earlier:
        newest = earlier.verifier.checkpoint()
    assert json.loads(seen.read_text())[tenant.log_id]["tree_size"] == newest.size
    front.rewrite = lambda path, body: old_note.encode() if path.endswith("/checkpoint") else body
    with Custody(front.url, None, log_id=tenant.log_id, checkpoints=seen) as later:
        with pytest.raises(RollbackError):
            later.verifier.checkpoint()
        assert isinstance(later.verifier.memory, CheckpointMemory)


def test_webhooks_verify_and_changed_ones_do_not(custody, container, clock):
    with receiver() as hook:
        endpoint = custody.webhook_endpoints.add(hook.url)
        erasure = erase_one(custody, container, clock)
    assert len(hook.received) == 1
    received = hook.received[0]
    event = verify_webhook(received.body, received.headers, endpoint["secret"])
    assert event.type == "erasure.completed" and event.data["erasure"] == erasure
    assert event.id == received.headers["webhook-id"]

    changed = received.body.replace(erasure.encode(), b"era_aaaaaaaaaaaaaaaa")
    with pytest.raises(WebhookVerificationError, match="does not verify"):
        verify_webhook(changed, received.headers, endpoint["secret"])
    other_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(received.body, received.headers, other_secret)
    stale = {**received.headers, "webhook-timestamp": str(int(clock.now().timestamp()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(received.body, stale, endpoint["secret"])
    garbled = {**received.headers, "webhook-signature": "v1"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(received.body, garbled, endpoint["secret"])
    missing = {k: v for k, v in received.headers.items() if k != "webhook-id"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(received.body, missing, endpoint["secret"])


def test_a_report_verifies_and_changed_bytes_do_not(custody, container):
    custody.consents.give(**CONSENT)
    sign_checkpoint(container)
    report = custody.reports.worker_report(CONSENT["worker"])
    sign_checkpoint(container)
    data = custody.verifier.report(report)
    assert data["kind"] == "worker" and data["report"] == report.report_id
    with pytest.raises(VerificationError, match="SHA-256"):
        custody.verifier.report(dataclasses.replace(report, sha256="0" * 64))
    with pytest.raises(VerificationError, match="not a report.issued entry"):
        custody.verifier.report(dataclasses.replace(report, log_index=0))

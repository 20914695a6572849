"""Training-set manifests through the client: created, listed page by page, their status
after a withdrawal, and verified client-side (a changed one fails)."""

from __future__ import annotations

import pytest

from custody_client import VerificationError, verify_webhook
from tests.support.clients import CONSENT
from tests.support.receiver import receiver


def recorded(custody, clock, worker: str) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    consent = custody.consents.give(**{**CONSENT, "worker": worker})
    clip = custody.clips.register(
        content=worker.encode(),
        worker=worker,
        consent=consent["id"],
        data_categories=["body_motion", "face"],
        captured_at=clock.now(),
    )
    label = custody.derivations.record(
        parents=[clip["id"]],
        kind="label",
        content=f"label of {worker}".encode(),
        activity={"type": "annotation", "agent": "labeler-7"},
    )
    return consent["id"], [clip["id"], label["id"]]


def test_a_manifest_is_made_verified_listed_and_tainted_by_a_withdrawal(custody, container, clock):
    staying, kept = recorded(custody, clock, "w-1")
    leaving, gone = recorded(custody, clock, "w-2")
    clock.advance(seconds=2)  # the manifest's checkpoint may be signed at once
    manifest = custody.manifests.create([*kept, *gone, "0" * 64], "motion_imitation", name="run 1")
    assert (manifest["allowed"], manifest["refused"]) == (4, 1)
    assert [i["item"] for i in manifest["items"]] == [*kept, *gone]
    assert manifest["refused_items"][0]["asked"] == "0" * 64
    assert custody.manifests.get(manifest["id"])["manifest"] == manifest["manifest"]
    assert manifest["checkpoint"] is not None and manifest["erased_items"] == []
    claims = custody.verifier.manifest(manifest)
    assert claims["manifest"] == manifest["id"] and claims["purpose"] == "motion_imitation"
    assert custody.verifier.manifest(manifest["manifest"])["manifest"] == manifest["id"]

    assert custody.manifests.status(manifest["id"])["tainted"] is False
    custody.consents.withdraw(leaving)
    status = custody.manifests.status(manifest["id"])
    assert status["tainted"] is True and status["items"] == 4
    assert {a["item"] for a in status["affected"]} == set(gone)
    assert {a["state"] for a in status["affected"]} == {"withdrawn"}


def test_an_unsigned_manifest_is_signed_when_asked_again(custody, clock):
    _, items = recorded(custody, clock, "w-1")
    clock.advance(seconds=2)
    custody.consents.give(**CONSENT)  # this append takes the checkpoint of this second
    manifest = custody.manifests.create(items, "motion_imitation")
    assert manifest["manifest"] is None  # no checkpoint may be signed before a second passes
    with pytest.raises(VerificationError, match="no signed form"):
        custody.verifier.manifest(manifest)
    clock.advance(seconds=2)
    signed = custody.manifests.signed(manifest["id"])
    assert custody.verifier.manifest(signed)["manifest"] == manifest["id"]


def test_manifests_are_listed_page_by_page(custody, clock, app):
    if not any(
        rule.rule == "/v1/manifests" and "GET" in (rule.methods or ())
        for rule in app.url_map.iter_rules()
    ):
        pytest.skip("the service does not list manifests yet")
    _, items = recorded(custody, clock, "w-1")
    made = []
    for n in range(3):
        clock.advance(seconds=2)
        made.append(custody.manifests.create(items, "motion_imitation", name=f"run {n}")["id"])
    first = custody.manifests.list(limit=1)
    assert len(first.items) == 1 and first.next is not None
    assert [m["id"] for m in custody.iterate(custody.manifests.list, limit=1)] == made


def test_a_changed_manifest_fails(custody, clock):
    _, items = recorded(custody, clock, "w-1")
    clock.advance(seconds=2)
    manifest = custody.manifests.create(items, "motion_imitation")
    header, payload, signature = manifest["manifest"].split(".")
    swapped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(VerificationError):
        custody.verifier.manifest(f"{header}.{payload}.{swapped}")
    fewer = {**manifest, "items": manifest["items"][:1]}
    with pytest.raises(VerificationError, match="differ"):
        custody.verifier.manifest(fewer)


def test_a_tainted_manifest_is_told_by_a_webhook_that_verifies(custody, container, clock):
    with receiver() as hook:
        endpoint = custody.webhook_endpoints.add(hook.url)
        consent, items = recorded(custody, clock, "w-1")
        clock.advance(seconds=2)
        manifest = custody.manifests.create(items, "motion_imitation")
        custody.consents.withdraw(consent)
        container.manifest_watch.run()
        container.webhooks.deliver_due()
    events = [verify_webhook(r.body, r.headers, endpoint["secret"]) for r in hook.received]
    tainted = [e for e in events if e.type == "manifest.tainted"]
    assert tainted and tainted[0].data["manifest"] == manifest["id"]
    assert {i["item"] for e in tainted for i in e.data["items"]} == set(items)
    assert {i["state"] for e in tainted for i in e.data["items"]} == {"withdrawn"}

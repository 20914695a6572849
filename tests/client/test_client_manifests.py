"""Training-set manifests through the client: created, listed page by page, their status
after a withdrawal, and verified client-side (a changed one fails)."""

from __future__ import annotations

import importlib.util

import pytest

from custody_client import VerificationError
from tests.support.clients import CONSENT, sign_checkpoint

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ledger.manifests") is None,
    reason="training-set manifests are not in this checkout yet",
)


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
    manifest = custody.manifests.create([*kept, *gone, "0" * 64], "motion_imitation", name="run 1")
    assert (manifest["allowed"], manifest["refused"]) == (4, 1)
    assert [i["item"] for i in manifest["items"]] == [*kept, *gone]
    assert manifest["refused_items"][0]["asked"] == "0" * 64
    assert custody.manifests.get(manifest["id"])["manifest"] == manifest["manifest"]
    claims = custody.verifier.manifest(manifest)
    assert claims["manifest"] == manifest["id"] and claims["purpose"] == "motion_imitation"
    assert custody.verifier.manifest(manifest["manifest"])["manifest"] == manifest["id"]

    assert custody.manifests.status(manifest["id"])["tainted"] is False
    custody.consents.withdraw(leaving)
    status = custody.manifests.status(manifest["id"])
    assert status["tainted"] is True and status["items"] == 4
    assert {a["item"] for a in status["affected"]} == set(gone)
    assert {a["state"] for a in status["affected"]} == {"withdrawn"}

    for n in range(2):
        custody.manifests.create(kept, "motion_imitation", name=f"run {n + 2}")
    sign_checkpoint(container)
    listed = list(custody.iterate(custody.manifests.list, limit=1))
    assert len(listed) == 3 and len({m["id"] for m in listed}) == 3


def test_a_changed_manifest_fails(custody, clock):
    _, items = recorded(custody, clock, "w-1")
    manifest = custody.manifests.create(items, "motion_imitation")
    header, payload, signature = manifest["manifest"].split(".")
    swapped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(VerificationError):
        custody.verifier.manifest(f"{header}.{payload}.{swapped}")
    fewer = {**manifest, "items": manifest["items"][:1]}
    with pytest.raises(VerificationError, match="differ"):
        custody.verifier.manifest(fewer)

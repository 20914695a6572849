"""Training-set manifests: a signed consent snapshot of many items, checked again later."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from sqlalchemy import text

from tests.support.http import PROBLEM, log_entries, verify_with_jwcrypto
from tests.support.receiver import receiver, signed_correctly
from tests.support.worker import link, worker_headers
from verify.manifests import ManifestError, verify_manifest


@pytest.fixture
def training_set(api):  # type: ignore[no-untyped-def]
    """Two workers' clips, a label of each, and a clip whose consent lacks the purpose."""
    mine = api.consent()
    theirs = api.consent(worker="w-456")
    narrow = api.consent(worker="w-789", purposes=["benchmarking"])
    clip = api.clip(mine)
    other = api.clip(theirs, worker="w-456")
    label = api.derive([clip["id"]])
    other_label = api.derive([other["id"]])
    unfit = api.clip(narrow, worker="w-789")
    return {
        "consent": mine,
        "other_consent": theirs,
        "clip": clip,
        "other": other,
        "label": label,
        "other_label": other_label,
        "unfit": unfit,
    }


def issue(api, items, **extra):  # type: ignore[no-untyped-def]
    api.clock.advance(seconds=2)  # checkpoints are signed at most once a second
    response = api.post("/v1/manifests", {"items": items, "purpose": "motion_imitation", **extra})
    assert response.status_code == 201, response.json
    return response.json


def keys(client):  # type: ignore[no-untyped-def]
    return client.get("/.well-known/custody-keys").json


def test_a_manifest_lists_what_was_allowed_with_hashes_and_receipts_and_is_signed(
    api, client, tenant, training_set
):
    t = training_set
    asked = [t["clip"]["id"], t["label"]["id"], t["other"]["sha256"], t["unfit"]["id"], "0" * 64]
    made = issue(api, asked, name="run-2026-11-21")
    assert (made["allowed"], made["refused"], made["name"]) == (3, 2, "run-2026-11-21")
    allowed = {i["item"]: i for i in made["items"]}
    assert set(allowed) == {t["clip"]["id"], t["label"]["id"], t["other"]["id"]}
    assert allowed[t["other"]["id"]]["sha256"] == t["other"]["sha256"]
    receipt = api.get(f"/v1/consents/{t['consent']}").json["receipt"]
    assert allowed[t["label"]["id"]]["consents"] == [
        {"id": t["consent"], "receipt_sha256": hashlib.sha256(receipt.encode()).hexdigest()}
    ]
    refused = {r["asked"]: r for r in made["refused_items"]}
    assert refused[t["unfit"]["id"]]["reasons"] == ["purpose_not_covered"]
    assert refused["0" * 64] == {"asked": "0" * 64, "item": None, "reasons": ["unknown_item"]}
    # Signed: our verifier and an independent JWS library agree.
    claims = verify_manifest(made["manifest"], keys(client))
    assert verify_with_jwcrypto(made["manifest"], keys(client)) == claims
    assert claims["items"] == made["items"] and claims["checkpoint"] == made["checkpoint"]
    assert claims["entry"]["index"] == made["log_index"]
    # One log entry, holding every decision; allowed items are recorded as uses.
    entry = log_entries(client, tenant)[made["log_index"]]
    assert entry["type"] == "manifest.issued" and entry["data"]["manifest"] == made["id"]
    assert len(entry["data"]["decisions"]) == 5
    assert "run-2026" not in json.dumps(entry)  # the name stays off the log
    uses = api.get("/v1/workers/w-123/uses").json["uses"]
    assert {u["item"] for u in uses} == {t["clip"]["id"], t["label"]["id"]}
    assert api.get(f"/v1/manifests/{made['id']}").json == made


def test_status_shows_withdrawn_items_with_the_date(api, clock, training_set):
    t = training_set
    made = issue(api, [t["clip"]["id"], t["label"]["id"], t["other_label"]["id"]])
    clean = api.get(f"/v1/manifests/{made['id']}/status").json
    assert clean["tainted"] is False and clean["affected"] == [] and clean["items"] == 3
    clock.advance(days=2)
    withdrawn_at = clock.now()
    assert api.post(f"/v1/consents/{t['consent']}/withdraw", {}).status_code == 200
    clock.advance(hours=1)
    status = api.get(f"/v1/manifests/{made['id']}/status").json
    assert status["tainted"] is True
    affected = {a["item"]: a for a in status["affected"]}
    assert set(affected) == {t["clip"]["id"], t["label"]["id"]}
    assert affected[t["label"]["id"]]["state"] == "withdrawn"
    assert affected[t["label"]["id"]]["reasons"] == ["parent_withdrawn"]
    stamp = withdrawn_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert status["tainted_since"].startswith(stamp)
    assert affected[t["clip"]["id"]]["since"].startswith(stamp)


def test_status_shows_erased_and_expired_items(api, container, clock, training_set):
    t = training_set
    short = api.consent(worker="w-321", retention="P1D")
    brief = api.clip(short, worker="w-321")
    made = issue(api, [t["clip"]["id"], t["other"]["id"], brief["id"]])
    erased = api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"})
    assert erased.status_code == 202
    clock.advance(days=1, seconds=1)
    affected = {
        a["item"]: a for a in api.get(f"/v1/manifests/{made['id']}/status").json["affected"]
    }
    assert affected[t["other"]["id"]]["state"] == "erased"
    assert affected[brief["id"]]["state"] == "expired"
    assert affected[brief["id"]]["since"] == brief["delete_after"]
    assert t["clip"]["id"] not in affected


def test_an_erased_items_hash_is_forgotten_by_the_stored_manifest(
    api, client, container, training_set
):
    t = training_set
    made = issue(api, [t["clip"]["id"], t["other"]["id"]])
    assert api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"}).status_code == 202
    container.retention.sweep()
    kept = api.get(f"/v1/manifests/{made['id']}").json
    assert kept["manifest"] is None and kept["erased_items"] == [t["other"]["id"]]
    hashes = {i["item"]: i["sha256"] for i in kept["items"]}
    assert hashes == {t["clip"]["id"]: t["clip"]["sha256"], t["other"]["id"]: None}
    with container.db.session() as session:
        stored = session.execute(text("SELECT content, token FROM manifests")).one()
    assert t["other"]["sha256"] not in str(stored.content) and stored.token is None
    # The copy the platform was given still verifies.
    assert verify_manifest(made["manifest"], keys(client))["manifest"] == made["id"]
    affected = api.get(f"/v1/manifests/{made['id']}/status").json["affected"]
    assert [(a["item"], a["state"]) for a in affected] == [(t["other"]["id"], "erased")]


def test_the_platform_is_told_once_when_a_manifest_item_is_withdrawn(
    api, container, clock, training_set
):
    t = training_set
    with receiver() as hook:
        secret = api.post("/v1/webhook-endpoints", {"url": hook.url}).json["secret"]
        made = issue(api, [t["clip"]["id"], t["label"]["id"], t["other"]["id"]], name="run-7")
        untouched = issue(api, [t["other"]["id"]])
        also = issue(api, [t["clip"]["id"]])  # another run on the same clip
        assert container.manifest_watch.run() == 0
        api.post(f"/v1/consents/{t['consent']}/withdraw", {})
        assert container.manifest_watch.run() == 3
        assert container.manifest_watch.run() == 0  # once per item
        container.webhooks.deliver_due()
        assert len(hook.received) == 2
        assert all(signed_correctly(secret, sent) for sent in hook.received)
        events = {e["data"]["manifest"]: e for e in (json.loads(r.body) for r in hook.received)}
        event = events[made["id"]]
    assert [i["item"] for i in events[also["id"]]["data"]["items"]] == [t["clip"]["id"]]
    assert event["type"] == "manifest.tainted"
    assert event["data"]["manifest"] == made["id"] and event["data"]["name"] == "run-7"
    assert {i["item"] for i in event["data"]["items"]} == {t["clip"]["id"], t["label"]["id"]}
    assert {i["state"] for i in event["data"]["items"]} == {"withdrawn"}
    listed = api.get(f"/v1/manifests/{made['id']}").json
    assert listed["tainted_since"] == event["data"]["tainted_since"]
    assert api.get(f"/v1/manifests/{untouched['id']}").json["tainted_since"] is None


def test_an_erasure_of_a_manifest_item_is_told_too(api, container, training_set):
    t = training_set
    with receiver() as hook:
        secret = api.post("/v1/webhook-endpoints", {"url": hook.url}).json["secret"]
        made = issue(api, [t["clip"]["id"], t["other"]["id"], t["other_label"]["id"]])
        erased = api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"})
        assert erased.status_code == 202
        assert container.manifest_watch.run() == 2  # claimed for erasure: checks deny now
        container.webhooks.deliver_due()
        tainted = [json.loads(r.body) for r in hook.received if b"manifest.tainted" in r.body]
        assert len(tainted) == 1 and signed_correctly(secret, hook.received[0])
    items = {i["item"]: i["state"] for i in tainted[0]["data"]["items"]}
    assert items == {t["other"]["id"]: "erased", t["other_label"]["id"]: "erased"}
    assert tainted[0]["data"]["manifest"] == made["id"]


def _tampered(token: str, change) -> str:  # type: ignore[no-untyped-def]
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    change(claims)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{signature}"


def test_a_changed_manifest_does_not_verify(api, client, training_set):
    made = issue(api, [training_set["clip"]["id"], training_set["unfit"]["id"]])
    published = keys(client)
    token = made["manifest"]
    forged = _tampered(token, lambda c: c["items"].pop())
    with pytest.raises(ManifestError, match="signature"):
        verify_manifest(forged, published)
    with pytest.raises(ManifestError, match="not a published statement key"):
        verify_manifest(
            token, {"keys": [k for k in published["keys"] if k["purpose"] != "statement"]}
        )
    with pytest.raises(ManifestError):
        verify_manifest(token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB"), published)


def test_the_offline_check_catches_a_manifest_whose_proof_or_entry_was_swapped(
    api, client, container, training_set
):
    """Re-signed with the real key (as a dishonest operator could), a manifest whose lists
    no longer match its log entry still fails: the entry and its proof bind them."""
    from ledger.consent.receipts import sign_receipt

    made = issue(api, [training_set["clip"]["id"], training_set["label"]["id"]])
    claims = verify_manifest(made["manifest"], keys(client))
    with container.db.session() as session:
        signer = container.keys.statement_signer(session)

    def resigned(change) -> str:  # type: ignore[no-untyped-def]
        copy = json.loads(json.dumps(claims))
        change(copy)
        return sign_receipt(signer, copy, typ="custody-manifest+jws")

    published = keys(client)
    with pytest.raises(ManifestError, match="does not match"):
        verify_manifest(resigned(lambda c: c["items"].pop()), published)
    with pytest.raises(ManifestError, match="not in the checkpoint"):
        verify_manifest(resigned(lambda c: c["entry"].update(index=0)), published)
    with pytest.raises(ManifestError, match="disagree"):
        verify_manifest(resigned(lambda c: c["checkpoint"].update(tree_size=1)), published)


def test_manifests_verify_from_the_command_line(
    api, client, training_set, tmp_path, custody_offline
):
    made = issue(api, [training_set["clip"]["id"]])
    (tmp_path / "keys.json").write_text(json.dumps(keys(client)))
    (tmp_path / "good.jws").write_text(made["manifest"])
    (tmp_path / "bad.jws").write_text(_tampered(made["manifest"], lambda c: c.update(purpose="x")))
    keys_arg = ["--keys", str(tmp_path / "keys.json")]
    good = custody_offline("manifests", "verify", str(tmp_path / "good.jws"), *keys_arg)
    assert made["id"] in good.stdout and "1 allowed" in good.stdout
    bad = custody_offline("manifests", "verify", str(tmp_path / "bad.jws"), *keys_arg, check=False)
    assert bad.returncode == 1 and "signature" in bad.stderr


def test_another_tenant_sees_no_manifest(api, client, other, training_set):
    made = issue(api, [training_set["clip"]["id"]])
    theirs = {"Authorization": f"Bearer {other.api_key.token}"}
    for path in (f"/v1/manifests/{made['id']}", f"/v1/manifests/{made['id']}/status"):
        response = client.get(path, headers=theirs)
        assert response.status_code == 404 and response.mimetype == PROBLEM
    worker = worker_headers(client, link(api))
    assert client.get(f"/v1/manifests/{made['id']}", headers=worker).status_code == 403
    # Their manifest of our item's id finds nothing of ours.
    response = client.post(
        "/v1/manifests",
        json={"items": [training_set["clip"]["id"]], "purpose": "motion_imitation"},
        headers=theirs,
    )
    assert response.json["allowed"] == 0
    assert response.json["refused_items"][0]["reasons"] == ["unknown_item"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"items": [], "purpose": "motion_imitation"}, "items"),
        ({"items": ["x"] * 10_001, "purpose": "motion_imitation"}, "items"),
        ({"items": ["not an id"], "purpose": "motion_imitation"}, "item"),
        ({"items": ["clp_aaaaaaaa"], "purpose": "flying"}, "purpose"),
        ({"items": ["clp_aaaaaaaa"], "purpose": "motion_imitation", "name": "n" * 201}, "name"),
        ({"items": ["clp_aaaaaaaa"], "purpose": "motion_imitation", "extra": 1}, "extra"),
        (
            {"items": ["clp_aaaaaaaa"], "purpose": "motion_imitation", "recipient": "A B"},
            "recipient",
        ),
    ],
)
def test_bad_manifests_are_refused_and_leave_nothing(api, body, field):
    size = api.size()
    response = api.post("/v1/manifests", body)
    assert response.status_code in (400, 422) and response.mimetype == PROBLEM
    assert field in json.dumps(response.json["errors"])
    assert api.size() == size

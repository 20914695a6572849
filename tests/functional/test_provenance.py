"""Clips, derived items, lineage and the use check, over HTTP, end to end."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from api.app import create_app
from api.container import build
from ledger.clock import format_ts
from ledger.consent.consents import Actor
from ledger.errors import NotFound
from ledger.items.items import ClipRequest
from ledger.log.verification import verify_database
from ledger.models import LogEntry
from tests.support import s3
from tests.support.http import MINIMAL, PROBLEM, log_entries
from tests.support.platform import Api


def test_the_whole_flow(api, client, container, tenant):
    consent = api.consent()
    clip = api.clip(consent, content=b"clip bytes")
    assert clip["id"].startswith("clp_") and clip["created"] is True
    assert clip["worker"].startswith("wkr_") and clip["consent"] == consent
    again = api.clip(consent, content=b"clip bytes", expect=200)
    assert again["id"] == clip["id"] and again["created"] is False
    label = api.derive([clip["id"]])
    assert label["id"].startswith("itm_") and label["kind"] == "label"

    allowed = api.check(clip["id"])
    assert allowed["decision"] == "allow" and allowed["reasons"] == []
    assert allowed["consents"] == [consent]
    by_hash = api.check(hashlib.sha256(b"clip bytes").hexdigest())
    assert by_hash["decision"] == "allow" and by_hash["item"] == clip["id"]
    assert api.check(label["id"])["decision"] == "allow"

    withdrawn = api.post(f"/v1/consents/{consent}/withdraw", {})
    assert withdrawn.status_code == 200, withdrawn.json
    denied = api.check(clip["id"])
    assert denied["decision"] == "deny" and denied["reasons"] == ["withdrawn"]
    assert denied["log_index"] > withdrawn.json["log_index"]
    assert api.check(label["id"])["reasons"] == ["parent_withdrawn"]

    entries = log_entries(client, tenant)
    types = [e["type"] for e in entries]
    for kind in ("consent.given", "clip.registered", "derivation.recorded", "use.decided"):
        assert kind in types
    decided = [e for e in entries if e["type"] == "use.decided"]
    assert decided[-1]["data"] == {
        "item": label["id"],
        "purpose": "motion_imitation",
        "recipient": "platform",
        "decision": "deny",
        "reasons": ["parent_withdrawn"],
        "by": tenant.api_key.key_id,
    }
    assert decided[-1]["seq"] == api.check(label["id"])["log_index"] - 1
    raw = json.dumps(entries)
    assert "w-123" not in raw and "labeler-7" not in raw
    assert hashlib.sha256(b"clip bytes").hexdigest() not in raw  # only salted commitments
    [report] = verify_database(container.db, tenant.tenant_id)
    assert report.ok, report.error


def test_clip_delete_after_follows_retention_and_expires(api, clock):
    consent = api.consent(retention="PT45S")
    clip = api.clip(consent)
    assert clip["delete_after"] == format_ts(clock.now() + timedelta(seconds=45))
    dated = api.clip(api.consent(retention="until:2026-03-01"))
    assert dated["delete_after"] == "2026-03-01T00:00:00.000000Z"
    open_ended = api.clip(api.consent(retention="until_project_end"))
    assert open_ended["delete_after"] is None
    label = api.derive([clip["id"], dated["id"], open_ended["id"]])
    assert label["delete_after"] == clip["delete_after"]  # the earliest wins
    clock.advance(46)
    assert api.check(clip["id"])["reasons"] == ["retention_expired"]
    assert api.check(label["id"])["reasons"] == ["retention_expired", "parent_retention_expired"]
    assert api.check(open_ended["id"])["decision"] == "allow"
    # A clip whose term already ended cannot be registered.
    late = api.clip(consent, captured_at=format_ts(clock.now() - timedelta(minutes=1)), expect=400)
    assert "retention term" in late["detail"]


def test_category_not_covered_is_refused_with_the_reason(api):
    consent = api.consent()
    before = api.size()
    refused = api.clip(consent, data_categories=["body_motion", "voice"], expect=400)
    assert "category_not_covered" in refused["detail"] and "voice" in refused["detail"]
    assert api.size() == before


@pytest.mark.parametrize(
    ("changes", "status", "needle"),
    [
        ({"sha256": "abc"}, 400, "64 hex"),
        ({"sha256": "g" * 64}, 400, "64 hex"),
        ({"data_categories": ["body_motion", "tattoos"]}, 422, "data_categories"),
        ({"data_categories": []}, 422, "data_categories"),
        ({"latitude": 6.45}, 422, "latitude"),
        ({"location_granularity": "gps"}, 422, "location_granularity"),
        ({"location_granularity": "city", "location": "6.45, 3.39"}, 400, "coordinates"),
        ({"location": "Lagos"}, 400, "granularity"),
        ({"captured_at": "2026-01-01T00:00:00"}, 422, "captured_at"),
        ({"captured_at": "2027-01-01T00:00:00Z"}, 400, "future"),
        ({"consent": "con_doesnotexist1"}, 400, "no consent"),
        ({"worker": "w-999"}, 400, "another worker"),
        ({"duration_ms": 0}, 400, "duration_ms"),
        ({"device": "my phone, the red one"}, 400, "device"),
    ],
)
def test_bad_clips_are_problems_and_leave_no_trace(api, changes, status, needle):
    consent = api.consent()
    api.consent(worker="w-999")
    before = api.size()
    changes = dict(changes)
    body = api.clip(changes.pop("consent", consent), expect=status, **changes)
    assert needle in json.dumps(body)
    assert body["status"] == status
    assert api.size() == before


def test_clip_rules_against_state(api, client, other, clock):
    consent = api.consent()
    content = os.urandom(16)
    first = api.clip(consent, content=content)
    # Same content, another consent: a conflict, not a second clip.
    second = api.consent(data_categories=["body_motion", "face", "voice"])
    assert "already registered" in api.clip(second, content=content, expect=409)["detail"]
    # A consent of another tenant is not found here.
    theirs = Api(client, other, clock).consent()
    assert "no consent" in api.clip(theirs, expect=400)["detail"]
    # Withdrawn and superseded consents take no new clips.
    api.post(f"/v1/consents/{consent}/withdraw", {})
    assert "withdrawn" in api.clip(consent, expect=409)["detail"]
    # A retried registration still answers as the first one did.
    assert api.clip(consent, content=content, expect=200)["id"] == first["id"]
    newer = api.post("/v1/consents", {**MINIMAL, "amends": second}).json["id"]
    assert newer in api.clip(second, expect=409)["detail"]


def test_derivations_lineage_and_cycles(api, client, other, clock):
    consent = api.consent()
    clip = api.clip(consent)
    label_bytes = os.urandom(8)
    label = api.derive([clip["id"]], content=label_bytes)
    feature = api.derive([label["id"]], kind="feature_file")
    dataset = api.derive([feature["id"], clip["id"]], kind="dataset_membership")
    same = api.derive([clip["id"]], content=label_bytes, expect=200)
    assert same["id"] == label["id"] and same["created"] is False

    graph = api.get(f"/v1/items/{feature['id']}/lineage").json
    assert {n["id"] for n in graph["nodes"]} == {
        clip["id"],
        label["id"],
        feature["id"],
        dataset["id"],
    }
    assert {(e["entity"], e["was_derived_from"]) for e in graph["edges"]} == {
        (label["id"], clip["id"]),
        (feature["id"], label["id"]),
        (dataset["id"], feature["id"]),
        (dataset["id"], clip["id"]),
    }

    before = api.size()
    # The label again, now claimed to derive from its own descendant: a cycle.
    cycle = api.derive([dataset["id"]], content=label_bytes, expect=400)
    assert "cycle" in cycle["detail"]
    assert "cycle" in api.derive([label["id"]], content=label_bytes, expect=400)["detail"]
    missing = api.derive(["itm_doesnotexist1"], expect=400)
    assert "does not exist" in missing["detail"]
    their_clip = Api(client, other, clock)
    theirs = their_clip.clip(their_clip.consent())
    foreign = api.derive([theirs["id"]], expect=400)
    assert foreign["detail"] == missing["detail"].replace("itm_doesnotexist1", theirs["id"])
    wider = api.derive([clip["id"]], data_categories=["voice"], expect=400)
    assert "voice" in wider["detail"]
    assert api.derive([clip["id"], clip["id"]], expect=400)["status"] == 400
    assert api.derive([clip["id"]], kind="poem", expect=422)["status"] == 422
    assert api.size() == before
    assert api.get(f"/v1/items/{theirs['id']}").status_code == 404
    assert api.get(f"/v1/items/{theirs['id']}/lineage").status_code == 404


def test_effective_consent_is_the_intersection_of_the_parents(api):
    first = api.consent(
        purposes=["motion_imitation", "benchmarking"],
        recipients="named_third_parties",
        parties=["acme-robotics"],
    )
    second = api.consent(
        purposes=["motion_imitation", "action_recognition"],
        data_categories=["body_motion"],
        recipients="any",
    )
    a = api.clip(first)
    b = api.clip(second, data_categories=["body_motion"])
    mixed = api.derive([a["id"], b["id"]], kind="dataset_membership")
    redacted = api.derive([a["id"], b["id"]], kind="redacted_copy", data_categories=["body_motion"])

    assert api.check(mixed["id"])["reasons"] == ["category_not_covered"]  # b has no face
    assert api.check(redacted["id"])["decision"] == "allow"
    assert set(api.check(redacted["id"])["consents"]) == {first, second}
    assert api.check(redacted["id"], "benchmarking")["reasons"] == ["purpose_not_covered"]
    assert api.check(redacted["id"], recipient="acme-robotics")["decision"] == "allow"
    assert api.check(redacted["id"], recipient="other-lab")["reasons"] == ["recipient_not_allowed"]
    # b itself is never released: its consent does not let faces be kept
    assert api.check(b["id"], recipient="other-lab")["reasons"] == ["redaction_required"]
    api.post(f"/v1/consents/{second}/withdraw", {"purposes": ["motion_imitation"]})
    assert api.check(redacted["id"])["reasons"] == ["parent_withdrawn"]
    assert api.check(a["id"])["decision"] == "allow"


def test_unknown_and_malformed_items(api, client, other, clock):
    unknown = api.check("clp_doesnotexist1")
    assert unknown == {
        "item": None,
        "asked": "clp_doesnotexist1",
        "decision": "deny",
        "reasons": ["unknown_item"],
        "consents": [],
        "log_index": unknown["log_index"],
    }
    assert api.check("ab" * 32)["reasons"] == ["unknown_item"]
    theirs = Api(client, other, clock)
    their_clip = theirs.clip(theirs.consent())
    assert api.check(their_clip["id"])["reasons"] == ["unknown_item"]  # never theirs
    before = api.size()
    for body, status in [
        ({"item": "not an id", "purpose": "motion_imitation"}, 400),
        ({"item": "clp_x1234567", "purpose": "mind_reading"}, 422),
        ({"item": "clp_x1234567", "purpose": "motion_imitation", "recipient": "Bad Name"}, 400),
        ({"purpose": "motion_imitation"}, 422),
    ]:
        response = api.post("/v1/checks", body)
        assert response.status_code == status and response.mimetype == PROBLEM, body
    assert api.size() == before


def test_batch_check_is_one_entry_with_every_decision(api, client, tenant):
    consent = api.consent()
    clips = [api.clip(consent)["id"] for _ in range(5)]
    api.post(f"/v1/consents/{api.consent(worker='w-2')}/withdraw", {})
    asked = [*clips, "clp_doesnotexist1"]
    response = api.post("/v1/checks/batch", {"items": asked, "purpose": "motion_imitation"})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["allowed"], body["denied"]) == (5, 1)
    assert [r["asked"] for r in body["results"]] == asked
    assert {r["log_index"] for r in body["results"]} == {body["log_index"]}
    entry = log_entries(client, tenant)[body["log_index"]]
    assert entry["type"] == "uses.decided"
    assert [d["item"] for d in entry["data"]["decisions"]] == [*clips, None]
    assert entry["data"]["decisions"][-1]["reasons"] == ["unknown_item"]
    before = api.size()
    too_many = api.post("/v1/checks/batch", {"items": [], "purpose": "motion_imitation"})
    assert too_many.status_code == 422
    bad = api.post("/v1/checks/batch", {"items": [clips[0], "??"], "purpose": "motion_imitation"})
    assert bad.status_code == 400 and api.size() == before


def test_uses_list_the_allowed_checks_of_a_workers_items(api, client, other, clock):
    consent = api.consent()
    clip = api.clip(consent)
    label = api.derive([clip["id"]])
    api.check(clip["id"])
    api.check(label["id"], "benchmarking")  # denied: not a use
    api.check(label["id"], recipient="platform")
    batch = api.post("/v1/checks/batch", {"items": [clip["id"]], "purpose": "motion_imitation"})
    page = api.get("/v1/workers/w-123/uses").json
    assert page["worker"] == clip["worker"] and page["next"] is None
    assert [(u["item"], u["kind"], u["purpose"]) for u in page["uses"]] == [
        (clip["id"], "clip", "motion_imitation"),
        (label["id"], "label", "motion_imitation"),
        (clip["id"], "clip", "motion_imitation"),
    ]
    assert page["uses"][-1]["log_index"] == batch.json["log_index"]
    by_pseudonym = api.get(f"/v1/workers/{clip['worker']}/uses").json
    assert by_pseudonym["uses"] == page["uses"]
    first = api.get("/v1/workers/w-123/uses?limit=2").json
    rest = api.get(f"/v1/workers/w-123/uses?limit=2&after={first['next']}").json
    assert first["uses"] + rest["uses"] == page["uses"] and rest["next"] is None
    assert api.get("/v1/workers/w-123/uses?after=nonsense").status_code == 422
    assert api.get("/v1/workers/w-nobody/uses").status_code == 404
    assert Api(client, other, clock).get("/v1/workers/w-123/uses").status_code == 404


def test_a_wider_policy_needs_renewed_consent(api):
    published = api.post(
        "/v1/policies",
        {"version": "2026-04", "url": MINIMAL["policy_url"], "purposes": ["motion_imitation"]},
    )
    assert published.status_code == 201, published.json
    too_wide = api.post("/v1/consents", {**MINIMAL, "purposes": ["commercial_reuse"]})
    assert too_wide.status_code == 400 and "does not ask for" in too_wide.json["detail"]
    wrong_url = api.post("/v1/consents", {**MINIMAL, "policy_url": "https://elsewhere.example/"})
    assert wrong_url.status_code == 400
    old = api.consent()
    clip = api.clip(old)
    assert api.check(clip["id"], "commercial_reuse")["reasons"] == ["purpose_not_covered"]
    wider = api.post(
        "/v1/policies",
        {
            "version": "2026-09",
            "url": MINIMAL["policy_url"],
            "purposes": ["motion_imitation", "commercial_reuse"],
        },
    )
    assert wider.status_code == 201
    assert api.post("/v1/policies", {**wider.json, "published_at": None}).status_code == 422
    again = {"version": "2026-09", "url": MINIMAL["policy_url"], "purposes": ["benchmarking"]}
    assert api.post("/v1/policies", again).status_code == 409
    assert api.check(clip["id"], "commercial_reuse")["reasons"] == [
        "purpose_not_covered",
        "renewal_required",
    ]
    renewed = api.consent(
        amends=old, policy_version="2026-09", purposes=["motion_imitation", "commercial_reuse"]
    )
    decision = api.check(clip["id"], "commercial_reuse")
    assert decision["decision"] == "allow" and decision["consents"] == [renewed]
    assert [p["version"] for p in api.get("/v1/policies").json["policies"]] == [
        "2026-04",
        "2026-09",
    ]


def test_content_round_trip_through_the_vault(api, container, settings):
    consent = api.consent(purposes=["motion_imitation", "benchmarking"])
    content = os.urandom(1_500_000)  # above the 1 MiB limit of JSON bodies
    clip = api.clip(consent, content=content)
    path = f"/v1/clips/{clip['id']}/content"
    before = api.size()
    wrong_bytes = content[:-1] + bytes([content[-1] ^ 1])  # always differs from the real one
    wrong = api.client.put(path, data=wrong_bytes, headers=api.headers)
    assert wrong.status_code == 400 and "registered" in wrong.json["detail"]
    assert api.size() == before
    assert not any(settings.vault_folder.rglob(clip["id"]))
    missing = api.get(f"{path}?purpose=motion_imitation")
    assert missing.status_code == 404

    stored = api.client.put(path, data=content, headers=api.headers)
    assert stored.status_code == 200, stored.json
    assert stored.json["content_stored"] is True and stored.json["content_size"] == len(content)
    size = api.size()
    again = api.client.put(path, data=content, headers=api.headers)  # a retried upload
    assert again.status_code == 200 and again.json == stored.json
    assert api.size() == size  # one content.stored on the log, however often it is sent
    [blob] = settings.vault_folder.rglob(clip["id"])
    assert content[:64] not in blob.read_bytes()

    served = api.get(f"{path}?purpose=motion_imitation")
    assert served.status_code == 200 and served.data == content
    assert served.headers["Repr-Digest"].startswith("sha-256=:")
    assert int(served.headers["X-Custody-Log-Index"]) == api.size() - 1
    denied = api.get(f"{path}?purpose=commercial_reuse")
    assert denied.status_code == 403 and "purpose_not_covered" in denied.json["detail"]
    assert api.get(path).status_code == 422  # a purpose must be given

    damaged = bytearray(blob.read_bytes())
    damaged[100] ^= 1
    blob.write_bytes(bytes(damaged))
    broken = api.get(f"{path}?purpose=motion_imitation")
    assert broken.status_code == 503 and broken.mimetype == PROBLEM


def test_withdrawal_by_the_worker_is_scoped_to_that_worker(api, container, tenant):
    mine = api.consent()
    theirs = api.consent(worker="w-other")
    clip = api.clip(mine)
    me = Actor("worker", clip["worker"])
    with pytest.raises(NotFound):
        container.consents.withdraw(tenant.tenant_id, theirs, None, me)
    container.consents.withdraw(tenant.tenant_id, mine, ["motion_imitation"], me)
    assert api.check(clip["id"])["reasons"] == ["withdrawn"]
    last = log_entries(api.client, tenant)[-2]
    assert last["type"] == "consent.withdrawn" and last["data"]["by"] == "worker"


def test_withdrawal_counts_for_every_check_after_it(api, container, tenant):
    """Checks racing a withdrawal: in log order, every decision after it denies."""
    consent = api.consent()
    clip = api.clip(consent)
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def checker() -> None:
        while not stop.is_set():
            d = container.checks.check(
                tenant.tenant_id, clip["id"], "motion_imitation", "platform", None
            )
            results.append((d.log_index, d.decision))

    threads = [threading.Thread(target=checker) for _ in range(4)]
    for t in threads:
        t.start()
    while len(results) < 20:
        threading.Event().wait(0.01)
    withdrawal = container.consents.withdraw(
        tenant.tenant_id, consent, None, Actor("platform", tenant.api_key.key_id)
    )
    while len([r for r in results if r[0] > withdrawal.event.log_index]) < 20:
        threading.Event().wait(0.01)
    stop.set()
    for t in threads:
        t.join()
    for index, decision in results:
        assert decision == ("allow" if index < withdrawal.event.log_index else "deny")
    with container.db.read() as session:
        assert session.query(LogEntry).count() >= len(results)


def test_a_withdrawal_in_another_process_reaches_cached_decisions(api, container, settings, tenant):
    """Each process caches what decisions read, per log epoch; a change made through
    another process's appender must still count for the very next check here."""
    consent = api.consent()
    clip = api.clip(consent)
    label = api.derive([clip["id"]])
    other = build(settings, clock=container.clock, migrate=False)
    try:
        for _ in range(2):  # the second round is answered from the cache
            assert api.check(clip["id"])["decision"] == "allow"
            assert api.check(label["id"])["decision"] == "allow"
        other.consents.withdraw(
            tenant.tenant_id, consent, ["motion_imitation"], Actor("platform", "key_x12345678")
        )
        assert api.check(clip["id"])["reasons"] == ["withdrawn"]
        assert api.check(label["id"])["reasons"] == ["parent_withdrawn"]
        # A new item registered elsewhere is found here at once, too.
        fresh = other.items.register_clip(
            tenant.tenant_id,
            ClipRequest(
                sha256="ab" * 32,
                worker="w-123",
                consent=api.consent(purposes=["benchmarking"]),
                data_categories=["body_motion"],
                captured_at=container.clock.now(),
            ),
        ).item
        assert api.check(fresh.id, "benchmarking")["decision"] == "allow"
    finally:
        other.close()


def test_content_on_s3_compatible_storage(api, container, settings, s3_endpoint, monkeypatch):
    """The same upload and download through the API with the vault on a real S3 server."""
    for name, value in s3.ENVIRONMENT.items():  # boto3's standard credential chain
        monkeypatch.setenv(name, value)
    bucket = f"custody-{os.urandom(6).hex()}"
    s3.client(s3_endpoint).create_bucket(Bucket=bucket)
    on_s3 = replace(settings, s3_bucket=bucket, s3_endpoint_url=s3_endpoint, s3_prefix="vault")
    other = build(on_s3, clock=container.clock, migrate=False)
    try:
        client = create_app(container=other).test_client()
        consent = api.consent()
        content = os.urandom(300_000)
        clip = api.clip(consent, content=content)
        path = f"/v1/clips/{clip['id']}/content"
        stored = client.put(path, data=content, headers=api.headers)
        assert stored.status_code == 200, stored.json
        keys = [o["Key"] for o in s3.client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [f"vault/{api.tenant.tenant_id}/{clip['id']}"]
        served = client.get(f"{path}?purpose=motion_imitation", headers=api.headers)
        assert served.status_code == 200 and served.data == content
        assert not any(settings.vault_folder.rglob(clip["id"]))  # nothing on the local disk
    finally:
        other.close()


def test_parents_added_to_a_known_item_count_at_once(api):
    """Recording known content with another parent narrows it, even after it was checked."""
    wide = api.clip(api.consent(purposes=["motion_imitation", "benchmarking"]))
    narrow = api.clip(api.consent(purposes=["motion_imitation"]))
    label_bytes = os.urandom(8)
    label = api.derive([wide["id"]], content=label_bytes)
    assert api.check(label["id"], "benchmarking")["decision"] == "allow"
    same = api.derive([narrow["id"]], content=label_bytes, expect=200)
    assert same["id"] == label["id"]
    assert api.check(label["id"], "benchmarking")["reasons"] == ["purpose_not_covered"]
    assert api.check(label["id"])["consents"] == sorted(
        [api.get(f"/v1/clips/{wide['id']}").json["consent"], narrow["consent"]]
    )

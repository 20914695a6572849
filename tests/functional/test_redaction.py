"""Redaction over HTTP: jobs run by the runner, the redacted copy as a derived item with its
audit record's hash on the log, consent-required redaction, erasure cascading to the copy,
and bad input failing cleanly — on SQLite with the local vault, and on PostgreSQL with the
vault on a real S3 server."""

from __future__ import annotations

import hashlib
import re
import threading

import cv2
import numpy as np
import pytest
import rfc8785
from sqlalchemy import select

from ledger.items.items import audit_name, object_name
from ledger.log.verification import verify_database
from redaction.jobs import LEASE, MAX_ATTEMPTS, output_id
from redaction.models import Redaction
from tests.support.http import PROBLEM, auth, log_entries
from tests.support.media import ASTRONAUT_FACE, astronaut_png, covered, face_video
from tests.support.platform import Api
from tests.support.s3 import vault_settings


@pytest.fixture
def settings(tmp_path, db_url, request, monkeypatch):  # type: ignore[no-untyped-def]
    return vault_settings(tmp_path, db_url, request, monkeypatch)


@pytest.fixture
def still(tmp_path) -> bytes:  # type: ignore[no-untyped-def]
    return astronaut_png(tmp_path / "still.png").read_bytes()


def stored(api: Api, content: bytes, consent: str | None = None, **changes) -> dict:  # type: ignore[no-untyped-def,type-arg]
    clip = api.clip(consent or api.consent(), content=content, **changes)
    put = api.client.put(f"/v1/clips/{clip['id']}/content", data=content, headers=api.headers)
    assert put.status_code == 200, put.json
    return clip


def redact(api: Api, item: str, expect: int = 202, **body) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = api.post("/v1/redactions", {"item": item, **body})
    assert response.status_code == expect, response.json
    return response.json


def entries_of(api: Api, *types: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in log_entries(api.client, api.tenant) if e["type"] in types]


def content(api: Api, redaction: str, purpose: str = "motion_imitation"):  # type: ignore[no-untyped-def]
    return api.get(f"/v1/redactions/{redaction}/content?purpose={purpose}")


def test_a_redaction_is_a_derived_item_with_its_audit_hash_on_the_log(api, container, still):
    clip = stored(api, still)
    job = redact(api, clip["id"], fill="pixelate")
    assert job["status"] == "queued" and job["output"] is None and job["fill"] == "pixelate"
    assert api.get(f"/v1/redactions/{job['id']}").json["status"] == "queued"  # not in the request

    assert container.redactions.run_due() == 1
    done = api.get(f"/v1/redactions/{job['id']}").json
    assert done["status"] == "done", done
    assert done["summary"]["boxes"]["detected"] == 1 and done["summary"]["frames"] == 1
    copy = api.get(f"/v1/items/{done['output']}").json
    assert copy["kind"] == "redacted_copy" and copy["content_stored"]
    assert copy["delete_after"] == clip["delete_after"]  # inherited from the clip
    lineage = api.get(f"/v1/items/{copy['id']}/lineage").json
    assert lineage["edges"] == [{"entity": copy["id"], "was_derived_from": clip["id"]}]

    # The bytes: a PNG with the face gone, hashing to the copy's registered sha256.
    response = content(api, job["id"])
    assert response.status_code == 200, response.json
    assert hashlib.sha256(response.data).hexdigest() == copy["sha256"]
    image = cv2.imdecode(np.frombuffer(response.data, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    original = cv2.imdecode(np.frombuffer(still, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(image[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2]).mean() > 10

    # The audit record: its RFC 8785 form is what the log's hash commits to.
    audit = api.get(f"/v1/redactions/{job['id']}/audit").json
    assert audit["input"]["sha256"] == hashlib.sha256(still).hexdigest()
    assert audit["output"]["sha256"] == copy["sha256"]
    digest = hashlib.sha256(rfc8785.dumps(audit)).hexdigest()
    assert digest == done["audit_sha256"]
    [requested] = entries_of(api, "redaction.requested")
    [completed] = entries_of(api, "redaction.completed")
    [derived] = [
        e for e in entries_of(api, "derivation.recorded") if e["data"]["item"] == copy["id"]
    ]
    assert requested["data"] == {
        "redaction": job["id"],
        "item": clip["id"],
        "mode": "faces",
        "fill": "pixelate",
        "reason": "requested",
    }
    assert completed["data"] == {
        "redaction": job["id"],
        "item": clip["id"],
        "output": copy["id"],
        "audit": digest,
        "frames": 1,
        "frames_flagged": 0,
    }
    assert derived["data"]["activity"] == "redaction" and derived["data"]["parents"] == [clip["id"]]
    # Nothing personal on the log: no plain content hash appears in any entry.
    text = str(log_entries(api.client, api.tenant))
    assert hashlib.sha256(still).hexdigest() not in text and copy["sha256"] not in text
    assert all(r.ok for r in verify_database(container.db))


def test_the_same_redaction_asked_again_is_the_same_job(api, container, still):
    clip = stored(api, still)
    first = redact(api, clip["id"])
    again = redact(api, clip["id"], expect=200)
    assert again["id"] == first["id"]
    other = redact(api, clip["id"], mode="background")
    assert other["id"] != first["id"]
    assert container.redactions.run_due() == 2
    assert container.redactions.run_due() == 0


def test_a_video_is_redacted_in_every_frame_and_served_as_h264(api, container, tmp_path):
    truth = face_video(tmp_path / "clip.mp4", frames=20, hidden=frozenset({6, 7}))
    clip = stored(api, (tmp_path / "clip.mp4").read_bytes())
    job = redact(api, clip["id"])
    container.redactions.run_due()
    done = api.get(f"/v1/redactions/{job['id']}").json
    assert done["status"] == "done", done
    assert done["summary"]["boxes"]["interpolated"] == 2
    response = content(api, job["id"])
    (tmp_path / "out.mp4").write_bytes(response.data)
    from tests.support.media import video_frames

    frames = video_frames(tmp_path / "out.mp4")
    assert len(frames) == 20
    assert all(covered(f, box) == 1.0 for f, box in zip(frames, truth, strict=True))


def test_a_consent_without_faces_releases_only_the_redacted_copy(api, container, still):
    consent = api.consent(data_categories=["body_motion"])
    clip = stored(api, still, consent, data_categories=["body_motion"])
    # Storing the bytes queued the redaction the consent asks for.
    job = api.get(f"/v1/redactions/{_job_of(container, clip['id'])}").json
    assert job["reason"] == "consent_requires" and job["mode"] == "faces"
    check = api.check(clip["id"])
    assert check["decision"] == "deny" and check["reasons"] == ["redaction_required"]
    refused = api.get(f"/v1/clips/{clip['id']}/content?purpose=motion_imitation")
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert "redaction_required" in refused.json["detail"]

    container.redactions.run_due()
    done = api.get(f"/v1/redactions/{job['id']}").json
    assert api.check(done["output"])["decision"] == "allow"
    assert content(api, job["id"]).status_code == 200
    # Other purposes stay denied for the copy as for the clip.
    assert content(api, job["id"], "benchmarking").status_code == 403


def _job_of(container, clip: str) -> str:  # type: ignore[no-untyped-def]
    with container.db.session() as session:
        return session.scalar(select(Redaction.id).where(Redaction.source_id == clip))


def test_erasing_the_clip_erases_the_copy_and_its_audit_record(api, container, clock, still):
    clip = stored(api, still)
    job = redact(api, clip["id"])
    container.redactions.run_due()
    copy = api.get(f"/v1/redactions/{job['id']}").json["output"]
    backend, tenant = container.vault.backend, api.tenant.tenant_id
    names = [object_name(tenant, copy), audit_name(tenant, copy)]
    assert all(backend.exists(n) for n in names)

    response = api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]})
    assert response.status_code == 202, response.json
    clock.advance(seconds=2)
    report = container.retention.sweep()
    assert report.erased.items == 2 and report.erased.objects == 3  # clip, copy, audit
    assert not any(backend.exists(n) for n in names)
    assert api.get(f"/v1/items/{copy}").json["status"] == "erased"
    assert content(api, job["id"]).status_code == 410
    assert api.get(f"/v1/redactions/{job['id']}/audit").status_code == 410
    [tombstone] = entries_of(api, "items.erased")
    assert sorted(tombstone["data"]["items"]) == sorted([clip["id"], copy])


def test_a_clip_erased_while_its_redaction_runs_gets_no_copy(api, container, clock, still):
    clip = stored(api, still)
    job = redact(api, clip["id"])
    claimed = container.redactions.claim()
    assert claimed is not None
    api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]})  # now erasing
    container.redactions.run(*claimed)
    failed = api.get(f"/v1/redactions/{job['id']}").json
    assert failed["status"] == "failed" and failed["output"] is None
    assert "erasing" in failed["error"] or "gone" in failed["error"]
    assert not container.vault.backend.exists(
        object_name(api.tenant.tenant_id, output_id(job["id"]))
    )
    [entry] = entries_of(api, "redaction.failed")
    assert entry["data"]["reason"] == "source_gone"
    assert not entries_of(api, "redaction.completed")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n" + b"0" * 4000, "neither a JPEG or PNG image nor a video"),
        ("truncated", "truncated|cannot be decoded|neither"),
    ],
)
def test_bad_media_fails_the_job_with_its_reason_and_leaves_nothing(
    api, container, tmp_path, data, message
):
    if data == "truncated":
        face_video(tmp_path / "v.mp4", frames=30)
        whole = (tmp_path / "v.mp4").read_bytes()
        data = whole[: len(whole) // 2]
    clip = stored(api, data)
    job = redact(api, clip["id"])
    before = api.size()
    container.redactions.run_due()
    failed = api.get(f"/v1/redactions/{job['id']}").json
    assert failed["status"] == "failed", failed
    assert re.search(message, failed["error"])
    assert failed["output"] is None and failed["audit_sha256"] is None
    # On the log: the failure, and nothing else.
    assert api.size() == before + 1
    [entry] = entries_of(api, "redaction.failed")
    assert entry["data"] == {"redaction": job["id"], "item": clip["id"], "reason": "bad_media"}
    tenant = api.tenant.tenant_id
    assert not container.vault.backend.exists(object_name(tenant, output_id(job["id"])))
    assert not container.vault.backend.exists(audit_name(tenant, output_id(job["id"])))
    response = content(api, job["id"])
    assert response.status_code == 409 and response.mimetype == PROBLEM
    # Asking again makes a new job: a failed one does not stand in the way.
    assert redact(api, clip["id"])["id"] != job["id"]


def test_bad_requests_are_refused_and_write_nothing(api, container, other, still):
    clip = stored(api, still)
    bare = api.clip(api.consent())  # registered, no bytes
    label = api.derive([clip["id"]])
    before = api.size()
    cases = [
        ({"item": clip["id"], "mode": "blur"}, 422, "mode"),
        ({"item": clip["id"], "fill": "light-blur"}, 422, "fill"),
        ({"item": clip["id"], "extra": 1}, 422, "extra"),
        ({}, 422, "item"),
        ({"item": "clp_doesnotexist00"}, 404, "No such item"),
        ({"item": label["id"]}, 400, "only clips"),
        ({"item": bare["id"]}, 409, "no content"),
    ]
    for body, status, needle in cases:
        response = api.post("/v1/redactions", body)
        assert response.status_code == status, (body, response.json)
        assert response.mimetype == PROBLEM and needle in str(response.json), response.json
    # Another tenant sees none of it.
    foreign = api.client.post(
        "/v1/redactions", json={"item": clip["id"]}, headers=auth(other.api_key.token)
    )
    assert foreign.status_code == 404
    job = redact(api, clip["id"])
    for path in ("", "/audit", "/content?purpose=motion_imitation"):
        seen = api.client.get(
            f"/v1/redactions/{job['id']}{path}", headers=auth(other.api_key.token)
        )
        assert seen.status_code == 404, path
    assert api.size() == before + 1  # only the one accepted request
    assert api.get(f"/v1/redactions/{job['id']}/audit").status_code == 409  # not run yet


def test_a_runner_that_dies_leaves_the_job_to_the_next(api, container, clock, still):
    clip = stored(api, still)
    job = redact(api, clip["id"])
    assert container.redactions.claim() is not None  # a runner took it, then died
    assert container.redactions.run_due() == 0  # its lease still holds
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert container.redactions.run_due() == 1
    done = api.get(f"/v1/redactions/{job['id']}").json
    assert done["status"] == "done" and done["attempts"] == 2
    assert len(entries_of(api, "redaction.completed")) == 1


def test_a_job_that_keeps_killing_its_runner_fails_in_the_end(api, container, clock, still):
    clip = stored(api, still)
    job = redact(api, clip["id"])
    for _ in range(MAX_ATTEMPTS):
        assert container.redactions.claim() is not None
        clock.advance(seconds=LEASE.total_seconds() + 1)
    container.redactions.run_due()
    failed = api.get(f"/v1/redactions/{job['id']}").json
    assert failed["status"] == "failed" and "interrupted" in failed["error"]
    assert [e["data"]["reason"] for e in entries_of(api, "redaction.failed")] == [
        "failed_repeatedly"
    ]


def test_concurrent_runners_do_each_job_once(api, container, tmp_path):
    jobs = []
    for n in range(4):
        image = cv2.imread(str(astronaut_png(tmp_path / f"{n}.png")))
        image[0, 0] = (n, n, n)  # distinct content
        ok, data = cv2.imencode(".png", image)
        jobs.append(redact(api, stored(api, data.tobytes())["id"])["id"])
    ran: list[int] = []
    threads = [
        threading.Thread(target=lambda: ran.append(container.redactions.run_due()))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ran) == 4
    completed = [e["data"]["redaction"] for e in entries_of(api, "redaction.completed")]
    assert sorted(completed) == sorted(jobs)
    with container.db.session() as session:
        assert {r.attempts for r in session.scalars(select(Redaction))} == {1}

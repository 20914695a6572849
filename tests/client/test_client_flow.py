"""The client against the real service over HTTP: a platform's whole flow, every call."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest

from custody_client import Custody, Forbidden, UseDenied, sha256_of
from tests.support.clients import CONSENT, sign_checkpoint
from tests.support.receiver import receiver


def test_a_platforms_day_through_the_client(custody, container, clock, tmp_path):
    policy = custody.policies.publish(
        "2026-04", "https://platform.example/terms", ["motion_imitation"]
    )
    assert policy["version"] == "2026-04" and policy["log_index"] > 0
    assert [p["version"] for p in custody.policies.list().items] == ["2026-04"]

    consent = custody.consents.give(**CONSENT)
    assert consent["id"].startswith("con_") and consent["status"] == "active"
    assert custody.consents.get(consent["id"])["receipt"] == consent["receipt"]

    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(200_000))
    clip = custody.clips.register(
        content=video,
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion", "face"],
        captured_at=clock.now(),
        device="pixel-7",
    )
    assert clip["created"] is True and clip["sha256"] == sha256_of(video)
    again = custody.clips.register(
        sha256=clip["sha256"],
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion", "face"],
        captured_at=clock.now(),
    )
    assert again["id"] == clip["id"] and again["created"] is False

    stored = custody.clips.upload(clip["id"], video)  # streamed from the file
    assert stored["content_stored"] and stored["content_size"] == 200_000
    assert custody.clips.get(clip["id"])["content_size"] == 200_000

    label = custody.derivations.record(
        parents=[clip["id"]],
        kind="label",
        content=b'{"pose": "wave"}',
        activity={"type": "annotation", "agent": "labeler-7", "started_at": clock.now()},
    )
    assert label["sha256"] == hashlib.sha256(b'{"pose": "wave"}').hexdigest()
    assert custody.items.get(label["id"])["kind"] == "label"
    lineage = custody.items.lineage(label["id"])
    assert lineage["edges"] == [{"entity": label["id"], "was_derived_from": clip["id"]}]

    allowed = custody.checks.check(label["id"], "motion_imitation")
    assert allowed["decision"] == "allow" and allowed["consents"] == [consent["id"]]
    batch = custody.checks.batch([clip["id"], label["id"], "0" * 64], "motion_imitation")
    assert (batch["allowed"], batch["denied"]) == (2, 1)

    into = tmp_path / "out" / "copy.mp4"
    into.parent.mkdir()
    fetched = custody.clips.download(clip["id"], purpose="motion_imitation", to=into)
    assert into.read_bytes() == video.read_bytes() and fetched.sha256 == clip["sha256"]
    assert fetched.log_index is not None and fetched.log_index > allowed["log_index"]
    in_memory = custody.clips.download(clip["id"], purpose="motion_imitation")
    assert in_memory.content == video.read_bytes()
    with pytest.raises(UseDenied) as denied:
        custody.clips.download(clip["id"], purpose="commercial_reuse", to=tmp_path / "no.mp4")
    assert denied.value.reasons == ["purpose_not_covered"] and not (tmp_path / "no.mp4").exists()

    uses = list(custody.iterate(custody.workers.uses, "w-123"))
    assert {u["item"] for u in uses} == {clip["id"], label["id"]}
    assert [c["id"] for c in custody.workers.consents("w-123").items] == [consent["id"]]

    withdrawal = custody.consents.withdraw(consent["id"])
    assert withdrawal["status"] == "withdrawn" and withdrawal["purposes_in_force"] == []
    assert custody.checks.check(label["id"], "motion_imitation")["reasons"] == ["parent_withdrawn"]


def test_erasure_certificates_webhooks_and_confirmation(custody, container, clock):
    with receiver() as hook:
        endpoint = custody.webhook_endpoints.add(hook.url)
        assert endpoint["secret"].startswith("whsec_")
        assert [e["id"] for e in custody.webhook_endpoints.list().items] == [endpoint["id"]]
        consent = custody.consents.give(**CONSENT)
        clip = custody.clips.register(
            content=b"clip",
            worker="w-123",
            consent=consent["id"],
            data_categories=["body_motion"],
            captured_at=clock.now(),
        )
        request = custody.erasure_requests.create("w-123", item=clip["id"])
        assert request["status"] == "in_progress" and request["item"] == clip["id"]
        assert custody.erasure_requests.get(request["id"])["id"] == request["id"]
        listed = custody.erasure_requests.list(status="in_progress").items
        assert [r["id"] for r in listed] == [request["id"]]
        for _ in range(2):
            clock.advance(seconds=5)
            container.retention.sweep()
        erasure_id = custody.erasure_requests.get(request["id"])["erasures"][0]["id"]
        erasure = custody.erasures.get(erasure_id)
        assert erasure["status"] == "done" and erasure["certificate"]
        certificate = custody.erasures.certificate(erasure_id)
        claims = custody.verifier.certificate(certificate)
        assert [i["id"] for i in claims["items"]] == [clip["id"]]
        assert custody.erasures.confirm(erasure_id)["copies"]["confirmed_at"] is not None
        assert [r.body for r in hook.received]  # the erasure was told to the endpoint
        custody.webhook_endpoints.remove(endpoint["id"])
        assert custody.webhook_endpoints.list().items == []


def test_reports_exports_and_their_records(custody, container, clock, tmp_path):
    consent = custody.consents.give(**CONSENT)
    custody.clips.register(
        content=b"a clip",
        worker="w-123",
        consent=consent["id"],
        data_categories=["body_motion"],
        captured_at=clock.now(),
    )
    sign_checkpoint(container)
    report = custody.reports.worker_report("w-123")
    assert report.content is not None and report.content.startswith(b"%PDF")
    assert report.report_id is not None and report.log_index is not None
    record = custody.reports.get(report.report_id)
    assert record["sha256"] == hashlib.sha256(report.content).hexdigest()
    assert record["kind"] == "worker" and record["size"] == report.size

    sign_checkpoint(container)  # each report is on the log; the next rests on a checkpoint
    audit = custody.reports.audit_report(since=clock.now().replace(year=2020))
    assert audit.content is not None and audit.content.startswith(b"%PDF")
    sign_checkpoint(container)
    export = custody.reports.audit_export(to=tmp_path / "audit.zip")
    assert export.path == tmp_path / "audit.zip" and export.content is None
    with zipfile.ZipFile(io.BytesIO(export.path.read_bytes())) as bundle:
        assert "SHA256SUMS" in bundle.namelist()
    assert custody.reports.get(export.report_id or "")["log_index"] == export.log_index


def test_the_log_calls_and_the_published_keys(custody, container, tenant):
    custody.consents.give(**CONSENT)
    sign_checkpoint(container)
    head = custody.logs.head()
    assert head["log"] == tenant.log_id and head["origin"] == tenant.origin
    note = custody.logs.checkpoint()
    assert note.startswith(f"{tenant.origin}\n{head['tree_size']}\n")
    assert custody.logs.checkpoints().items[-1]["note"] == note
    entries = list(custody.logs.iter_entries())
    assert [e["index"] for e in entries] == list(range(head["tree_size"]))
    proof = custody.logs.inclusion_proof(1, head["tree_size"])
    assert proof["root_hash"] == head["root_hash"] and proof["proof"]
    consistency = custody.logs.consistency_proof(1, head["tree_size"])
    assert consistency["second_root"] == head["root_hash"]
    keys = custody.well_known_keys()
    assert {k["purpose"] for k in keys["keys"]} == {"log", "statement"}


def test_an_auditor_key_reads_but_may_not_write(server, container, tenant):
    auditor = container.apikeys.create(tenant.tenant_id, "auditor")
    with Custody(server, auditor.token, log_id=tenant.log_id) as custody:
        assert custody.logs.head()["log"] == tenant.log_id
        with pytest.raises(Forbidden) as refused:
            custody.consents.give(**CONSENT)
        assert refused.value.status == 403 and not isinstance(refused.value, UseDenied)

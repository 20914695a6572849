"""The worker's report and the audit report: real PDFs, read back with pypdf, their QR code
read back from a rendering with OpenCV, on a seeded scenario with a second worker and a
second tenant whose data must never appear."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import cv2
import numpy as np
import pypdfium2
import pytest
from pypdf import PdfReader

from reports import words
from tests.support.http import PROBLEM, auth, log_entries
from tests.support.platform import Api
from tests.support.scenario import seed
from verify.log import keys_from_document
from verify.note import parse_checkpoint, verify_note


def pdf_text(data: bytes) -> str:
    """The text of every page, with every run of white space made one space."""
    text = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text)


def qr_codes(data: bytes) -> list[str]:
    """Every QR code on every page, read from renderings at 150 to 300 dpi."""
    found = []
    document = pypdfium2.PdfDocument(data)
    try:
        for page in document:
            for dpi in (150, 220, 300):
                image = np.asarray(page.render(scale=dpi / 72).to_pil().convert("L"))
                value = cv2.QRCodeDetector().detectAndDecode(image)[0]
                value = value or cv2.QRCodeDetectorAruco().detectAndDecode(image)[0]
                if value:
                    found.append(value)
                    break
    finally:
        document.close()
    return found


@pytest.fixture
def scenario(api, client, other, container, clock):  # type: ignore[no-untyped-def]
    return seed(api, client, other, container, clock)


def test_the_worker_report_holds_everything_of_the_worker_and_nothing_else(api, scenario):  # type: ignore[no-untyped-def]
    response = api.get("/v1/workers/w-123/report.pdf")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf"
    body = response.data
    text = pdf_text(body)

    assert "Platform A" in text
    for consent in scenario["consents"]:
        assert consent in text
    assert words.PURPOSES["motion_imitation"] in text
    assert "you withdrew it for " + words.PURPOSES["benchmarking"] in text
    assert "for 90 days after recording" in text and "for 30 days after recording" in text
    for item in [*scenario["clips"], scenario["label"]]:
        assert item in text
    # Uses: every item's group with its count and first and last day.
    clip = scenario["clips"][0]
    first, last = scenario["first_use"], scenario["first_use"] + timedelta(days=1)
    span = f"{first:%d %b %y} – {last:%d %b %y}"
    assert f"{clip} motion imitation platform 4 {span}" in text
    assert f"{scenario['label']} benchmarking platform 1 {last:%d %b %y} – {last:%d %b %y}" in text
    # The summary counts: four recordings, one label, six allowed uses.
    assert re.search(r"Recordings of you 4\b", text)
    assert re.search(r"Times they were used 6\b", text)
    # What was erased, with the certificate; the open request with its deadline.
    assert scenario["erasure"] in text
    assert scenario["pending_request"] in text and scenario["erased_request"] in text
    assert words.day(_ts(scenario["pending_deadline"])) in text
    assert "Complain" in text and "Nigeria Data Protection Commission" in text
    assert "National Privacy Commission" in text
    # Nothing of the other worker or of the other tenant.
    for foreign in scenario["foreign"]:
        assert foreign not in text

    # The QR code is the signed checkpoint; it verifies and covers every entry shown.
    keys = api.get("/.well-known/custody-keys").json
    (note,) = qr_codes(body)
    checked, signers = verify_note(note, keys_from_document(keys))
    assert signers
    checkpoint = parse_checkpoint(checked)
    # Log indexes follow a deletion date or state; the 10 hex characters of a hash that
    # happen to be all digits are not one.
    shown = [
        int(n) for n in re.findall(r"(?:kept|erased|erasing|\d\d \w\w\w \d\d) (\d{1,9}) ", text)
    ]
    assert shown and max(shown) < checkpoint.size
    assert f"Tree size {checkpoint.size}" in text

    # Issuing it is on the log, with the file's hash.
    issued = [e for e in log_entries(api.client, api.tenant) if e["type"] == "report.issued"]
    assert len(issued) == 1
    assert issued[0]["data"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert issued[0]["data"]["kind"] == "worker"
    assert issued[0]["data"]["tree_size"] == checkpoint.size
    assert issued[0]["subject"].startswith("wkr_")
    assert response.headers["Custody-Report-Id"] == issued[0]["data"]["report"]
    record = api.get(f"/v1/reports/{issued[0]['data']['report']}")
    assert record.json["sha256"] == issued[0]["data"]["sha256"]
    assert record.json["log_index"] == int(response.headers["Custody-Log-Index"])


def _ts(value: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_worker_report_stays_within_its_tenant(api, client, other, scenario):  # type: ignore[no-untyped-def]
    stranger = Api(client, other, api.clock)
    response = stranger.get("/v1/workers/w-123/report.pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert scenario["foreign"][3] in text
    for item in [*scenario["consents"], *scenario["clips"], scenario["label"]]:
        assert item not in text
    # Another tenant's pseudonym is not found, as if it did not exist.
    pseudonym = api.get(f"/v1/consents/{scenario['consents'][0]}").json["worker"]
    api.clock.advance(seconds=2)
    missing = stranger.get(f"/v1/workers/{pseudonym}/report.pdf")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM


def test_the_audit_report_counts_the_period_and_lists_what_is_overdue(  # type: ignore[no-untyped-def]
    api, container, scenario, clock
):
    short = api.consent(worker="w-555", retention="PT45S")
    late = api.clip(short, worker="w-555")["id"]
    clock.advance(days=2)  # past its deletion date by more than a day, no sweep ran
    auditor = auth(container.apikeys.create(api.tenant.tenant_id, "auditor").token)

    platform = auth(container.apikeys.create(api.tenant.tenant_id, "platform").token)
    refused = api.client.get("/v1/audit/report.pdf", headers=platform)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    clock.advance(seconds=2)  # checkpoints are signed at most once a second
    response = api.client.get("/v1/audit/report.pdf", headers=auditor)
    assert response.status_code == 200, response.data[:300]
    text = pdf_text(response.data)
    assert "Platform A" in text
    # Consents: 4 given (two of w-123, w-999, w-555), 1 withdrawal; checks: 7 allowed, 1 denied.
    assert re.search(r"4 consents were given \(0 of them amendments\) and 1 withdrawals", text)
    assert re.search(r"8 use checks: 7 allowed and 1 denied", text)
    assert "purpose_not_covered" in text
    assert re.search(r"1 erasures were carried out: 1 by their deadline and 0 after it", text)
    assert re.search(r"1 items are past their deletion date", text)
    assert late in text
    assert re.search(r"2 requests received in the period; 1 completed, 1 open", text)
    assert "Verified." in text
    for key in api.get("/.well-known/custody-keys").json["keys"]:
        assert key["kid"] in text
    for foreign in scenario["foreign"][2:]:
        assert foreign not in text
    (note,) = qr_codes(response.data)
    verify_note(note, keys_from_document(api.get("/.well-known/custody-keys").json))

    # A period that ends before the withdrawal counts the consents given before it only.
    until = (clock.now() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.advance(seconds=2)
    earlier = api.client.get(f"/v1/audit/report.pdf?to={until}", headers=auditor)
    assert earlier.status_code == 200
    text = pdf_text(earlier.data)
    assert re.search(r"2 consents were given \(0 of them amendments\) and 0 withdrawals", text)
    issued = [e for e in log_entries(api.client, api.tenant) if e["type"] == "report.issued"]
    assert [e["data"]["kind"] for e in issued] == ["audit", "audit"]
    assert issued[1]["data"]["to"].startswith(until[:19])
    assert issued[1]["data"]["sha256"] == hashlib.sha256(earlier.data).hexdigest()


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/v1/workers/w-nobody/report.pdf", 404, "No such worker"),
        ("/v1/audit/report.pdf?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from"),
        ("/v1/audit/report.pdf?from=yesterday", 422, "from"),
        ("/v1/audit/report.pdf?to=2026-01-01T00:00:00", 422, "to"),
    ],
)
def test_bad_report_requests_are_problems_and_leave_nothing_on_the_log(  # type: ignore[no-untyped-def]
    api, container, path, status, needle
):
    auditor = auth(container.apikeys.create(api.tenant.tenant_id, "auditor").token)
    before = api.size()
    response = api.client.get(path, headers=auditor)
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    assert needle in response.json["detail"]
    assert api.size() == before


def test_reports_from_the_command_line(custody, tmp_path, api, scenario):  # type: ignore[no-untyped-def]
    out = tmp_path / "worker.pdf"
    result = custody(
        "reports",
        "worker",
        "--tenant",
        api.tenant.tenant_id,
        "--worker",
        "w-123",
        "--out",
        str(out),
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest in result.stdout
    assert scenario["clips"][0] in pdf_text(out.read_bytes())
    audit = tmp_path / "audit.pdf"
    custody(
        "reports",
        "audit",
        "--tenant",
        api.tenant.tenant_id,
        "--from",
        "2026-01-01",
        "--out",
        str(audit),
    )
    assert "Record of processing" in pdf_text(audit.read_bytes())
    issued = [e for e in log_entries(api.client, api.tenant) if e["type"] == "report.issued"]
    assert [e["data"]["by"] for e in issued] == [None, None]
    assert issued[0]["data"]["sha256"] == digest
    assert issued[1]["data"]["from"] == "2026-01-01T00:00:00.000000Z"
    bad = custody(
        "reports",
        "audit",
        "--tenant",
        api.tenant.tenant_id,
        "--from",
        "soon",
        "--out",
        str(audit),
        check=False,
    )
    assert bad.returncode == 2 and "not a time" in bad.stderr

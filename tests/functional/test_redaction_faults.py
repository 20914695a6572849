"""Redaction jobs under faults, with real processes: a runner killed part-way through a
video, and the local command on files. SQLite with the local vault; PostgreSQL with S3."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ledger.clock import FakeClock
from ledger.consent.consents import ConsentRequest
from ledger.items.items import ClipRequest, audit_name, object_name
from ledger.log.verification import verify_database
from redaction.jobs import WORK_PREFIX
from redaction.models import Redaction
from tests.functional.test_retention_faults import cli_env
from tests.support.media import astronaut_png, face_video
from tests.support.s3 import vault_settings


@pytest.fixture
def settings(tmp_path, db_url, request, monkeypatch):  # type: ignore[no-untyped-def]
    return vault_settings(tmp_path, db_url, request, monkeypatch)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC) - timedelta(minutes=1))


def job_row(container, job_id: str) -> Redaction:  # type: ignore[no-untyped-def]
    with container.db.session() as session:
        row = session.get(Redaction, job_id)
        assert row is not None
        return row


@pytest.mark.slow
def test_a_runner_killed_mid_video_leaves_the_job_to_the_next(
    container, tenant, settings, tmp_path
):
    face_video(tmp_path / "clip.mp4", frames=150, size=(640, 480))
    data = (tmp_path / "clip.mp4").read_bytes()
    tenant_id = tenant.tenant_id
    consent = container.consents.give(
        tenant_id,
        ConsentRequest(
            worker="w-1",
            purposes=["motion_imitation"],
            data_categories=["body_motion", "face"],
            recipients="platform_only",
            retention="P30D",
            jurisdiction="PH",
            collection_method="in_app",
            policy_url="https://platform.example/terms",
            policy_version="2026-04",
        ),
    ).consent
    clip = container.items.register_clip(
        tenant_id,
        ClipRequest(
            sha256=hashlib.sha256(data).hexdigest(),
            worker="w-1",
            consent=consent.id,
            data_categories=["body_motion", "face"],
            captured_at=container.clock.now(),
        ),
    ).item
    container.items.store_content(tenant_id, clip.id, io.BytesIO(data))
    job = container.redactions.request(tenant_id, clip.id).job

    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(settings) | {"CUSTODY_REDACTION_LEASE_SECONDS": "2", "TMPDIR": str(work)}
    with (tmp_path / "runner.log").open("wb") as runner_log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "api", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=runner_log,
        )
    try:
        deadline = time.monotonic() + 60
        while job_row(container, job.id).status != "running":
            assert time.monotonic() < deadline and runner.poll() is None, (
                tmp_path / "runner.log"
            ).read_text()
            time.sleep(0.05)
        first_lease = job_row(container, job.id).lease_until
        assert first_lease is not None
        while job_row(container, job.id).lease_until == first_lease:  # renewed as it works
            assert time.monotonic() < deadline and runner.poll() is None
            time.sleep(0.05)
        # part-way through the video: the clip is decrypted in its folder
        assert job_row(container, job.id).status == "running"
        assert job_row(container, job.id).attempts == 1
        assert [p.name.startswith(f"{WORK_PREFIX}{runner.pid}-") for p in work.iterdir()] == [True]
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    assert job_row(container, job.id).status == "running"  # as the dead runner left it
    time.sleep(2.5)  # its lease runs out

    again = subprocess.run(
        [sys.executable, "-m", "api", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "ran 1 jobs" in again.stdout
    done = job_row(container, job.id)
    assert done.status == "done" and done.attempts == 2 and done.item_id
    assert list(work.iterdir()) == []  # the dead runner's decrypted clip is gone too
    backend = container.vault.backend
    assert backend.exists(object_name(tenant_id, done.item_id))
    assert backend.exists(audit_name(tenant_id, done.item_id))
    with container.db.session() as session:
        from ledger.models import LogEntry

        bodies = [json.loads(b) for b in session.scalars(select(LogEntry.body))]
    assert [e["data"]["redaction"] for e in bodies if e["type"] == "redaction.completed"] == [
        job.id
    ]
    assert done.summary is not None and done.summary["frames"] == 150
    assert all(report.ok for report in verify_database(container.db))


def test_the_local_command_redacts_files_and_writes_the_audit(tmp_path, custody):
    source = astronaut_png(tmp_path / "a.png")
    result = custody(
        "redact", str(source), str(tmp_path / "out.png"), "--audit", str(tmp_path / "a.json")
    )
    assert "1 detected" in result.stdout and "0 frames flagged" in result.stdout
    record = json.loads((tmp_path / "a.json").read_text())
    assert (
        record["output"]["sha256"]
        == hashlib.sha256((tmp_path / "out.png").read_bytes()).hexdigest()
    )

    face_video(tmp_path / "v.mp4", frames=10)
    video = custody(
        "redact", str(tmp_path / "v.mp4"), str(tmp_path / "out.mkv"), "--mode", "background"
    )
    assert "10 frames" in video.stdout and (tmp_path / "out.mkv").stat().st_size > 0


def test_the_local_command_refuses_bad_input_with_a_reason(tmp_path, custody):
    (tmp_path / "notes.txt").write_text("not a video\n" * 100)
    result = custody("redact", str(tmp_path / "notes.txt"), str(tmp_path / "out.mp4"), check=False)
    assert result.returncode == 1
    assert "neither a JPEG or PNG image nor a video" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.mp4").exists()
    bad_mode = custody(
        "redact", str(tmp_path / "notes.txt"), "o.mp4", "--mode", "blur", check=False
    )
    assert bad_mode.returncode == 2 and "blur" in bad_mode.stderr

"""The sweep under faults: killed mid-run, run by several processes at once, and on hosts
whose clocks are wrong. SQLite with the local vault; PostgreSQL with the vault on S3."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import isodate
import pytest
from sqlalchemy import func, select

from api.container import Container, build
from api.settings import ConfigError, Settings
from ledger.clock import DatabaseClock, FakeClock
from ledger.consent.consents import ConsentRequest
from ledger.items.items import Activity, ClipRequest, DerivationRequest
from ledger.log.verification import verify_database
from ledger.models import Item
from retention.models import Erasure
from retention.requests import RequestIn
from tests.support import s3
from tests.support.s3 import vault_settings
from verify.certificates import verify_certificate

WORKERS = 120
CLIPS_PER_WORKER = 2


@pytest.fixture
def settings(tmp_path, db_url, request, monkeypatch) -> Settings:
    return vault_settings(tmp_path, db_url, request, monkeypatch)


@pytest.fixture
def clock() -> FakeClock:
    """Two minutes behind the database, so that clips registered now are due by the time a
    sweep in another process (on the database's clock) looks at them."""
    return FakeClock(datetime.now(UTC) - timedelta(minutes=2))


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env |= {"CUSTODY_DATA_DIR": str(settings.data_dir), "CUSTODY_DATABASE_URL": settings.db_url}
    if settings.s3_bucket:
        env |= s3.ENVIRONMENT | {
            "CUSTODY_S3_BUCKET": settings.s3_bucket,
            "CUSTODY_S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "CUSTODY_S3_PREFIX": settings.s3_prefix,
        }
    return env


def register_due(container: Container, tenant_id: str) -> list[str]:
    """Clips with bytes in the vault and a label each, all due a minute ago by the
    database's clock."""
    items = []
    for w in range(WORKERS):
        given = container.consents.give(
            tenant_id,
            ConsentRequest(
                worker=f"w-{w}",
                purposes=["motion_imitation"],
                data_categories=["body_motion"],
                recipients="platform_only",
                retention="PT60S",
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="2026-04",
            ),
        )
        for c in range(CLIPS_PER_WORKER):
            content = f"clip {w}/{c}".encode() * 100
            clip = container.items.register_clip(
                tenant_id,
                ClipRequest(
                    sha256=hashlib.sha256(content).hexdigest(),
                    worker=f"w-{w}",
                    consent=given.consent.id,
                    data_categories=["body_motion"],
                    captured_at=container.clock.now(),
                ),
            ).item
            container.items.store_content(tenant_id, clip.id, io.BytesIO(content))
            label = container.items.derive(
                tenant_id,
                DerivationRequest(
                    parents=[clip.id],
                    kind="label",
                    sha256=os.urandom(32).hex(),
                    activity=Activity("annotation", "labeler-7"),
                ),
            ).item
            items += [clip.id, label.id]
    return items


def done_count(container: Container) -> int:
    with container.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Erasure).where(Erasure.status == "done")
            )
        )


def vault_objects(container: Container, settings: Settings, tenant_id: str) -> list[str]:
    if settings.s3_bucket:
        listed = s3.client(settings.s3_endpoint_url).list_objects_v2(
            Bucket=settings.s3_bucket, Prefix=f"vault/{tenant_id}/"
        )
        return [o["Key"] for o in listed.get("Contents", [])]
    folder = settings.vault_folder / tenant_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.slow
def test_a_sweep_killed_mid_run_is_finished_by_the_next(container, settings, tenant):
    items = register_due(container, tenant.tenant_id)
    assert len(vault_objects(container, settings, tenant.tenant_id)) == WORKERS * CLIPS_PER_WORKER
    command = [sys.executable, "-m", "api", "retention", "sweep", "--json"]
    sweeping = subprocess.Popen(
        command, env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while done_count(container) == 0:
        assert sweeping.poll() is None, sweeping.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    sweeping.send_signal(signal.SIGKILL)
    sweeping.communicate(timeout=30)
    at_kill = done_count(container)
    assert 0 < at_kill < WORKERS, "the sweep must have been stopped part of the way"

    finished = subprocess.run(command, env=cli_env(settings), capture_output=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["planned"] == 0  # everything was planned before the kill
    assert report["erased"]["erasures"] == WORKERS - at_kill

    with container.db.session() as session:
        statuses = Counter(session.scalars(select(Item.status).where(Item.id.in_(items))))
        erasures = session.scalars(select(Erasure)).all()
    assert statuses == {"erased": len(items)}
    assert len(erasures) == WORKERS and all(e.status == "done" for e in erasures)
    # One tombstone per erasure, each item in exactly one, none missing, none twice.
    with container.db.engine.connect() as connection:
        bodies = connection.exec_driver_sql("SELECT body FROM log_entries").scalars().all()
    entries = [json.loads(body) for body in bodies]
    tombstones = [e["data"] for e in entries if e["type"] == "items.erased"]
    assert sorted(t["erasure"] for t in tombstones) == sorted(e.id for e in erasures)
    erased = Counter(i for t in tombstones for i in t["items"])
    assert set(erased) == set(items) and set(erased.values()) == {1}
    # No certificate lost: every erasure has one, and each verifies offline.
    with container.db.session() as session:
        document = {"keys": container.keys.published(session)}
    for erasure in erasures:
        assert erasure.certificate is not None
        assert verify_certificate(erasure.certificate, document)["certificate"] == erasure.id
    assert vault_objects(container, settings, tenant.tenant_id) == []
    assert all(r.ok for r in verify_database(container.db))


def test_only_one_process_sweeps_at_a_time(container, settings, tenant, clock):
    register_due(container, tenant.tenant_id)
    clock.advance(minutes=3)
    other = build(settings, clock=clock, migrate=False)
    try:
        # While another process holds the sweep lock, a sweep does nothing at all.
        with other.db.exclusive("retention.sweep") as held:
            assert held
            report = container.retention.sweep()
            assert report.ran is False and report.planned == 0
            with container.db.exclusive("retention.sweep") as second:
                assert second is False
        assert done_count(container) == 0
        # Racing for real: each erasure is done once, whoever does it.
        results = []
        start = threading.Barrier(2)

        def sweep(c: Container) -> None:
            start.wait()
            results.append(c.retention.sweep())

        threads = [threading.Thread(target=sweep, args=(c,)) for c in (container, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert sum(r.erased.erasures for r in results) == WORKERS
    with container.db.session() as session:
        tombstones = session.scalar(
            select(func.count()).select_from(Erasure).where(Erasure.log_index.is_not(None))
        )
    assert tombstones == WORKERS and done_count(container) == WORKERS


def test_deadlines_come_from_the_database_clock_not_the_host(container, settings, tenant):
    """A host whose clock is an hour fast (or a day slow) still dates requests and decides
    what is due by the database's time."""
    true_now = datetime.now(UTC)
    for skew in (timedelta(hours=1), -timedelta(days=1)):
        skewed = DatabaseClock(container.db.engine, local=lambda s=skew: datetime.now(UTC) + s)
        assert abs(skewed.now() - datetime.now(UTC)) < timedelta(seconds=5)
    host_fast = build(settings, migrate=False)  # the default clock: the database's
    try:
        host_fast.clock.local = lambda: datetime.now(UTC) + timedelta(hours=1)  # type: ignore[attr-defined]
        host_fast.clock._measured_at = None  # type: ignore[attr-defined]
        given = host_fast.consents.give(
            tenant.tenant_id,
            ConsentRequest(
                worker="w-1",
                purposes=["motion_imitation"],
                data_categories=["body_motion"],
                recipients="platform_only",
                retention="P30D",
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="2026-04",
            ),
        )
        requested = host_fast.erasure_requests.request(
            tenant.tenant_id,
            RequestIn("w-1", consent=given.consent.id),
            None,
        ).request
    finally:
        host_fast.close()
    assert abs(requested.received_at - true_now) < timedelta(seconds=30)
    assert requested.deadline == requested.received_at + isodate.parse_duration("P1M")
    assert given.consent.given_at - true_now < timedelta(seconds=30)


@pytest.mark.parametrize(
    "name, value",
    [("ERASURE_DEADLINE", "a month"), ("ERASURE_DEADLINE", "PT0S"), ("SWEEP_SECONDS", "0")],
)
def test_bad_retention_settings_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({f"CUSTODY_{name}": value})


def test_the_command_says_when_another_process_is_sweeping(container, custody):
    with container.db.exclusive("retention.sweep") as held:
        assert held
        busy = custody("retention", "sweep", check=False)
    assert busy.returncode == 1 and "another process is sweeping" in busy.stderr
    assert json.loads(custody("retention", "sweep", "--json").stdout)["ran"] is True

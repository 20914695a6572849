"""What lets the roles run as many processes: one scheduler leads through a database lock it
can lose, and job runners claim webhook deliveries so that none is sent twice at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select, text

from api.container import build
from ledger.db import Database, _lock_key, make_engine
from retention.models import WebhookDelivery
from retention.webhooks import CLAIM_LEASE
from tests.support.receiver import receiver


def test_one_process_leads_and_another_takes_over_when_it_goes(db_url):
    first, second = Database(make_engine(db_url)), Database(make_engine(db_url))
    try:
        with first.leadership("custody.scheduler") as leading:
            assert leading is not None and leading()
            with second.leadership("custody.scheduler") as standing:
                assert standing is None  # the other holds it
        with second.leadership("custody.scheduler") as leading:
            assert leading is not None and leading()  # released on the way out
    finally:
        first.dispose()
        second.dispose()


def test_a_leader_whose_connection_dies_knows_it_lost_the_lead(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("on SQLite the lock is a file's, held as long as the process lives")
    first, second = Database(make_engine(db_url)), Database(make_engine(db_url))
    key = _lock_key("custody.scheduler")
    try:
        with first.leadership("custody.scheduler") as leading:
            assert leading is not None and leading()
            with second.session() as session:  # as a PostgreSQL restart does to it
                killed = session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                        "'advisory' AND granted AND (classid::bigint << 32 | objid::bigint) = :k"
                    ),
                    {"k": key & 0xFFFFFFFFFFFFFFFF},
                ).all()
            assert killed == [(True,)]
            assert not leading()
            with second.leadership("custody.scheduler") as taken:
                assert taken is not None and taken()
    finally:
        first.dispose()
        second.dispose()


def _deliveries(container, tenant_id: str, count: int) -> None:
    with container.db.write() as session, session.begin():
        for n in range(count):
            container.webhooks.enqueue(session, tenant_id, "erasure.completed", {"n": n})


def test_runners_side_by_side_send_each_delivery_once(container, settings, clock, tenant):
    other_runner = build(settings, clock=clock, migrate=False)
    try:
        with receiver() as hook:
            container.webhooks.add(tenant.tenant_id, hook.url)
            _deliveries(container, tenant.tenant_id, 40)
            start = threading.Barrier(2)

            def run(runner):
                start.wait()
                return runner.webhooks.deliver_due()

            results: list = []
            threads = [
                threading.Thread(target=lambda r=r: results.append(run(r)))
                for r in (container, other_runner)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        ids = [delivery.headers["webhook-id"] for delivery in hook.received]
        assert len(ids) == 40 and len(set(ids)) == 40  # each once, none twice
        assert sum(result.delivered for result in results) == 40
        with container.db.session() as session:
            pending = session.scalar(
                select(func.count()).where(WebhookDelivery.status != "delivered")
            )
        assert pending == 0
    finally:
        other_runner.close()


def test_a_claim_whose_runner_died_falls_due_after_its_lease(container, clock, tenant):
    with receiver() as hook:
        container.webhooks.add(tenant.tenant_id, hook.url)
        _deliveries(container, tenant.tenant_id, 3)
        claimed = container.webhooks._claim()  # a runner claims, then dies before sending
        assert len(claimed) == 3
        assert container.webhooks.deliver_due().attempted == 0  # claimed: not sent twice
        clock.advance(seconds=CLAIM_LEASE.total_seconds() + 1)
        assert container.webhooks.deliver_due().delivered == 3
    assert len(hook.received) == 3


def test_roles_refuse_a_database_not_yet_upgraded(env, tmp_path):
    fresh = {**env, "CUSTODY_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    for role in (["scheduler"], ["worker"], ["web", "--workers", "1"]):
        done = subprocess.run(
            [sys.executable, "-m", "api", *role], env=fresh, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode != 0
        assert "run `custody db upgrade` first" in done.stderr


def test_a_job_runner_works_through_what_is_due_and_exits_with_once(container, custody, tenant):
    with receiver() as hook:
        container.webhooks.add(tenant.tenant_id, hook.url)
        _deliveries(container, tenant.tenant_id, 2)
        done = custody("worker", "--once")
    assert done.stdout.strip() == "ran 2 jobs"
    assert len(hook.received) == 2


def _scheduler(env, log_path):  # type: ignore[no-untyped-def]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "api", "scheduler"], env=env, stdout=log, stderr=log
        )


def _leading(log_path) -> bool:  # type: ignore[no-untyped-def]
    return "scheduler: leading" in log_path.read_text()


def test_of_two_scheduler_processes_one_leads_and_the_other_takes_over_a_kill(env, tmp_path):
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = _scheduler(env, logs[0])
    try:
        deadline = time.monotonic() + 30
        while not _leading(logs[0]):
            assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()
            time.sleep(0.2)
        second = _scheduler(env, logs[1])
        try:
            deadline = time.monotonic() + 30  # started, however loaded the machine
            while "standing for leadership" not in logs[1].read_text():
                assert second.poll() is None and time.monotonic() < deadline, logs[1].read_text()
                time.sleep(0.2)
            time.sleep(4)  # two standby rounds: it must not lead beside the first
            assert not _leading(logs[1])
            first.kill()  # kill -9: the lock goes with the process (or its connection)
            first.wait(timeout=10)
            deadline = time.monotonic() + 15
            while not _leading(logs[1]):
                assert time.monotonic() < deadline, logs[1].read_text()
                time.sleep(0.2)
        finally:
            second.terminate()
            assert second.wait(timeout=30) == 0  # SIGTERM: stops its jobs and exits cleanly
    finally:
        first.kill()
        first.wait(timeout=10)

"""Clocks: every one tells aware UTC time and sleeps on its own time; the fake one sleeps by
moving on, so that what waits under it (the sweep waiting out a checkpoint interval) does
not wait for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from api.container import Container
from ledger.clock import Clock, DatabaseClock, FakeClock, SystemClock
from ledger.log.reader import LogReader
from tests.support import factories as f

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["system", "database", "fake"])
def any_clock(request: pytest.FixtureRequest) -> Iterator[Clock]:
    if request.param == "database":
        engine = create_engine("sqlite://")
        yield DatabaseClock(engine)
        engine.dispose()
    else:
        yield SystemClock() if request.param == "system" else FakeClock(START)


def test_a_clock_tells_aware_utc_and_sleeps_on_its_own_time(any_clock: Clock) -> None:
    before = any_clock.now()
    assert before.utcoffset() == timedelta(0)
    any_clock.sleep(0.02)
    assert any_clock.now() - before >= timedelta(seconds=0.02)
    with pytest.raises(ValueError):
        any_clock.sleep(-1)  # as time.sleep


def test_the_fake_clock_sleeps_by_moving_on_at_once() -> None:
    clock = FakeClock(START)
    started = time.monotonic()
    clock.sleep(3600)
    clock.sleep(0.25)
    clock.sleep(0)
    assert time.monotonic() - started < 0.5
    assert clock.now() == START + timedelta(hours=1, milliseconds=250)


def test_the_sweep_waits_out_the_checkpoint_interval_on_the_fake_clock(
    container: Container, clock: FakeClock
) -> None:
    # Everything happens at one fake instant, the tenant's first checkpoint included, so the
    # checkpoint covering the erasure's tombstone must wait one interval: on the fake clock.
    made = f.tenant(container)
    tenant_id = made.tenant_id
    clip = f.clip(container, tenant_id, f.consent(container, tenant_id))
    f.erasure(container, tenant_id, clip)
    at = clock.now()

    started = time.monotonic()
    report = container.retention.sweep()
    elapsed = time.monotonic() - started

    assert elapsed < 0.5, f"the sweep slept for real: {elapsed:.2f} s"
    assert clock.now() == at + container.appender.checkpoint_interval
    # The wait counted: a checkpoint covers the tombstone, and the erasure is certified.
    assert (report.erased.items, report.certified) == (1, 1)
    with container.db.session() as session:
        checkpoint = LogReader(session).latest_checkpoint(made.log_id)
    assert checkpoint.created_at == clock.now()

"""Time, behind a protocol so that tests and jobs can run on a fake clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, text


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait until `seconds` of this clock's time have passed (a fake clock just moves
        on), so that code waiting on a deadline of this clock never waits for real under a
        fake one."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _system_now() -> datetime:
    return datetime.now(UTC)


class DatabaseClock:
    """UTC as the database tells it, so that every process agrees on deadlines whatever its
    host's clock says. The offset between the database's clock and this host's is measured
    on first use and again every `refresh`; between measurements time costs no query."""

    def __init__(
        self,
        engine: Engine,
        refresh: timedelta = timedelta(seconds=60),
        local: Callable[[], datetime] = _system_now,
    ) -> None:
        self.engine = engine
        self.refresh = refresh
        self.local = local
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._measured_at: datetime | None = None

    def now(self) -> datetime:
        local = self.local()
        with self._lock:
            stale = self._measured_at is None or not (
                self._measured_at <= local < self._measured_at + self.refresh
            )
            if stale:
                self._offset = self._measure()
                self._measured_at = local
            return local + self._offset

    def sleep(self, seconds: float) -> None:
        # The database's clock runs at the host's pace; only the offset differs.
        time.sleep(seconds)

    def _measure(self) -> timedelta:
        postgres = self.engine.dialect.name == "postgresql"
        query = (
            "SELECT clock_timestamp()"
            if postgres
            else "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
        )
        with self.engine.connect() as connection:
            before = self.local()
            value: datetime | str = connection.execute(text(query)).scalar_one()
            after = self.local()
        if isinstance(value, str):  # SQLite answers text, in UTC
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        offset: timedelta = value.astimezone(UTC) - (before + (after - before) / 2)
        return offset


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def sleep(self, seconds: float) -> None:
        """Return at once, the clock `seconds` later: what waited has waited."""
        if seconds < 0:  # as time.sleep
            raise ValueError("sleep length must be non-negative")
        self.advance(seconds)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the one timestamp form on the log."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

"""Limits per client (the `limits` library): failed access-link attempts per address, in a
moving window, and requests per API key or worker token, in a sliding window. Storage is per
process by default; a shared one (redis://...) makes the limits hold across processes."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from ledger.errors import CustodyError


class TooManyAttempts(CustodyError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed attempts from this address")
        self.retry_after = retry_after


def _hashed(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()[:32]  # no address or key kept as such


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window has room again
    allowed: bool


class RequestLimit:
    """Requests per credential: every request counts; past the limit, 429 until there is room."""

    def __init__(self, storage_uri: str, limit: str) -> None:
        self.window = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))
        self.limit: RateLimitItem = parse(limit)

    def hit(self, client: str) -> Quota:
        """Count a request of `client`; whether it was within the limit."""
        key = _hashed(client)
        return self._quota(key, self.window.hit(self.limit, "requests", key))

    def exhausted(self, client: str) -> Quota | None:
        """`client`'s quota if it is spent, else None; counts nothing."""
        key = _hashed(client)
        return None if self.window.test(self.limit, "requests", key) else self._quota(key, False)

    def _quota(self, key: str, allowed: bool) -> Quota:
        stats = self.window.get_window_stats(self.limit, "requests", key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Quota(self.limit.amount, stats.remaining, reset, allowed)


class Attempts:
    def __init__(self, storage_uri: str, limit: str) -> None:
        self.window = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.limit = parse(limit)

    def check(self, client: str) -> None:
        if not self.window.test(self.limit, _hashed(client)):
            reset = self.window.get_window_stats(self.limit, _hashed(client)).reset_time
            raise TooManyAttempts(max(1, math.ceil(reset - time.time())))

    def failed(self, client: str) -> None:
        self.window.hit(self.limit, _hashed(client))

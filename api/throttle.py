"""Failed attempts per client, in a moving window (the `limits` library): past the limit a
client is refused before its next attempt is even tried. Storage is per process by default;
a shared one (redis://...) makes the limit hold across several processes."""

from __future__ import annotations

import hashlib
import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ledger.errors import CustodyError


class TooManyAttempts(CustodyError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed attempts from this address")
        self.retry_after = retry_after


class Attempts:
    def __init__(self, storage_uri: str, limit: str) -> None:
        self.window = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.limit = parse(limit)

    @staticmethod
    def _key(client: str) -> str:
        return hashlib.sha256(client.encode()).hexdigest()[:32]  # no address kept as such

    def check(self, client: str) -> None:
        if not self.window.test(self.limit, self._key(client)):
            reset = self.window.get_window_stats(self.limit, self._key(client)).reset_time
            raise TooManyAttempts(max(1, math.ceil(reset - time.time())))

    def failed(self, client: str) -> None:
        self.window.hit(self.limit, self._key(client))

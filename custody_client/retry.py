"""When to try a request again, and how long to wait first.

Retried: 429, 502, 503 and 504; a 409 that carries `Retry-After` in answer to a request with
an `Idempotency-Key` (the first request with that key is still running); and a connection
that failed or timed out. The wait is the service's `Retry-After` when it sends one, else
exponential backoff with jitter. Attempts and total time are both bounded: a `Retry-After`
longer than the time left ends the retries at once, with the service's error.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4  # attempts after the first
    backoff: float = 0.5  # seconds before the first retry, doubling after each
    max_backoff: float = 30.0
    deadline: float = 120.0  # seconds from the first attempt after which no retry starts

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_backoff < 0 or self.deadline < 0:
            raise ValueError("retries, backoff, max_backoff and deadline must be >= 0")

    def wait(self, attempt: int, retry_after: float | None, started: float) -> float | None:
        """Seconds to wait before retry number `attempt` (0 is the first retry), or None
        when no retry is left: attempts used up, or the wait would pass the deadline."""
        if attempt >= self.retries:
            return None
        if retry_after is not None:
            delay = retry_after
        else:  # "equal jitter": half the step fixed, half random, so retries spread out
            step = min(self.max_backoff, self.backoff * 2**attempt)
            delay = step / 2 + random.uniform(0, step / 2)
        if time.monotonic() - started + delay > self.deadline:
            return None
        return delay


def retryable(response: httpx.Response, idempotency_key: str | None) -> bool:
    """Whether the answer says "the same request again, later"."""
    if response.status_code in RETRY_STATUSES:
        return True
    in_progress = response.status_code == 409 and "Retry-After" in response.headers
    return in_progress and idempotency_key is not None

"""One caller's HTTP, measured attempt by attempt, with retries that never create twice.

Each logical call has one `Idempotency-Key` (for a POST) and one `X-Request-Id`, sent
unchanged on every attempt, so a retried create is answered with the first answer instead of
creating twice. Retried: connection failures and timeouts (no answer), 429, 500, 502, 503
and 504, and a 409 with a short `Retry-After` (the first attempt with that key is still
running). A 500 is retried because the service answers it only for a call that failed and
changed nothing (its idempotency key is released); the retried 500s are still counted, per
attempt, since each is a fault of the service worth reading. A 409 whose `Retry-After` is
long says the first attempt's outcome is unknown (its process died between commit and
answer): no retry can settle that, so the call ends there. Waits follow `Retry-After`, else
exponential backoff with jitter; no attempt starts after the budget (from the first attempt).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import httpx

from loadtest.stats import Outcome

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
STILL_RUNNING_MAX_WAIT = 10.0  # a 409's Retry-After above this means "outcome unknown"


@dataclass(frozen=True)
class RetryPolicy:
    budget: float = 30.0  # seconds from the first attempt after which no attempt starts
    backoff: float = 0.05  # the first wait; doubles after each retry
    max_backoff: float = 2.0

    def wait(self, retry: int, rng: random.Random) -> float:
        step = min(self.max_backoff, self.backoff * float(2**retry))
        return step / 2 + rng.uniform(0, step / 2)


class Caller:
    """One thread's connection to the service (keep-alive), and its retry loop."""

    def __init__(
        self, url: str, policy: RetryPolicy, timeout: float, clock: Clock, rng: random.Random
    ) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.policy, self.clock, self.rng = policy, clock, rng

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        outcome: Outcome,
        api_key: str,
        method: str,
        path: str,
        body: bytes,
        content_type: str = "application/json",
        idempotent: bool = True,
    ) -> httpx.Response | None:
        """The final answer (any status), or None when the call ended without one that
        settles it; then `outcome.error` says why."""
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": content_type,
            "X-Request-Id": uuid.uuid4().hex,
        }
        if method == "POST" and idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        first = self.clock()
        if not outcome.attempts:
            outcome.started = first
        retry = 0
        while True:
            began = self.clock()
            response: httpx.Response | None
            try:
                response = self.http.request(method, path, content=body, headers=headers)
                result = str(response.status_code)
            except httpx.TransportError as exc:
                response, result = None, type(exc).__name__
            ended = self.clock()
            outcome.attempts.append((began, ended, result))
            wait: float | None = None
            if response is not None:
                if response.headers.get("Idempotent-Replayed") == "true":
                    outcome.replayed = True
                status = response.status_code
                after = _retry_after(response)
                if status == 409 and after is not None:
                    if after > STILL_RUNNING_MAX_WAIT:
                        outcome.error = "409 outcome unknown"
                        return None
                    wait = after
                elif status not in RETRY_STATUSES:
                    return response
                else:
                    wait = after
            if wait is None:
                wait = self.policy.wait(retry, self.rng)
            if ended + wait - first > self.policy.budget:
                outcome.error = f"gave up: {result}"
                return None
            time.sleep(wait)
            retry += 1
            outcome.retries += 1


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class Clock:
    """Seconds since the load's start on the monotonic clock, and their wall-clock time."""

    def __init__(self) -> None:
        self.mono0 = time.perf_counter()
        self.wall0 = time.time()

    def __call__(self) -> float:
        return time.perf_counter() - self.mono0

    def wall(self, moment: float) -> float:
        return round(self.wall0 + moment, 6)

"""Figures of a load run: rates, latency percentiles, errors and retries, per kind and per second."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.percentiles import percentile


@dataclass
class Outcome:
    """One logical operation, from its planned start to its last answer.

    Times are seconds on the driver's monotonic clock, from the start of the load."""

    kind: str
    planned: float  # when the open-loop schedule wanted it to start
    started: float = 0.0  # when its first attempt left
    ended: float = 0.0
    ok: bool = False
    error: str | None = None  # why it failed, after its retries
    attempts: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, result
    replayed: bool = False  # a retry answered from the first attempt's stored answer
    retries: int = 0  # attempts that repeated an earlier one of the same call


def distribution(seconds: Iterable[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean in milliseconds."""
    values = sorted(seconds)
    if not values:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ms = 1000.0
    return {
        "count": len(values),
        "p50": round(percentile(values, 50) * ms, 2),
        "p90": round(percentile(values, 90) * ms, 2),
        "p99": round(percentile(values, 99) * ms, 2),
        "max": round(values[-1] * ms, 2),
        "mean": round(sum(values) / len(values) * ms, 2),
    }


def _summary(outcomes: Sequence[Outcome], elapsed: float) -> dict[str, Any]:
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    return {
        "completed": len(done),
        "errors": len(failed),
        "rate": round(len(done) / elapsed, 1) if elapsed > 0 else 0.0,
        # HTTP requests: a clip with its upload is two, a retry one more.
        "requests_per_second": round(sum(len(o.attempts) for o in outcomes) / elapsed, 1)
        if elapsed > 0
        else 0.0,
        # From the planned start: what a caller of an open-loop schedule waits, queueing
        # in the driver included (no coordinated omission).
        "latency_ms": distribution(o.ended - o.planned for o in done),
        # From the first attempt: the service's answer, retries and backoff included.
        "service_ms": distribution(o.ended - o.started for o in done),
        "attempt_ms": distribution(end - start for o in outcomes for start, end, _ in o.attempts),
        "retries": sum(o.retries for o in outcomes),
        "retried_operations": sum(1 for o in outcomes if o.retries),
        "replayed": sum(1 for o in outcomes if o.replayed),
    }


def report(outcomes: Sequence[Outcome], elapsed: float, dropped: Counter[str]) -> dict[str, Any]:
    """The figures of a run: overall, per kind, per second (by when operations ended)."""
    figures = _summary(outcomes, elapsed)
    figures["seconds"] = round(elapsed, 3)
    figures["dropped"] = sum(dropped.values())
    figures["errors_by_reason"] = dict(Counter(o.error for o in outcomes if o.error))
    figures["attempt_results"] = dict(
        Counter(result for o in outcomes for _, _, result in o.attempts)
    )
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome)
    figures["kinds"] = {
        kind: {**_summary(rows, elapsed), "dropped": dropped.get(kind, 0)}
        for kind, rows in sorted(by_kind.items())
    }
    seconds: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        seconds[int(outcome.ended)].append(outcome)
    figures["timeline"] = [
        {
            "second": second,
            "completed": sum(1 for o in rows if o.ok),
            "errors": sum(1 for o in rows if not o.ok),
            "retries": sum(o.retries for o in rows),
            "p99_ms": distribution(o.ended - o.planned for o in rows if o.ok)["p99"],
        }
        for second, rows in sorted(seconds.items())
    ]
    return figures

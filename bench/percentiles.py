"""The one percentile of every benchmark and load figure (bench/, loadtest/).

Nearest rank: the p-th percentile of n values is the smallest value with at least p % of
the values at or below it, the value of rank ceil(p/100 * n) in ascending order. It is
always one of the measured values (never interpolated), so "p99 = 12.3 ms" means a request
really took 12.3 ms and 99 % took no longer; p100 is the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction


def percentile(values: Iterable[float], pct: float) -> float:
    """The nearest-rank `pct`-th percentile (0 <= pct <= 100) of `values`, in any order;
    pct 0 is the minimum. ValueError when there are no values."""
    if not 0 <= pct <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {pct}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values: a percentile of nothing is undefined")
    # In exact arithmetic: as floats, 7 / 100 * 100 is 7.000000000000001, ranked 8th.
    rank = math.ceil(Fraction(str(pct)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]

"""The one percentile of the benchmarks and load figures: nearest rank."""

from __future__ import annotations

import random

import pytest

from bench.percentiles import percentile
from loadtest.stats import distribution

# The worked example of the nearest-rank method (five values, as in most references).
FIVE = [15.0, 20.0, 35.0, 40.0, 50.0]


@pytest.mark.parametrize(
    ("pct", "expected"),
    [(0, 15.0), (5, 15.0), (20, 15.0), (30, 20.0), (40, 20.0), (50, 35.0), (100, 50.0)],
)
def test_nearest_rank(pct: float, expected: float) -> None:
    assert percentile(FIVE, pct) == expected


def test_order_does_not_matter_and_the_answer_is_a_measured_value() -> None:
    values = [random.Random(7).uniform(0, 1) for _ in range(1001)]
    shuffled = random.Random(8).sample(values, len(values))
    for pct in (1, 50, 90, 99, 99.9):
        assert percentile(shuffled, pct) == percentile(sorted(values), pct)
        assert percentile(values, pct) in values


def test_ranks_are_exact_not_float_rounded() -> None:
    # As floats, 7 / 100 * 100 is 7.000000000000001: ranked 8th, not 7th.
    hundred = [float(n) for n in range(1, 101)]
    assert [percentile(hundred, p) for p in range(1, 101)] == hundred
    thousand = [float(n) for n in range(1, 1001)]
    assert percentile(thousand, 99.9) == 999.0
    assert percentile(thousand, 0.1) == 1.0


def test_small_samples() -> None:
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0], 50) == 1.0  # the lower middle: a measured value
    assert percentile([1.0, 2.0], 51) == 2.0
    assert percentile(range(1, 101), 99) == 99  # p99 of 100 values: the 99th, not the max


@pytest.mark.parametrize("pct", [-1, 100.5])
def test_outside_0_to_100_is_an_error(pct: float) -> None:
    with pytest.raises(ValueError):
        percentile(FIVE, pct)


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_the_load_figures_use_it() -> None:
    seconds = [n / 1000 for n in range(1, 201)]  # 1 to 200 ms
    figures = distribution(reversed(seconds))
    assert (figures["p50"], figures["p90"], figures["p99"], figures["max"]) == (
        100.0,
        180.0,
        198.0,
        200.0,
    )
    assert distribution([])["p99"] == 0.0  # a load with no answers of a kind

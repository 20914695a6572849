"""The verifier's canonical JSON gives the bytes the ledger signs with the rfc8785 library,
for every value the log and statements can hold."""

import random

import pytest
import rfc8785

from verify.canonical import CanonicalError, canonical_json

ODD_TEXT = ["", "é", "\u2028\u2029", "\x00\x1f\x7f", '"\\/', "\b\f\n\r\t", "😀", "\ue000", "ｱ"]


def value(rng: random.Random, depth: int = 0):  # type: ignore[no-untyped-def]
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randrange(-(10**12), 10**12)])
    if kind in (2, 3):
        return "".join(rng.choice(ODD_TEXT + [chr(rng.randrange(32, 0x2FFF))]) for _ in range(3))
    if kind in (4, 5):
        keys = (rng.choice(ODD_TEXT) + str(i) for i in range(rng.randrange(5)))
        return {key: value(rng, depth + 1) for key in keys}
    return [value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_random_values_give_the_libraries_bytes():
    rng = random.Random(8785)
    for _ in range(2000):
        v = value(rng)
        assert canonical_json(v) == rfc8785.dumps(v), v


def test_keys_sort_by_utf16_code_units_not_code_points():
    # U+E000 sorts after U+1F600 in code points, before it in UTF-16 (surrogates are D8xx).
    v = {"\ue000": 1, "😀": 2, "a": 3}
    assert canonical_json(v) == rfc8785.dumps(v)
    assert canonical_json(v).decode() == '{"a":3,"😀":2,"\ue000":1}'


@pytest.mark.parametrize("bad", [1.5, {"x": [0.0]}, {1: "x"}, 2**53, "\ud800", object()])
def test_what_is_not_in_the_subset_is_refused(bad):  # type: ignore[no-untyped-def]
    with pytest.raises(CanonicalError):
        canonical_json(bad)

"""Merkle proof verification against the transparency-dev/merkle test vectors.

Every vector file under ../shared/testdata/merkle/ (inclusion/, consistency/,
subtreeinclusion/, subtreeconsistency/) is one case: its inputs, a base64 proof
(or null) and `wantErr`. Each case runs twice:

* against the independent, spec-derived verifier in tests/independent/rfc9162.py,
  which must return `not wantErr`;
* against the service's `verify.merkle`, which must return None when the proof
  is good and raise `merkle.ProofError` (and nothing else) when it is not.
"""

import base64
import binascii
import json
from pathlib import Path

import pytest

from tests.independent import rfc9162

VECTORS_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "merkle"


def _b64(value: str) -> bytes:
    """Decode a base64 hash; a string that is not base64 is passed as its raw bytes,
    so that the verifier has to reject it."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def _proof(value):
    # The vectors are Go-generated: `"proof": null` is a nil [][]byte, i.e. an
    # EMPTY proof (the size-1 happy paths have it and must verify), so it maps to
    # [] here. Passing None instead would make those happy paths fail, since the
    # verifiers reject a None proof.
    return [] if value is None else [_b64(p) for p in value]


# Per folder: the verifier function's name and its positional arguments, in the
# order shared by rfc9162 and ledger.merkle.
KINDS = {
    "inclusion": (
        "verify_inclusion",
        lambda v: (
            _b64(v["leafHash"]),
            v["leafIdx"],
            v["treeSize"],
            _proof(v["proof"]),
            _b64(v["root"]),
        ),
    ),
    "consistency": (
        "verify_consistency",
        lambda v: (v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"])),
    ),
    "subtreeinclusion": (
        "verify_subtree_inclusion",
        lambda v: (
            _b64(v["leafHash"]),
            v["leafIdx"],
            v["start"],
            v["end"],
            _proof(v["proof"]),
            _b64(v["root"]),
        ),
    ),
    "subtreeconsistency": (
        "verify_subtree_consistency",
        lambda v: (
            v["start"],
            v["end"],
            v["size"],
            _proof(v["proof"]),
            _b64(v["root1"]),
            _b64(v["root2"]),
        ),
    ),
}

MISSING = "vectors-missing"


def _cases():
    files = sorted(VECTORS_DIR.glob("*/**/*.json")) if VECTORS_DIR.is_dir() else []
    if not files:
        # Fail loudly (not skip): a missing corpus must not look like a green run.
        return [pytest.param(None, id=MISSING)]
    return [pytest.param(f, id=f.relative_to(VECTORS_DIR).as_posix()) for f in files]


def _load(path):
    if path is None:
        pytest.fail(f"Merkle test vectors not found: expected JSON files under {VECTORS_DIR}")
    kind = path.relative_to(VECTORS_DIR).parts[0]
    if kind not in KINDS:
        pytest.fail(f"unknown vector folder {kind!r} for {path}")
    vector = json.loads(path.read_text())
    name, make_args = KINDS[kind]
    return name, make_args(vector), vector["wantErr"], vector.get("desc", "")


CASES = _cases()


@pytest.mark.parametrize("path", CASES)
def test_independent_verifier(path):
    name, args, want_err, desc = _load(path)
    got = getattr(rfc9162, name)(*args)
    assert got is (not want_err), f"{name} returned {got} for {desc!r} (wantErr={want_err})"


@pytest.mark.parametrize("path", CASES)
def test_service_verifier(path):
    name, args, want_err, desc = _load(path)
    from verify import merkle

    verify = getattr(merkle, name)
    if want_err:
        with pytest.raises(merkle.ProofError):
            verify(*args)
    else:
        assert verify(*args) is None, f"{name} must return None for {desc!r}"

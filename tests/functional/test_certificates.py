"""Deletion certificates checked offline: by this code, by a stock JWS library, by the
command line; and refused when anything in them is not what the log and the keys say."""

from __future__ import annotations

import base64
import json

import pytest

from ledger.consent.receipts import sign_receipt
from ledger.log.signing import MemoryKeyStore
from tests.support.http import verify_with_jwcrypto
from verify.certificates import CertificateError, verify_certificate
from verify.jws import CERTIFICATE_TYPE


@pytest.fixture
def issued(api, container, clock):  # type: ignore[no-untyped-def]
    clip = api.clip(api.consent())
    api.derive([clip["id"]])
    request = api.post("/v1/erasure-requests", {"worker": "w-123", "scope": "all"}).json
    clock.advance(seconds=5)
    container.retention.sweep()
    erasure = api.get(f"/v1/erasure-requests/{request['id']}").json["erasures"][0]["id"]
    token = api.get(f"/v1/erasures/{erasure}/certificate").get_data(as_text=True)
    keys = api.client.get("/.well-known/custody-keys").json
    return token, keys


def _parts(token: str) -> tuple[dict, dict, str]:  # type: ignore[type-arg]
    header, claims, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(claims))),
        signature,
    )


def test_a_certificate_verifies_offline_with_a_stock_jws_library(issued):
    token, keys = issued
    claims = verify_certificate(token, keys)
    header, _, _ = _parts(token)
    assert header["typ"] == CERTIFICATE_TYPE and header["alg"] == "EdDSA"
    assert verify_with_jwcrypto(token, keys) == claims
    assert len(claims["items"]) == 2 and claims["reason"] == "erasure_requested"


def test_a_certificate_signed_by_another_key_is_refused(issued):
    token, keys = issued
    _, claims, _ = _parts(token)
    store = MemoryKeyStore()
    kid, _ = store.generate()
    forged = sign_receipt(store.signer(kid, "mallory"), claims, typ=CERTIFICATE_TYPE)
    with pytest.raises(CertificateError, match="not a published statement key"):
        verify_certificate(forged, keys)


@pytest.mark.parametrize(
    "tamper, needle",
    [
        (lambda c: c["items"].pop(), "does not match"),
        (lambda c: c.update(certificate="ers_aaaaaaaaaaaaaaaa"), "does not match"),
        (lambda c: c.update(key_destroyed=not c["key_destroyed"]), "does not match"),
        (
            lambda c: c["tombstone"].update(index=c["tombstone"]["index"] - 1),
            "not in the checkpoint",
        ),
        (
            lambda c: (
                c["inclusion_proof"].reverse()
                or c["inclusion_proof"].append(c["checkpoint"]["root_hash"])
            ),
            "not in the checkpoint",
        ),
        (lambda c: c["checkpoint"].update(tree_size=c["checkpoint"]["tree_size"] + 1), "disagree"),
        (
            lambda c: c["checkpoint"].update(
                note=c["checkpoint"]["note"].replace("\n\n", "\nx\n\n", 1)
            ),
            "checkpoint",
        ),
        (lambda c: c["tombstone"].update(entry="!!"), "garbled"),
    ],
)
def test_a_certificate_whose_proof_does_not_hold_is_refused(issued, container, tamper, needle):
    """Even signed by the real statement key, a certificate must agree with the log."""
    token, keys = issued
    _, claims, _ = _parts(token)
    tamper(claims)
    with container.db.session() as session:
        signer = container.keys.statement_signer(session)
    resigned = sign_receipt(signer, claims, typ=CERTIFICATE_TYPE)
    with pytest.raises(CertificateError, match=needle):
        verify_certificate(resigned, keys)


def test_a_changed_byte_breaks_the_signature(issued):
    token, keys = issued
    header, claims, signature = token.split(".")
    flipped = claims[:10] + ("A" if claims[10] != "A" else "B") + claims[11:]
    with pytest.raises(CertificateError):
        verify_certificate(f"{header}.{flipped}.{signature}", keys)


def test_the_command_verifies_a_certificate_file_offline(issued, custody, tmp_path):
    token, keys = issued
    (tmp_path / "cert.jws").write_text(token)
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    ok = custody(
        "certificates", "verify", str(tmp_path / "cert.jws"), "--keys", str(tmp_path / "keys.json")
    )
    assert json.loads(ok.stdout)["certificate"].startswith("ers_")
    assert "certificate verifies: 2 items erased" in ok.stderr
    (tmp_path / "bad.jws").write_text(
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    )
    bad = custody(
        "certificates",
        "verify",
        str(tmp_path / "bad.jws"),
        "--keys",
        str(tmp_path / "keys.json"),
        check=False,
    )
    assert bad.returncode == 1 and "does not verify" in bad.stderr

"""Both key stores satisfy the same contract; the file store keeps keys private."""

import os
import stat

import pytest
from nacl.signing import VerifyKey

from ledger.errors import KeyUnavailable
from ledger.log.signing import FileKeyStore, MemoryKeyStore, key_id


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    return FileKeyStore(tmp_path / "keys") if request.param == "file" else MemoryKeyStore()


def test_generated_keys_sign_verifiably(store):
    kid, public_key = store.generate()
    assert kid == key_id(public_key)
    signer = store.signer(kid, "custody.test")
    assert signer.public_key == public_key and signer.name == "custody.test"
    VerifyKey(public_key).verify(b"message", signer.sign(b"message"))
    other_kid, _ = store.generate()
    assert other_kid != kid


def test_unknown_key_is_unavailable(store):
    with pytest.raises(KeyUnavailable):
        store.signer("0123456789abcdef", "custody.test")


def test_key_files_are_private_and_checked(tmp_path):
    store = FileKeyStore(tmp_path / "keys")
    kid, _ = store.generate()
    path = tmp_path / "keys" / f"{kid}.ed25519"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    path.write_bytes(os.urandom(32))  # someone swapped the key file
    with pytest.raises(KeyUnavailable, match="does not hold"):
        FileKeyStore(tmp_path / "keys").signer(kid, "custody.test")

"""The vault's object format: chunk boundaries, tampering, truncation, swapping, shredding."""

import hashlib
import io
import os
import stat
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from ledger.errors import VaultError
from ledger.models import Base
from ledger.vault.s3 import PART, S3Backend
from ledger.vault.vault import CHUNK, ContentMismatch, LocalBackend, Vault, master_key_file
from tests.support import s3

KEY = bytes(range(32))


class Trickle(io.RawIOBase):
    """A stream that returns at most 1000 bytes per read, as sockets do."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), 1000, len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


@pytest.fixture(params=["local", "s3"])
def vault(request, tmp_path):
    if request.param == "local":
        return Vault(LocalBackend(tmp_path / "vault"), os.urandom(32))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    s3.client(endpoint).create_bucket(Bucket=bucket)
    return Vault(S3Backend(bucket, prefix="custody", client=s3.client(endpoint)), os.urandom(32))


def raw(vault: Vault, name: str) -> bytes:
    """The stored ciphertext, read around the vault."""
    backend = vault.backend
    if isinstance(backend, LocalBackend):
        return (backend.root / name).read_bytes()
    assert isinstance(backend, S3Backend)
    return backend.client.get_object(Bucket=backend.bucket, Key=backend._key(name))["Body"].read()


def overwrite(vault: Vault, name: str, data: bytes) -> None:
    backend = vault.backend
    if isinstance(backend, LocalBackend):
        (backend.root / name).write_bytes(data)
    else:
        assert isinstance(backend, S3Backend)
        backend.client.put_object(Bucket=backend.bucket, Key=backend._key(name), Body=data)


def leftovers(vault: Vault) -> list[str]:
    """Whatever a failed write left behind: files, objects, unfinished multipart uploads."""
    backend = vault.backend
    if isinstance(backend, LocalBackend):
        return [str(p) for p in backend.root.rglob("*") if p.is_file()]
    assert isinstance(backend, S3Backend)
    objects = backend.client.list_objects_v2(Bucket=backend.bucket).get("Contents", [])
    uploads = backend.client.list_multipart_uploads(Bucket=backend.bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


def store(vault: Vault, name: str, data: bytes) -> None:
    vault.put(name, KEY, Trickle(data), hashlib.sha256(data).digest())  # type: ignore[arg-type]


def read(vault: Vault, name: str, data: bytes, key: bytes = KEY) -> bytes:
    return b"".join(vault.get(name, key, hashlib.sha256(data).digest()))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7])
def test_round_trip_at_every_chunk_boundary(vault, size):
    data = os.urandom(size)
    store(vault, "t/a", data)
    assert read(vault, "t/a", data) == data
    stored = raw(vault, "t/a")
    if size >= 16:  # shorter plaintext may turn up in random ciphertext by chance
        assert data[:16] not in stored


def test_wrong_hash_leaves_no_object(vault):
    with pytest.raises(ContentMismatch):
        vault.put("t/a", KEY, io.BytesIO(b"abc"), hashlib.sha256(b"abd").digest())
    assert not vault.backend.exists("t/a")
    assert leftovers(vault) == []


def test_large_objects_stream_in_parts_and_failed_ones_leave_nothing(vault):
    data = os.urandom(PART * 2 + 12345)  # three multipart parts on S3
    store(vault, "t/big", data)
    assert read(vault, "t/big", data) == data
    vault.backend.delete("t/big")
    assert not vault.backend.exists("t/big")
    with pytest.raises(ContentMismatch):
        vault.put("t/big", KEY, io.BytesIO(data), hashlib.sha256(b"other").digest())
    assert leftovers(vault) == []


def test_unreachable_storage_is_a_vault_error():
    backend = S3Backend("vault", client=s3.client("http://127.0.0.1:9"))
    vault = Vault(backend, os.urandom(32))
    with pytest.raises(VaultError):
        store(vault, "t/a", b"data")
    with pytest.raises(VaultError):
        read(vault, "t/a", b"data")
    with pytest.raises(VaultError):
        backend.exists("t/a")


def test_a_failing_disk_is_a_vault_error(tmp_path):
    blocked = tmp_path / "vault"
    blocked.write_bytes(b"a file where the folder should be")
    with pytest.raises(VaultError):
        store(Vault(LocalBackend(blocked), os.urandom(32)), "t/a", b"data")


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # the final chunk cut short
        lambda b: b[: len(b) - (len(b) - 40) % (CHUNK + 17)],  # the final chunk dropped
        lambda b: b[:50] + bytes([b[50] ^ 1]) + b[51:],  # a flipped bit
        lambda b: b + b"\0" * 10,  # bytes after the end
        lambda b: b"x" * 40 + b[40:],  # a replaced header
    ],
)
def test_damage_is_detected(vault, damage):
    data = os.urandom(2 * CHUNK + 100)
    store(vault, "t/a", data)
    overwrite(vault, "t/a", damage(raw(vault, "t/a")))
    with pytest.raises(VaultError):
        read(vault, "t/a", data)


def test_objects_cannot_be_swapped_or_read_with_another_key(vault):
    data = os.urandom(100)
    store(vault, "t/a", data)
    store(vault, "t/b", data)
    overwrite(vault, "t/b", raw(vault, "t/a"))
    with pytest.raises(VaultError):
        read(vault, "t/b", data)
    with pytest.raises(VaultError):
        read(vault, "t/a", data, key=bytes(32))
    with pytest.raises(VaultError):
        read(vault, "t/missing", data)


def test_data_keys_are_wrapped_and_shredded(vault):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        vault.ensure_key(session, "wkr_aaaaaaaa", now)
        vault.ensure_key(session, "wkr_bbbbbbbb", now)
        session.flush()
        key = vault.data_key(session, "wkr_aaaaaaaa")
        assert len(key) == 32 and key != vault.data_key(session, "wkr_bbbbbbbb")
        vault.ensure_key(session, "wkr_aaaaaaaa", now)
        assert vault.data_key(session, "wkr_aaaaaaaa") == key  # kept, not replaced
        vault.destroy_key(session, "wkr_aaaaaaaa", now)
        with pytest.raises(VaultError):
            vault.data_key(session, "wkr_aaaaaaaa")
        vault.ensure_key(session, "wkr_aaaaaaaa", now)
        assert vault.data_key(session, "wkr_aaaaaaaa") != key  # a fresh key after a shred
        other = Vault(vault.backend, os.urandom(32))
        with pytest.raises(VaultError, match="master key"):
            other.data_key(session, "wkr_bbbbbbbb")


def test_master_key_file_is_private_and_stable(tmp_path):
    path = tmp_path / "keys" / "vault-master.key"
    first = master_key_file(path)
    assert master_key_file(path) == first and len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

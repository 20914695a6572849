"""The vault: content bytes, encrypted under a data key per worker, streamed in chunks.

Each object is a libsodium secretstream (XChaCha20-Poly1305): a header, then chunks of
`CHUNK` plaintext bytes, the last one shorter and tagged final. Every chunk is authenticated
together with the object's name, so a chunk cut, reordered, truncated or moved to another
object fails to decrypt. Nothing is ever held whole in memory.

A worker's data key is wrapped (AES-256-GCM) by the master key and kept in `worker_keys`;
destroying the wrapped key makes every copy of that worker's ciphertext unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from sqlalchemy.orm import Session

from ledger.errors import InvalidRequest, VaultError
from ledger.models import WorkerKey

MAGIC = b"custody-vault/1\n"
CHUNK = 64 * 1024
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_NAME = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*")


class ContentMismatch(InvalidRequest):
    def __init__(self, expected: str, got: str, size: int) -> None:
        super().__init__(
            f"the bytes sent ({size} bytes) hash to {got}, not the registered {expected}",
            "content",
        )


class Backend(Protocol):
    """Where ciphertext lives. `put` consumes the chunks and makes the object visible only
    when all of them were written; `get` yields it back in pieces of any size."""

    def put(self, name: str, chunks: Iterator[bytes]) -> None: ...

    def get(self, name: str) -> Iterator[bytes]: ...

    def delete(self, name: str) -> None: ...

    def delete_many(self, names: list[str]) -> None:
        """Delete objects (absent ones are fine); raise VaultError if any may remain."""
        ...

    def exists(self, name: str) -> bool: ...


class LocalBackend:
    """A folder; objects appear by atomic rename after fsync."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad object name {name!r}")
        return self.root / name

    def put(self, name: str, chunks: Iterator[bytes]) -> None:
        path = self._path(name)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            if isinstance(exc, OSError):  # disk full, permissions: the vault is failing
                raise VaultError(f"the vault folder failed writing {name}: {exc}") from exc
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, name: str) -> Iterator[bytes]:
        try:
            handle = open(self._path(name), "rb")
        except FileNotFoundError:
            raise VaultError(f"object {name} is not in the vault") from None
        with handle:
            while block := handle.read(CHUNK + _ABYTES):
                yield block

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as exc:
            raise VaultError(f"the vault folder failed deleting {name}: {exc}") from exc

    def delete_many(self, names: list[str]) -> None:
        for name in names:
            self.delete(name)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()


class Vault:
    def __init__(self, backend: Backend, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the vault master key must be 32 bytes")
        self.backend = backend
        self._master = AESGCM(master_key)

    # Data keys ---------------------------------------------------------------------------

    def ensure_key(self, session: Session, worker_id: str, now: datetime) -> None:
        """Give the worker a data key unless they have a live one (after a shred, a new one)."""
        row = session.get(WorkerKey, worker_id)
        if row is not None and row.wrapped is not None:
            return
        wrapped = self.seal(secrets.token_bytes(32), worker_id)
        if row is None:
            session.add(WorkerKey(worker_id=worker_id, wrapped=wrapped, created_at=now))
        else:
            row.wrapped, row.created_at, row.destroyed_at = wrapped, now, None

    def data_key(self, session: Session, worker_id: str) -> bytes:
        row = session.get(WorkerKey, worker_id)
        if row is None or row.wrapped is None:
            raise VaultError("the worker's data key does not exist (destroyed or never made)")
        return self.unseal(row.wrapped, worker_id)

    def destroy_key(self, session: Session, worker_id: str, now: datetime) -> bool:
        """Forget the worker's data key; False if there was no live one."""
        row = session.get(WorkerKey, worker_id)
        if row is None or row.wrapped is None:
            return False
        row.wrapped, row.destroyed_at = None, now
        return True

    # Small secrets kept in the database: data keys, webhook signing secrets --------------

    def seal(self, secret: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._master.encrypt(nonce, secret, context.encode())

    def unseal(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._master.decrypt(sealed[:12], sealed[12:], context.encode())
        except InvalidTag:
            raise VaultError(f"a secret of {context} does not unseal: wrong master key") from None

    # Objects -----------------------------------------------------------------------------

    def put(self, name: str, key: bytes, source: IO[bytes], expected_sha256: bytes) -> int:
        """Encrypt `source` into object `name`, hashing the plaintext as it passes. The object
        appears only if the hash is the expected one; returns the plaintext size."""
        digest = hashlib.sha256()
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            state = sodium.crypto_secretstream_xchacha20poly1305_state()
            yield MAGIC + sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
            ad = name.encode()
            pending = _read_full(source, CHUNK)
            while True:
                digest.update(pending)
                size += len(pending)
                if len(pending) < CHUNK:
                    break
                following = _read_full(source, CHUNK)
                yield sodium.crypto_secretstream_xchacha20poly1305_push(
                    state, pending, ad, _MESSAGE
                )
                pending = following
            if digest.digest() != expected_sha256:
                raise ContentMismatch(expected_sha256.hex(), digest.hexdigest(), size)
            yield sodium.crypto_secretstream_xchacha20poly1305_push(state, pending, ad, _FINAL)

        self.backend.put(name, chunks())
        return size

    def get(self, name: str, key: bytes, expected_sha256: bytes) -> Iterator[bytes]:
        """Decrypt object `name` chunk by chunk; a chunk is released only once authenticated,
        and the stream raises VaultError rather than end without its final tag or with a
        hash other than the expected one."""
        blocks = _rechunk(self.backend.get(name), len(MAGIC) + _HEADER, CHUNK + _ABYTES)
        head = next(blocks, b"")
        if len(head) != len(MAGIC) + _HEADER or not head.startswith(MAGIC):
            raise VaultError(f"object {name} is not a vault object")
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, head[len(MAGIC) :], key)
        digest = hashlib.sha256()
        ad = name.encode()
        for block in blocks:
            try:
                plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, block, ad)
            except CryptoError:
                raise VaultError(f"object {name} failed authentication") from None
            digest.update(plain)
            if tag == _FINAL:
                if next(blocks, None) is not None:
                    raise VaultError(f"object {name} has data after its end")
                if digest.digest() != expected_sha256:
                    raise VaultError(f"object {name} does not hash to its registered sha256")
                yield plain
                return
            yield plain
        raise VaultError(f"object {name} is truncated")


def master_key_file(path: Path) -> bytes:
    """The master key kept in a file (the embedded default): made on first use, mode 0600.
    Two processes starting at once agree on one key: only one can create the file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} must hold a 32-byte key")
    return key


def _read_full(source: IO[bytes], size: int) -> bytes:
    """Read exactly `size` bytes unless the source ends first (streams may return less)."""
    parts: list[bytes] = []
    wanted = size
    while wanted:
        part = source.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _rechunk(pieces: Iterator[bytes], first: int, size: int) -> Iterator[bytes]:
    """Regroup a byte stream into a block of `first` bytes, then blocks of `size` bytes."""
    buffer = bytearray()
    wanted = first
    for piece in pieces:
        buffer += piece
        while len(buffer) >= wanted:
            yield bytes(buffer[:wanted])
            del buffer[:wanted]
            wanted = size
    if buffer:
        yield bytes(buffer)

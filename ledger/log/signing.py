"""Ed25519 signing keys behind a small interface, and where their private halves live.

Private keys never enter the database: a `KeyStore` keeps them (a folder of 0600 files by
default; memory in unit tests). The database lists public keys and their lifetimes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nacl.signing import SigningKey

from ledger.errors import KeyUnavailable


class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte detached Ed25519 signature."""
        ...


def key_id(public_key: bytes) -> str:
    """Our public id for a key: the first 8 bytes of SHA-256(public key), hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Ed25519Signer:
    kid: str
    name: str
    public_key: bytes
    _key: SigningKey

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature


class KeyStore(Protocol):
    def generate(self) -> tuple[str, bytes]:
        """Make and keep a new private key; return its id and public key."""
        ...

    def signer(self, kid: str, name: str) -> Signer: ...


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, SigningKey] = {}

    def generate(self) -> tuple[str, bytes]:
        key = SigningKey.generate()
        pub = bytes(key.verify_key)
        self._keys[key_id(pub)] = key
        return key_id(pub), pub

    def signer(self, kid: str, name: str) -> Signer:
        try:
            key = self._keys[kid]
        except KeyError:
            raise KeyUnavailable(f"private key {kid} is not in this key store") from None
        return Ed25519Signer(kid, name, bytes(key.verify_key), key)


class FileKeyStore:
    """One `<kid>.ed25519` file of 32 seed bytes per key, created 0600 in a 0700 folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def generate(self) -> tuple[str, bytes]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = SigningKey.generate()
        pub = bytes(key.verify_key)
        kid = key_id(pub)
        path = self.folder / f"{kid}.ed25519"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(key))
            handle.flush()
            os.fsync(handle.fileno())
        return kid, pub

    def signer(self, kid: str, name: str) -> Signer:
        with self._lock:
            key = self._cache.get(kid)
            if key is None:
                path = self.folder / f"{kid}.ed25519"
                try:
                    key = SigningKey(path.read_bytes())
                except (OSError, ValueError) as exc:
                    raise KeyUnavailable(f"private key {kid} cannot be read from {path}") from exc
                if key_id(bytes(key.verify_key)) != kid:
                    raise KeyUnavailable(f"key file {path} does not hold key {kid}")
                self._cache[kid] = key
        return Ed25519Signer(kid, name, bytes(key.verify_key), key)

"""C2SP signed notes and tlog-checkpoints, Ed25519 only. Stand-alone: hashlib and PyNaCl.

A checkpoint body is `origin\\nsize\\nbase64(root)\\n`; the signed note appends a blank line
and one `— name base64(key_hash || signature)` line per signature, where key_hash is the
first four bytes of SHA-256(name || 0x0A || 0x01 || public_key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

ED25519 = b"\x01"
DASH = "\u2014"


class NoteError(ValueError):
    """A note or checkpoint that is malformed or whose signatures do not verify."""


class NoteSigner(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The C2SP verifier key string `name+hex(key_hash)+base64(0x01 || key)`."""
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    try:
        name, hash_hex, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError("malformed verifier key") from exc
    if raw[:1] != ED25519 or len(raw) != 33:
        raise NoteError("verifier key is not an Ed25519 key")
    if key_hash(name, raw[1:]).hex() != hash_hex:
        raise NoteError("verifier key hash does not match its name and key")
    return name, raw[1:]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def sign_note(body: str, signers: Sequence[NoteSigner]) -> str:
    if not body.endswith("\n"):
        raise NoteError("note body must end with a newline")
    lines = []
    for signer in signers:
        signature = signer.sign(body.encode())
        blob = key_hash(signer.name, signer.public_key) + signature
        lines.append(f"{DASH} {signer.name} {base64.b64encode(blob).decode()}\n")
    return body + "\n" + "".join(lines)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


def parse_note(text: str) -> tuple[str, list[NoteSignature]]:
    body, sep, sig_block = text.rpartition("\n\n")
    if not sep or not sig_block.endswith("\n"):
        raise NoteError("note has no signature block")
    signatures = []
    for line in sig_block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError("malformed signature line")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise NoteError("signature is not base64") from exc
        if len(blob) < 5:
            raise NoteError("signature is too short")
        signatures.append(NoteSignature(parts[1], blob[:4], blob[4:]))
    return body + "\n", signatures


def verify_note(text: str, keys: Iterable[tuple[str, bytes]]) -> tuple[str, list[str]]:
    """Check a note against known (name, public key) pairs.

    Returns the body and the names of the keys whose signatures verified. Signatures by
    unknown keys are ignored, as C2SP asks; a signature that claims to be by a known key and
    does not verify is a forgery and fails the whole note; so does a note with no signature
    by any known key.
    """
    body, signatures = parse_note(text)
    known = {(name, key_hash(name, pub)): pub for name, pub in keys}
    verified = []
    for sig in signatures:
        pub = known.get((sig.name, sig.key_hash))
        if pub is None:
            continue
        try:
            VerifyKey(pub).verify(body.encode(), sig.signature)
        except BadSignatureError as exc:
            raise NoteError(f"signature by {sig.name} does not verify") from exc
        verified.append(sig.name)
    if not verified:
        raise NoteError("no signature by a known key")
    return body, verified


def parse_checkpoint(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise NoteError("malformed checkpoint origin or size")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("checkpoint root is not base64") from exc
    if len(root) != 32:
        raise NoteError("checkpoint root is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)

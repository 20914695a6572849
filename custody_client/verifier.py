"""Checking what the service says without trusting it.

The only things trusted are the published key document (fetched once from
/.well-known/custody-keys, or pinned by the caller) and checkpoints this client verified
before. Signatures and proofs are checked with the service's own stand-alone verifier package,
`verify`, which uses nothing but the standard library, hashlib and PyNaCl.

A log's latest checkpoint is accepted only when its signature verifies and an RFC 9162
consistency proof links it to the last one this client accepted for that log: a log that
shrank or forked is refused (RollbackError). A checkpoint met elsewhere (inside a
certificate or a manifest) is proven consistent with the latest one too.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from custody_client.downloads import Download
from custody_client.errors import RollbackError, VerificationError
from custody_client.logs import Logs
from custody_client.memory import CheckpointMemory, VerifiedCheckpoint
from custody_client.types import Consent, KeyDocument, Manifest, Withdrawal
from verify.certificates import CertificateError, verify_certificate
from verify.jws import ReceiptError, receipt_hash, verify_receipt
from verify.log import keys_from_document
from verify.manifests import ManifestError, verify_manifest
from verify.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from verify.note import NoteError, parse_checkpoint, verify_note
from verify.reports import ReportError, matches_entry


@dataclass(frozen=True)
class ProvenEntry:
    """A log entry proven to be in a verified checkpoint: its exact bytes and their JSON."""

    log: str
    index: int
    entry: bytes
    data: dict[str, Any]
    checkpoint: VerifiedCheckpoint


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise VerificationError("a hash or entry is not base64") from exc


class Verifier:
    def __init__(
        self,
        logs: Logs,
        *,
        keys: KeyDocument | None = None,
        memory: CheckpointMemory | None = None,
    ) -> None:
        self._logs = logs
        self._keys = keys
        self.pinned = keys is not None
        self.memory = memory or CheckpointMemory()
        self._lock = threading.RLock()

    # --- keys -----------------------------------------------------------------------------

    def keys(self) -> KeyDocument:
        """The key document: pinned, or fetched once and kept."""
        with self._lock:
            if self._keys is None:
                self._keys = self._logs.keys()
            return self._keys

    def refresh_keys(self) -> KeyDocument:
        """Fetch the key document again (after a key rotation); pinned keys stay as they are."""
        with self._lock:
            if not self.pinned:
                self._keys = None
            return self.keys()

    # --- checkpoints ----------------------------------------------------------------------

    def open(self, log: str, note: str) -> VerifiedCheckpoint:
        """A checkpoint note whose signature verifies against the published log keys and
        whose origin is this service's; nothing about its history yet."""
        document = self.keys()
        try:
            body, _ = verify_note(note, keys_from_document(dict(document)))
            parsed = parse_checkpoint(body)
        except NoteError as exc:
            raise VerificationError(f"the checkpoint does not verify: {exc}") from exc
        if not parsed.origin.startswith(f"{document['origin']}/"):
            raise VerificationError(
                f"the checkpoint is for origin {parsed.origin!r}, not this service"
            )
        known = self.memory.get(log)
        if known is not None and known.origin != parsed.origin:
            raise VerificationError(f"log {log} was {known.origin!r}, now {parsed.origin!r}")
        return VerifiedCheckpoint(log, parsed.origin, parsed.size, parsed.root, note)

    def checkpoint(self, log: str | None = None, note: str | None = None) -> VerifiedCheckpoint:
        """The log's latest checkpoint (fetched, or `note`), verified and proven consistent
        with the last one accepted; it becomes the one to compare later ones with."""
        log = self._log(log)
        fresh = self.open(log, note if note is not None else self._logs.checkpoint(log))
        with self._lock:
            known = self.memory.get(log)
            if known is not None:
                if fresh.size < known.size:
                    raise RollbackError(
                        f"log {log} went backwards: tree size {fresh.size} after {known.size}"
                    )
                self._prove_consistent(known, fresh)
            if known is None or fresh.size > known.size:
                self.memory.put(fresh)
            return fresh

    def observe(self, log: str, note: str) -> VerifiedCheckpoint:
        """A checkpoint met elsewhere (a certificate, a manifest): verified and proven
        consistent with the latest accepted one, older or newer; a newer one is accepted."""
        seen = self.open(log, note)
        with self._lock:
            latest = self.memory.get(log) or self.checkpoint(log)
            if seen.size > latest.size:
                return self.checkpoint(log, note)
            self._prove_consistent(seen, latest)
            return seen

    def latest(self, log: str | None = None) -> VerifiedCheckpoint:
        """The last accepted checkpoint of the log, fetching and verifying one if none."""
        log = self._log(log)
        return self.memory.get(log) or self.checkpoint(log)

    def _prove_consistent(self, old: VerifiedCheckpoint, new: VerifiedCheckpoint) -> None:
        if old.size == new.size:
            if old.root != new.root:
                raise RollbackError(f"log {old.log} forked: two roots for tree size {old.size}")
            return
        proof = self._logs.consistency_proof(old.size, new.size, old.log)
        try:
            hashes = [_b64(h) for h in proof["proof"]]
            verify_consistency(old.size, new.size, hashes, old.root, new.root)
        except (ProofError, KeyError, TypeError) as exc:
            raise RollbackError(
                f"log {old.log} at size {new.size} is not consistent with size {old.size}: {exc}"
            ) from exc

    # --- entries --------------------------------------------------------------------------

    def entry(
        self,
        index: int,
        log: str | None = None,
        *,
        entry: bytes | None = None,
        checkpoint: VerifiedCheckpoint | None = None,
        wait: float = 0.0,
    ) -> ProvenEntry:
        """Prove entry `index` is in a verified checkpoint: the one given, else the latest
        accepted one, else a newer one fetched (for up to `wait` seconds, as the service
        signs a checkpoint within about a second of an append). Its bytes are fetched unless
        given; the leaf hash is computed here from the bytes."""
        log = self._log(log)
        signed = checkpoint or self._covering(log, index, wait)
        if index >= signed.size:
            raise VerificationError(
                f"entry {index} is not covered by a signed checkpoint yet (size {signed.size})"
            )
        if entry is None:
            fetched = self._logs.entries(log, start=index, end=index + 1).items
            if len(fetched) != 1 or fetched[0]["index"] != index:
                raise VerificationError(f"the service did not return entry {index}")
            entry = _b64(fetched[0]["entry"])
        proof = self._logs.inclusion_proof(index, signed.size, log)
        try:
            hashes = [_b64(h) for h in proof["proof"]]
            verify_inclusion(leaf_hash(entry), index, signed.size, hashes, signed.root)
        except (ProofError, KeyError, TypeError) as exc:
            raise VerificationError(f"entry {index} is not in the checkpoint: {exc}") from exc
        try:
            data = json.loads(entry)
        except ValueError as exc:
            raise VerificationError(f"entry {index} is not JSON") from exc
        if not isinstance(data, dict) or data.get("seq") != index or data.get("log") != log:
            raise VerificationError(f"entry {index} does not name its own place in log {log}")
        return ProvenEntry(log, index, entry, data, signed)

    def _covering(self, log: str, index: int, wait: float) -> VerifiedCheckpoint:
        signed = self.latest(log)
        until = time.monotonic() + wait
        while index >= signed.size:
            signed = self.checkpoint(log)
            if index < signed.size or time.monotonic() >= until:
                break
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))
        return signed

    # --- signed statements ----------------------------------------------------------------

    def receipt(self, token: str) -> dict[str, Any]:
        """A consent or withdrawal receipt's claims, once its signature verifies against a
        published statement key."""
        try:
            return verify_receipt(token, self.keys()["keys"])
        except ReceiptError as exc:
            raise VerificationError(f"the receipt does not verify: {exc}") from exc

    def consent(
        self, consent: Consent, log: str | None = None, *, on_log: bool = True, wait: float = 0.0
    ) -> dict[str, Any]:
        """Every receipt of a consent (given, and each withdrawal) verifies and says what the
        answer says; with `on_log`, each is the one whose hash is on the log at its index."""
        claims = self.receipt(consent["receipt"])
        if claims.get("receipt_id") != consent["id"] or claims.get("subject") != consent["worker"]:
            raise VerificationError("the receipt is not this consent's")
        if on_log:
            logged = (consent["log_index"], "consent.given", consent["id"], consent["receipt"])
            self._on_log(log, *logged, wait=wait)
        for event in consent["events"]:
            if event["receipt"] is None:
                continue
            withdrawn = self.receipt(event["receipt"])
            if (
                withdrawn.get("withdraws") != consent["id"]
                or withdrawn.get("receipt_id") != event["id"]
            ):
                raise VerificationError(f"receipt of {event['id']} is not this consent's")
            if on_log:
                kind = "consent.withdrawn" if event["kind"] == "withdrawn" else None
                token = event["receipt"]
                self._on_log(log, event["log_index"], kind, consent["id"], token, wait=wait)
        return claims

    def withdrawal(
        self,
        withdrawal: Withdrawal,
        log: str | None = None,
        *,
        on_log: bool = True,
        wait: float = 0.0,
    ) -> dict[str, Any]:
        """A withdrawal receipt verifies, names the consent, and (with `on_log`) its hash is
        the one on the log at its index."""
        claims = self.receipt(withdrawal["receipt"])
        if (
            claims.get("withdraws") != withdrawal["consent"]
            or claims.get("receipt_id") != withdrawal["id"]
        ):
            raise VerificationError("the receipt is not this withdrawal's")
        if on_log:
            consent, token = withdrawal["consent"], withdrawal["receipt"]
            self._on_log(
                log, withdrawal["log_index"], "consent.withdrawn", consent, token, wait=wait
            )
        return claims

    def _on_log(
        self,
        log: str | None,
        index: int,
        kind: str | None,
        consent: str,
        token: str,
        *,
        wait: float,
    ) -> ProvenEntry:
        proven = self.entry(index, log, wait=wait)
        data = proven.data.get("data") or {}
        matches = (
            (kind is None or proven.data.get("type") == kind)
            and data.get("consent") == consent
            and data.get("receipt") == receipt_hash(token)
        )
        if not matches:
            raise VerificationError(f"log entry {index} does not record this receipt")
        return proven

    def certificate(self, token: str, *, on_log: bool = True) -> dict[str, Any]:
        """A deletion certificate: its signature, its checkpoint's signature, the tombstone's
        inclusion proof and contents (verify.certificates); with `on_log`, its checkpoint
        is also proven consistent with the log as this client last saw it."""
        try:
            claims = verify_certificate(token, dict(self.keys()))
        except CertificateError as exc:
            raise VerificationError(f"the certificate does not verify: {exc}") from exc
        if on_log:
            self.observe(claims["tombstone"]["log"], claims["checkpoint"]["note"])
        return claims

    def manifest(self, manifest: Manifest | str, *, on_log: bool = True) -> dict[str, Any]:
        """A training-set manifest (the answer, or its JWS): its signature, checkpoint and the
        inclusion of its log entry (verify.manifests), that the answer says what the signed
        claims say, and with `on_log` that its checkpoint is consistent with the log."""
        token = manifest if isinstance(manifest, str) else manifest["manifest"]
        if token is None:
            raise VerificationError(
                "this manifest carries no signed form (not signed yet, or items of it were "
                "erased since): verify the copy first given out, or use Manifests.signed"
            )
        try:
            claims = verify_manifest(token, dict(self.keys()))
        except ManifestError as exc:
            raise VerificationError(f"the manifest does not verify: {exc}") from exc
        if not isinstance(manifest, str):
            signed = [item["item"] for item in claims.get("items", [])]
            if claims.get("manifest") != manifest["id"] or signed != [
                item["item"] for item in manifest["items"]
            ]:
                raise VerificationError("the manifest's answer and its signed claims differ")
        if on_log:
            self.observe(claims["entry"]["log"], claims["checkpoint"]["note"])
        return claims

    def report(self, download: Download, *, wait: float = 0.0) -> dict[str, Any]:
        """A report or export as downloaded: its `report.issued` entry is proven in a verified
        checkpoint (see `entry`) and records the SHA-256 of exactly the bytes received.
        Returns the entry's data."""
        if download.log_index is None:
            raise VerificationError("this download names no log entry (Custody-Log-Index)")
        proven = self.entry(download.log_index, wait=wait)
        try:
            return matches_entry(download.sha256, proven.data)
        except ReportError as exc:
            raise VerificationError(f"the report does not verify: {exc}") from exc

    def _log(self, log: str | None) -> str:
        chosen = log or self._logs.default_log
        if not chosen:
            raise ValueError("name the log (log_...), or give log_id= to Custody")
        return chosen

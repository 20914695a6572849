"""Verify a log without trusting whoever stores it: hashlib and PyNaCl only.

Used on the live database (ledger.log.verification) and on an exported bundle (verify.bundle),
so that anyone holding a bundle and the published keys can check it with no service.

It re-hashes every entry's stored bytes (never re-serializing them), checks each entry's
position, log and `prev` chain, recomputes the tree root at every signed checkpoint,
checks each checkpoint's signature, checks that consecutive checkpoints are consistent
(RFC 9162 proofs) and stops at the first problem, naming the entry or checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verify import merkle
from verify.note import NoteError, parse_checkpoint, parse_verifier_key, verify_note

ENVELOPE = frozenset({"v", "log", "seq", "ts", "type", "subject", "data", "prev"})
_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class VerificationError(Exception):
    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class StoredEntry:
    index: int
    body: bytes
    leaf_hash: bytes | None = None


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    note: str
    root_hash: bytes | None = None


@dataclass
class LogReport:
    log_id: str
    origin: str
    entries: int = 0
    checkpoints: int = 0
    root: bytes = merkle.EMPTY_ROOT
    signed_by: set[str] = field(default_factory=set)
    error: str | None = None
    bad_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.ok:
            return (
                f"log {self.log_id}: OK, {self.entries} entries, {self.checkpoints} checkpoints, "
                f"root {base64.b64encode(self.root).decode()}"
            )
        return f"log {self.log_id}: FAILED: {self.error}"


ConsistencySource = Callable[[int, int], Sequence[bytes]]


def verify_log(
    *,
    log_id: str,
    origin: str,
    entries: Iterable[StoredEntry],
    checkpoints: Sequence[StoredCheckpoint],
    log_keys: Sequence[tuple[str, bytes]],
    expected_size: int | None = None,
    expected_root: bytes | None = None,
    consistency: ConsistencySource | None = None,
    trusted: Sequence[str] = (),
) -> LogReport:
    report = LogReport(log_id, origin)
    try:
        _verify(
            report,
            entries,
            checkpoints,
            log_keys,
            expected_size,
            expected_root,
            consistency,
            trusted,
        )
    except VerificationError as exc:
        report.error = str(exc)
        report.bad_index = exc.index
    return report


def _verify(
    report: LogReport,
    entries: Iterable[StoredEntry],
    checkpoints: Sequence[StoredCheckpoint],
    log_keys: Sequence[tuple[str, bytes]],
    expected_size: int | None,
    expected_root: bytes | None,
    consistency: ConsistencySource | None,
    trusted: Sequence[str],
) -> None:
    roots_at = _signed_roots(report, checkpoints, log_keys, trusted)
    frontier = _walk(report.log_id, entries, roots_at)
    report.entries = frontier.size
    report.root = frontier.root()
    _check_head(frontier.size, report.root, max(roots_at, default=0), expected_size, expected_root)
    if consistency is not None:
        roots_at.setdefault(frontier.size, report.root)
        _check_consistency(roots_at, consistency)
    report.checkpoints = len(checkpoints)


def _signed_roots(
    report: LogReport,
    checkpoints: Sequence[StoredCheckpoint],
    log_keys: Sequence[tuple[str, bytes]],
    trusted: Sequence[str],
) -> dict[int, bytes]:
    """The root signed at each tree size, from the stored checkpoints and those the caller
    saw before; two different roots at one size are a fork."""
    signed = [open_checkpoint(cp, report, log_keys) for cp in checkpoints]
    signed += [
        open_checkpoint(StoredCheckpoint(-1, note), report, log_keys, trusted=True)
        for note in trusted
    ]
    roots_at: dict[int, bytes] = {}
    for size, root in sorted(signed, key=lambda pair: pair[0]):
        if roots_at.setdefault(size, root) != root:
            raise VerificationError(f"two signed checkpoints at size {size} disagree (a fork)")
    return roots_at


def _walk(
    log_id: str, entries: Iterable[StoredEntry], roots_at: dict[int, bytes]
) -> merkle.Frontier:
    """Re-hash every entry in order, checking its place and chain, and the root at every
    signed size."""
    frontier = merkle.Frontier()
    prev: bytes | None = None
    for stored in entries:
        prev = _check_entry(stored, frontier.size, log_id, prev)
        frontier.append(prev)
        size = frontier.size
        if size in roots_at and frontier.root() != roots_at[size]:
            raise VerificationError(
                f"entry {size - 1} was changed: entries 0..{size - 1} do not hash to the root "
                f"signed at tree size {size}",
                size - 1,
            )
    return frontier


def _check_entry(stored: StoredEntry, position: int, log_id: str, prev: bytes | None) -> bytes:
    """Check one entry at `position` after the entry whose leaf hash is `prev`; return its
    leaf hash."""
    if stored.index != position:
        if stored.index > position:
            raise VerificationError(f"entry {position} is missing", position)
        raise VerificationError(f"entry {stored.index} appears twice", stored.index)
    entry = parse_entry(stored.body, position)
    if entry["seq"] != position:
        raise VerificationError(
            f"entry {position} carries seq {entry['seq']}: entries were moved or swapped",
            position,
        )
    if entry["log"] != log_id:
        raise VerificationError(f"entry {position} belongs to log {entry['log']}", position)
    leaf = merkle.leaf_hash(stored.body)
    if stored.leaf_hash is not None and stored.leaf_hash != leaf:
        raise VerificationError(
            f"entry {position} was changed: its bytes no longer hash to its leaf hash",
            position,
        )
    if _b64_or_none(entry["prev"], position) != prev:
        bad = position - 1 if position else 0
        raise VerificationError(
            f"entry {bad} was changed: entry {position}'s prev does not match its hash", bad
        )
    return leaf


def _check_head(
    size: int,
    root: bytes,
    largest_signed: int,
    expected_size: int | None,
    expected_root: bytes | None,
) -> None:
    """The entries found against the largest signed size and the head row's size and root."""
    if largest_signed > size:
        raise VerificationError(
            f"log truncated: a checkpoint is signed at tree size {largest_signed} but only "
            f"{size} entries are present; entry {size} is missing",
            size,
        )
    if expected_size is not None and expected_size != size:
        if expected_size > size:
            raise VerificationError(
                f"log truncated: the head says {expected_size} entries, found {size}; "
                f"entry {size} is missing",
                size,
            )
        raise VerificationError(f"the head says {expected_size} entries but {size} are present")
    if expected_root is not None and expected_root != root:
        raise VerificationError("the head's root hash does not match the entries")


def _check_consistency(roots_at: dict[int, bytes], consistency: ConsistencySource) -> None:
    """RFC 9162 consistency between each pair of neighbouring signed sizes."""
    sizes = sorted(size for size in roots_at if size > 0)
    for first, second in itertools.pairwise(sizes):
        try:
            merkle.verify_consistency(
                first, second, consistency(first, second), roots_at[first], roots_at[second]
            )
        except (merkle.ProofError, LookupError) as exc:
            raise VerificationError(
                f"checkpoint at size {first} is not consistent with size {second}: {exc}"
            ) from exc


def open_checkpoint(
    checkpoint: StoredCheckpoint,
    report: LogReport,
    log_keys: Sequence[tuple[str, bytes]],
    trusted: bool = False,
) -> tuple[int, bytes]:
    label = "trusted checkpoint" if trusted else f"checkpoint at tree size {checkpoint.tree_size}"
    try:
        body, names = verify_note(checkpoint.note, log_keys)
        parsed = parse_checkpoint(body)
    except NoteError as exc:
        raise VerificationError(f"{label}: {exc}") from exc
    if parsed.origin != report.origin:
        raise VerificationError(f"{label}: signed for origin {parsed.origin}, not {report.origin}")
    if not trusted and parsed.size != checkpoint.tree_size:
        raise VerificationError(f"{label}: the note says tree size {parsed.size}")
    if checkpoint.root_hash is not None and checkpoint.root_hash != parsed.root:
        raise VerificationError(f"{label}: the stored root differs from the signed root")
    report.signed_by.update(names)
    return parsed.size, parsed.root


def _reject_float(text: str) -> Any:
    raise ValueError("floats are not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys")
    return result


def parse_entry(body: bytes, position: int) -> dict[str, Any]:
    try:
        entry = json.loads(
            body.decode("utf-8"), parse_float=_reject_float, object_pairs_hook=_no_duplicates
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"entry {position} is not a valid entry: {exc}", position) from exc
    if not isinstance(entry, dict) or set(entry) != ENVELOPE:
        raise VerificationError(f"entry {position} does not have the entry fields", position)
    ok = (
        type(entry["v"]) is int
        and type(entry["seq"]) is int
        and isinstance(entry["log"], str)
        and isinstance(entry["type"], str)
        and isinstance(entry["ts"], str)
        and _TS.match(entry["ts"]) is not None
        and isinstance(entry["data"], dict)
        and (entry["subject"] is None or isinstance(entry["subject"], str))
        and (entry["prev"] is None or isinstance(entry["prev"], str))
    )
    if not ok:
        raise VerificationError(f"entry {position} has a field of the wrong type", position)
    return entry


def _b64_or_none(value: str | None, position: int) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise VerificationError(f"entry {position}: prev is not base64", position) from exc


# --- published keys --------------------------------------------------------------------------


def keys_from_document(document: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """The log keys of a published key document (/.well-known/custody-keys)."""
    keys = []
    for key in document.get("keys", []):
        if key.get("purpose") == "log" and key.get("verifier_key"):
            keys.append(parse_verifier_key(key["verifier_key"]))
    return keys

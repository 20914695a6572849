"""The audit bundle and its verifier: hashlib, PyNaCl and the standard library, no service.

A bundle (a zip) holds one tenant's log entries for a period, each with its RFC 9162
inclusion proof against one signed checkpoint (the anchor), the entry just before and just
after the period (which prove where it starts and ends), the signed checkpoints from the
one before the period up to the anchor with consistency proofs between neighbours, the
published keys, the tenant's projections as CSV and JSON Lines, a README and SHA256SUMS.

Entries are checked first, so that a changed entry is named, not just a changed file.
Projections are not signed; each row that cites an entry of the bundle (`log_index`) is
checked against it, and each CSV row must say what its JSON Lines row says.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import heapq
import io
import itertools
import json
import zipfile
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from verify import merkle
from verify.log import (
    LogReport,
    StoredCheckpoint,
    VerificationError,
    keys_from_document,
    open_checkpoint,
    parse_entry,
)
from verify.note import NoteError

FORMAT = "custody-audit-bundle/v2"
MANIFEST = "SHA256SUMS"
ENTRIES = "entries.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
CONSISTENCY = "consistency.jsonl"


def cell(value: Any) -> str:
    """How a JSON Lines value is written in the CSV twin of its file."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify_bundle(
    path: Path, keys_document: dict[str, Any] | None = None, trusted: Sequence[str] = ()
) -> LogReport:
    """Verify an audit bundle. Pass the key document fetched from the service's
    /.well-known/custody-keys so as not to trust the keys the bundle carries, and any
    checkpoint seen before, which the bundle must be consistent with."""
    try:
        with zipfile.ZipFile(path) as bundle:
            meta = json.loads(bundle.read("bundle.json"))
            if meta.get("format") != FORMAT:
                raise VerificationError(f"not a {FORMAT} bundle")
            document = keys_document or json.loads(bundle.read("keys.json"))
            return _Check(bundle, meta, keys_from_document(document), trusted).run()
    except VerificationError:
        raise
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError, NoteError) as exc:
        raise VerificationError(f"unreadable bundle: {exc!r}") from exc


class _Check:
    def __init__(
        self,
        bundle: zipfile.ZipFile,
        meta: dict[str, Any],
        keys: list[tuple[str, bytes]],
        trusted: Sequence[str],
    ) -> None:
        self.bundle, self.meta, self.keys, self.trusted = bundle, meta, keys, trusted
        self.report = LogReport(meta["log"], meta["origin"])
        self.size = int(meta["tree_size"])
        self.first, self.end = int(meta["entries"]["first"]), int(meta["entries"]["end"])
        self.since, self.until = meta["period"]["from"], meta["period"]["to"]
        # The period's entries and the one on either side of it, where there is one.
        self.lo = self.first - 1 if self.first > 0 else 0
        self.hi = self.end + 1 if self.end < self.size else self.end
        if not 0 <= self.first <= self.end <= self.size:
            raise VerificationError("bundle.json: entries must lie within the tree size")

    def run(self) -> LogReport:
        root = self._checkpoints()
        self._entries(root)
        self._manifest()
        self.report.entries = self.end - self.first
        self.report.root = root
        return self.report

    # --- checkpoints ---------------------------------------------------------------------

    def _checkpoints(self) -> bytes:
        with contextlib.closing(_jsonl(self.bundle, CHECKPOINTS)) as lines:  # closed on a failure
            opened = [
                open_checkpoint(
                    StoredCheckpoint(int(c["tree_size"]), c["note"]), self.report, self.keys
                )
                for c in lines
            ]
        self.report.checkpoints = len(opened)
        seen = [
            open_checkpoint(StoredCheckpoint(-1, note), self.report, self.keys, trusted=True)
            for note in self.trusted
        ]
        roots: dict[int, bytes] = {}
        for size, root in opened + seen:
            if roots.setdefault(size, root) != root:
                raise VerificationError(f"two signed checkpoints at size {size} disagree (a fork)")
        if self.size not in roots:
            raise VerificationError(f"no signed checkpoint at the bundle's tree size {self.size}")
        for size, _ in seen:
            if size > self.size:
                raise VerificationError(
                    f"log truncated: you saw a checkpoint at tree size {size}, but the bundle "
                    f"rests on tree size {self.size}"
                )
        with contextlib.closing(_jsonl(self.bundle, CONSISTENCY)) as lines:
            proofs = {
                (int(p["first"]), int(p["second"])): [base64.b64decode(h) for h in p["proof"]]
                for p in lines
            }
        sizes = sorted(roots)
        for first, second in itertools.pairwise(sizes):
            if (first, second) not in proofs:
                raise VerificationError(
                    f"no consistency proof from tree size {first} to {second} in the bundle"
                )
            try:
                merkle.verify_consistency(
                    first, second, proofs[(first, second)], roots[first], roots[second]
                )
            except merkle.ProofError as exc:
                raise VerificationError(
                    f"checkpoint at size {first} is not consistent with size {second}: {exc}"
                ) from exc
        return roots[self.size]

    # --- entries -------------------------------------------------------------------------

    def _entries(self, root: bytes) -> None:
        tables = [self._rows(table) for table in self.meta["projections"]]
        try:
            self._walk(root, heapq.merge(*tables, key=lambda c: c[0]))
        finally:
            for rows in tables:  # each holds open files of the bundle
                rows.close()

    def _walk(self, root: bytes, citations: Iterator[tuple[int, str, str]]) -> None:
        cited = next(citations, None)
        expected, prev = self.lo, None
        with contextlib.closing(_jsonl(self.bundle, ENTRIES)) as lines:  # closed on a failure
            for line in lines:
                index = int(line["index"])
                if index != expected:
                    if index > expected:
                        raise VerificationError(f"entry {expected} is missing", expected)
                    raise VerificationError(f"entry {index} appears twice", index)
                body = base64.b64decode(line["entry"], validate=True)
                entry = self._entry(index, body, line, root, prev)
                mentions = None
                while cited is not None and cited[0] == index:
                    mentions = mentions or _strings(entry)
                    if cited[2] not in mentions:
                        raise VerificationError(
                            f"projections/{cited[1]}: a row cites entry {index}, which does "
                            f"not mention {cited[2]}",
                            index,
                        )
                    cited = next(citations, None)
                prev = merkle.leaf_hash(body)
                expected += 1
        if expected < self.hi:
            raise VerificationError(
                f"entries truncated: entry {expected} is missing (the bundle names entries up "
                f"to {self.hi - 1})",
                expected,
            )
        for _ in citations:  # the rest of each file is still compared with its CSV twin
            pass

    def _entry(
        self, index: int, body: bytes, line: dict[str, Any], root: bytes, prev: bytes | None
    ) -> dict[str, Any]:
        entry = parse_entry(body, index)
        if entry["seq"] != index:
            raise VerificationError(
                f"entry {index} carries seq {entry['seq']}: entries were moved or swapped", index
            )
        if entry["log"] != self.report.log_id:
            raise VerificationError(f"entry {index} belongs to log {entry['log']}", index)
        leaf = merkle.leaf_hash(body)
        if base64.b64decode(line["leaf_hash"], validate=True) != leaf:
            raise VerificationError(
                f"entry {index} was changed: its bytes no longer hash to its leaf hash", index
            )
        proof = [base64.b64decode(h, validate=True) for h in line["proof"]]
        try:
            merkle.verify_inclusion(leaf, index, self.size, proof, root)
        except merkle.ProofError as exc:
            raise VerificationError(
                f"entry {index} was changed: it is not in the tree signed at size {self.size} "
                f"({exc})",
                index,
            ) from exc
        if (index > self.lo or index == 0) and entry["prev"] != (b64(prev) if prev else None):
            raise VerificationError(
                f"entry {index - 1} was changed: entry {index}'s prev does not match its hash",
                index - 1,
            )
        self._in_period(index, entry["ts"])
        return entry

    def _in_period(self, index: int, ts: str) -> None:
        """The edges prove the period: the entry before it is earlier than `from`, the first
        is not, the last is earlier than `to` and the one after it is not."""
        since, until = self.since or "", self.until
        inside = since <= ts < until
        edge = {self.first - 1: ts < since, self.end: ts >= until}
        if self.first < self.end:
            edge |= {self.first: inside, self.end - 1: inside}
        if not edge.get(index, True):
            raise VerificationError(
                f"entry {index} ({ts}) contradicts the period [{self.since}, {self.until}) "
                f"the bundle claims for entries {self.first}..{self.end - 1}",
                index,
            )

    # --- projections ---------------------------------------------------------------------

    def _rows(self, table: dict[str, Any]) -> Generator[tuple[int, str, str]]:
        """Compare a projection's JSON Lines with its CSV twin, row by row; yield the rows
        that cite an entry of the bundle as (index, table, the value the entry must hold)."""
        name, columns, cites = table["name"], table["columns"], table.get("cites")
        lines = contextlib.closing(_jsonl(self.bundle, f"projections/{name}.jsonl"))
        with self.bundle.open(f"projections/{name}.csv") as raw, lines as rows:
            twin = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            if next(twin, None) != columns:
                raise VerificationError(f"projections/{name}.csv: the header is not {columns}")
            count, last = 0, -1
            for row in rows:
                count += 1
                if list(row) != columns:
                    raise VerificationError(f"projections/{name}.jsonl row {count}: bad columns")
                if next(twin, None) != [cell(row[c]) for c in columns]:
                    raise VerificationError(
                        f"projections/{name}.csv row {count} differs from the JSON Lines row"
                    )
                index = row.get("log_index")
                if index is None:
                    continue
                if index < last:
                    raise VerificationError(f"projections/{name}.jsonl is not in log order")
                last = index
                if cites and row[cites] is not None and self.lo <= index < self.hi:
                    yield index, name, row[cites]
            if next(twin, None) is not None or count != table["rows"]:
                raise VerificationError(
                    f"projections/{name}: the CSV, the JSON Lines and bundle.json disagree on "
                    "the number of rows"
                )

    # --- files ---------------------------------------------------------------------------

    def _manifest(self) -> None:
        listed = {}
        for line in self.bundle.read(MANIFEST).decode().splitlines():
            digest, name = line.split("  ", 1)
            listed[name] = digest
        present = set(self.bundle.namelist()) - {MANIFEST}
        if set(listed) != present:
            raise VerificationError(
                f"{MANIFEST} does not list exactly the bundle's files: "
                f"{sorted(set(listed) ^ present)}"
            )
        for name, digest in sorted(listed.items()):
            if _sha256(self.bundle, name) != digest:
                raise VerificationError(f"{name} does not match its SHA-256 in {MANIFEST}")


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


def _sha256(bundle: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with bundle.open(name) as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonl(bundle: zipfile.ZipFile, name: str) -> Generator[dict[str, Any]]:
    with bundle.open(name) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)

"""Reports, checked offline: a PDF or bundle handed around is the one the service issued
when its SHA-256 is what a `report.issued` entry on the tenant's log records, and that
entry is proven in a signed checkpoint.

The evidence is what the log API serves for the report's log index (the `Custody-Log-Index`
header of the download, or `log_index` of GET /v1/reports/{id}): the entry's bytes from
/entries, a signed checkpoint from /checkpoint and the inclusion proof from
/proofs/inclusion, gathered as `{"log", "index", "entry", "checkpoint": {"tree_size",
"root_hash", "note"}, "inclusion_proof"}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from verify.anchored import verify_anchored


class ReportError(ValueError):
    """A report that is not the one its log entry records, or evidence that does not hold."""


def matches_entry(sha256_hex: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Check that a parsed log entry records the issue of the file with this SHA-256; return
    the entry's data (which report, its kind and period, the checkpoint it rests on)."""
    data = entry.get("data")
    if entry.get("type") != "report.issued" or not isinstance(data, dict):
        raise ReportError("the entry is not a report.issued entry")
    if data.get("sha256") != sha256_hex:
        raise ReportError("the file's SHA-256 is not the one the log records for this report")
    return data


def verify_report(
    content: bytes, evidence: Mapping[str, Any], keys_document: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a report file against its evidence and the published key document."""
    try:
        index = int(evidence["index"])
        raw = verify_anchored(
            evidence["entry"],
            index,
            evidence["checkpoint"],
            evidence["inclusion_proof"],
            keys_document,
        )
        entry = json.loads(raw)
        placed = entry["log"] == evidence["log"] and entry["seq"] == index
    except (KeyError, TypeError, ValueError) as exc:  # AnchorError is a ValueError
        raise ReportError(f"report evidence: {exc}") from exc
    if not placed:
        raise ReportError("the entry does not sit where the evidence says")
    return matches_entry(hashlib.sha256(content).hexdigest(), entry)

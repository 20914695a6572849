"""Training-set manifests, checked offline: the signature (statement key), the checkpoint
(log key), that the `manifest.issued` entry is in it, and that the entry records exactly
this manifest's decisions and the SHA-256 of its lists."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from verify.anchored import agrees, open_statement
from verify.canonical import canonical_json


class ManifestError(ValueError):
    """A manifest that is malformed, or whose signature or proof does not verify."""


def listed_sha256(content: Mapping[str, Any]) -> str:
    """What the log holds of a manifest's lists: SHA-256 of their RFC 8785 form, hex."""
    lists = {"items": content["items"], "refused": content["refused"]}
    return hashlib.sha256(canonical_json(lists)).hexdigest()


def _matches(claims: dict[str, Any], data: dict[str, Any]) -> bool:
    decisions = data["decisions"]
    allowed = {d["item"] for d in decisions if d["decision"] == "allow"}
    refused = {d["item"] for d in decisions if d["decision"] != "allow" and d["item"]}
    return bool(
        data["manifest"] == claims["manifest"]
        and data["purpose"] == claims["purpose"]
        and data["recipient"] == claims["recipient"]
        and data["items_sha256"] == listed_sha256(claims)
        and allowed == {i["item"] for i in claims["items"]}
        and refused == {r["item"] for r in claims["refused"] if r["item"]}
    )


def verify_manifest(token: str, keys_document: Mapping[str, Any]) -> dict[str, Any]:
    """Check a manifest against a key document from /.well-known/custody-keys; return its
    claims."""
    statement = open_statement(
        token,
        keys_document,
        pointer="entry",
        entry_type="manifest.issued",
        error=ManifestError,
        what="manifest",
    )
    agrees(statement, _matches, ManifestError, "manifest")
    return statement.claims

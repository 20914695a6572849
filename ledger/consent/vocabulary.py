"""The controlled vocabulary: the only words that describe consent on the log."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.errors import InvalidRequest

PURPOSES = (
    "motion_imitation",
    "manipulation_planning",
    "action_recognition",
    "benchmarking",
    "model_validation",
    "third_party_training",
    "commercial_reuse",
)
DATA_CATEGORIES = (
    "body_motion",
    "face",
    "voice",
    "home_interior",
    "bystanders",
    "health_revealing",
    "biometric_identifiers",
)
COLLECTION_METHODS = ("in_app", "web_form", "paper_form", "recorded_verbal")
RECIPIENT_KINDS = ("platform_only", "named_third_parties", "any")
# A named third party is a short slug chosen by the platform, never free text.
PARTY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

# The PROV activity that made an item derived from clips (its kinds: ledger.items.items).
ACTIVITY_TYPES = (
    "annotation",
    "labeling",
    "redaction",
    "feature_extraction",
    "transcoding",
    "dataset_assembly",
)
# How precisely a clip's place of capture is known; raw positions are never accepted.
LOCATION_GRANULARITIES = ("none", "country", "region", "city")
# A use check names who will receive the data: the platform itself, or a named party.
PLATFORM = "platform"


def terms(values: Iterable[str], allowed: tuple[str, ...], name: str) -> list[str]:
    """A non-empty list of distinct terms from `allowed`, sorted; InvalidRequest otherwise."""
    values = list(values)
    if not values or len(set(values)) != len(values):
        raise InvalidRequest(f"{name} must be a non-empty list without repeats", name)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidRequest(
            f"unknown {name}: {', '.join(unknown)}; use: {', '.join(allowed)}", name
        )
    return sorted(values)

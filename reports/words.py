"""The vocabulary in plain words, for people with no legal or technical training."""

from __future__ import annotations

from datetime import date, datetime

from ledger.consent.consents import ConsentStatus
from ledger.consent.vocabulary import PLATFORM
from ledger.items.items import ItemKind
from retention.erasure import ErasureReason
from retention.requests import RequestScope


def N_(text: str) -> str:  # noqa: N802  (gettext's name for "translate later")
    """Marks a phrase for the message catalogs: the portal shows it translated, the PDF
    report in English."""
    return text


PURPOSES = {
    "motion_imitation": N_("teaching robots to copy your movements"),
    "manipulation_planning": N_("teaching robots to handle objects"),
    "action_recognition": N_("teaching computers to recognise actions"),
    "benchmarking": N_("testing how well robot software works"),
    "model_validation": N_("checking robot software before it is used"),
    "third_party_training": N_("training other companies' robot software"),
    "commercial_reuse": N_("selling or licensing the recordings to others"),
}
CATEGORIES = {
    "body_motion": N_("how your body moves"),
    "face": N_("your face"),
    "voice": N_("your voice"),
    "home_interior": N_("the inside of your home"),
    "bystanders": N_("other people who appear"),
    "health_revealing": N_("things that may show your health"),
    "biometric_identifiers": N_("features that can identify you (such as gait)"),
}
KINDS: dict[str, str] = {
    ItemKind.CLIP: N_("recording"),
    ItemKind.LABEL: N_("label"),
    ItemKind.ANNOTATION: N_("annotation"),
    ItemKind.REDACTED_COPY: N_("copy with faces hidden"),
    ItemKind.FEATURE_FILE: N_("extracted features"),
    ItemKind.DATASET_MEMBERSHIP: N_("part of a data set"),
}
COLLECTION = {
    "in_app": N_("in the platform's app"),
    "web_form": N_("on a web form"),
    "paper_form": N_("on a paper form"),
    "recorded_verbal": N_("spoken and recorded"),
}
ERASURE_REASONS: dict[str, str] = {
    ErasureReason.RETENTION_ENDED: N_("the agreed keeping time ended"),
    ErasureReason.CONSENT_WITHDRAWN: N_("you withdrew your consent"),
    ErasureReason.ERASURE_REQUESTED: N_("you asked for it to be erased"),
}
CONSENT_STATUS: dict[str, str] = {
    ConsentStatus.ACTIVE: N_("in force"),
    ConsentStatus.WITHDRAWN: N_("withdrawn"),
    ConsentStatus.SUPERSEDED: N_("replaced by a newer agreement"),
}
REQUEST_SCOPES: dict[str, str] = {
    RequestScope.ALL: N_("everything"),
    RequestScope.CONSENT: N_("everything under one agreement"),
    RequestScope.ITEM: N_("one recording"),
}
# Where a worker can complain, by the consent's jurisdiction (ISO 3166 country code).
AUTHORITIES = {
    "NG": "the Nigeria Data Protection Commission (ndpc.gov.ng)",
    "PH": "the National Privacy Commission of the Philippines (privacy.gov.ph)",
    "CO": "the Superintendencia de Industria y Comercio of Colombia (sic.gov.co)",
    "KE": "the Office of the Data Protection Commissioner of Kenya (odpc.go.ke)",
    "BR": "the Autoridade Nacional de Proteção de Dados of Brazil (gov.br/anpd)",
    "IN": "the Data Protection Board of India",
    "GB": "the Information Commissioner's Office (ico.org.uk)",
    "US": "the Federal Trade Commission or your state's attorney general",
}
EU = {
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
    "IS",
    "LI",
    "NO",
}


def one(table: dict[str, str], term: str) -> str:
    return table.get(term, term.replace("_", " "))


def listed(table: dict[str, str], terms: list[str]) -> str:
    return "; ".join(one(table, t) for t in terms) or "none"


def recipients(kind: str, parties: list[str]) -> str:
    if kind == "platform_only":
        return "only the platform itself"
    if kind == "named_third_parties":
        return "the platform and these companies: " + ", ".join(parties)
    return "the platform and any company it chooses"


def recipient(name: str) -> str:
    return "the platform" if name == PLATFORM else name


def retention(term: str) -> str:
    if term == "until_project_end":
        return "until the project ends"
    if term.startswith("until:"):
        return f"until {term.removeprefix('until:')}"
    return f"for {duration(term)} after recording"


def duration(term: str) -> str:
    """ISO 8601 durations as people say them: P30D -> 30 days, PT45S -> 45 seconds."""
    units = {"Y": "year", "M": "month", "W": "week", "D": "day"}
    time_units = {"H": "hour", "M": "minute", "S": "second"}
    out, number, in_time = [], "", False
    for char in term.removeprefix("P"):
        if char == "T":
            in_time = True
        elif char.isdigit() or char in ".,":
            number += char
        else:
            unit = (time_units if in_time else units).get(char, char)
            out.append(f"{number} {unit}{'' if number == '1' else 's'}")
            number = ""
    return ", ".join(out) or term


def authority(jurisdiction: str) -> str:
    code = jurisdiction.upper()[:2]
    if code in AUTHORITIES:
        return AUTHORITIES[code]
    if code in EU:
        return "your country's data protection authority (see edpb.europa.eu)"
    return "the data protection authority of your country"


def day(moment: datetime | date | None) -> str:
    return moment.strftime("%d %b %Y") if moment is not None else "—"


def when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC") if moment is not None else "—"

"""The vocabulary in the worker's language: the plain phrases of reports/words.py through the
message catalogs, and durations, dates and recipients put together per language."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_date, format_datetime, gettext, ngettext

from ledger.consent.vocabulary import PLATFORM
from reports import words

TABLES = {
    "purpose": words.PURPOSES,
    "category": words.CATEGORIES,
    "kind": words.KINDS,
    "collection": words.COLLECTION,
    "reason": words.ERASURE_REASONS,
    "consent_status": words.CONSENT_STATUS,
    "scope": words.REQUEST_SCOPES,
}


def term(table: str, value: str) -> str:
    """One vocabulary term in plain words, translated."""
    phrase = TABLES[table].get(value)
    return str(gettext(phrase)) if phrase else value.replace("_", " ")


def recipients(kind: str, parties: list[str]) -> str:
    if kind == "platform_only":
        said = gettext("only the platform itself")
    elif kind == "named_third_parties":
        said = gettext("the platform and these companies: %(parties)s", parties=", ".join(parties))
    else:
        said = gettext("the platform and any company it chooses")
    return str(said)


def recipient(name: str) -> str:
    return str(gettext("the platform")) if name == PLATFORM else name


def duration(value: str) -> str:
    """An ISO 8601 duration as people say it: P30D -> 30 days."""
    units = {
        "Y": lambda n: ngettext("%(num)s year", "%(num)s years", n),
        "M": lambda n: ngettext("%(num)s month", "%(num)s months", n),
        "W": lambda n: ngettext("%(num)s week", "%(num)s weeks", n),
        "D": lambda n: ngettext("%(num)s day", "%(num)s days", n),
    }
    time_units = {
        "H": lambda n: ngettext("%(num)s hour", "%(num)s hours", n),
        "M": lambda n: ngettext("%(num)s minute", "%(num)s minutes", n),
        "S": lambda n: ngettext("%(num)s second", "%(num)s seconds", n),
    }
    out, number, in_time = [], "", False
    for char in value.removeprefix("P"):
        if char == "T":
            in_time = True
        elif char.isdigit():
            number += char
        elif number:
            say = (time_units if in_time else units).get(char)
            out.append(say(int(number)) if say else f"{number}{char}")
            number = ""
    return ", ".join(out) or value


def retention(value: str) -> str:
    if value == "until_project_end":
        said = gettext("until the project ends")
    elif value.startswith("until:"):
        said = gettext("until %(date)s", date=value.removeprefix("until:"))
    else:
        said = gettext("for %(duration)s after recording", duration=duration(value))
    return str(said)


def day(moment: datetime | None) -> str:
    return format_date(moment, "medium") if moment is not None else "—"


def when(moment: datetime | None) -> str:
    return f"{format_datetime(moment, 'medium')} UTC" if moment is not None else "—"


def captured(stamp: str | None) -> str:
    """A capture time as the platform sent it (RFC 3339), shown as `when` shows times."""
    try:
        return when(datetime.fromisoformat(stamp)) if stamp else ""
    except ValueError:
        return stamp or ""


FILTERS = {
    "captured": captured,
    "day": day,
    "when": when,
    "recipients": recipients,
    "recipient": recipient,
    "retention": retention,
}

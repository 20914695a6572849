"""The portal's languages. Every string a worker reads is in the message catalogs under
api/portal/translations (Babel's layout; `pybabel extract` with babel.cfg finds them)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel

LANGUAGES = {"en": "English", "fr": "Français", "es": "Español"}
DEFAULT = "en"
CATALOGS = Path(__file__).parent / "translations"


def _locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def install(app: Flask) -> None:
    Babel(app, locale_selector=_locale, default_translation_directories=str(CATALOGS))

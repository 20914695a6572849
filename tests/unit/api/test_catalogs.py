"""The portal's message catalogs: every string the code and templates use is translated in
every language, placeholders agree, and the compiled catalogs are the sources compiled."""

from __future__ import annotations

import gettext
from configparser import ConfigParser

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.portal.i18n import CATALOGS, LANGUAGES
from tests.conftest import ROOT


def _extracted() -> set[str | tuple[str, str]]:
    config = ConfigParser()
    config.read(ROOT / "babel.cfg")
    methods = [tuple(reversed(section.split(": ", 1))) for section in config.sections()]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=methods, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.fixture(scope="module")
def extracted() -> set[str | tuple[str, str]]:
    messages = _extracted()
    assert len(messages) > 150  # the portal's pages and the vocabulary
    return messages


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_string_is_translated_and_compiled(language, extracted):  # type: ignore[no-untyped-def]
    source = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages = {m.id: m for m in catalog if m.id}
    missing = [m for m in extracted if m not in messages]
    assert not missing, f"not in the {language} catalog (run pybabel update): {missing}"
    untranslated = [
        m.id
        for m in messages.values()
        if m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    assert not untranslated, untranslated
    assert [(m.id, e) for m, e in catalog.check()] == []
    with (CATALOGS / language / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for message in messages.values():
        if isinstance(message.id, tuple):
            assert compiled.ngettext(*message.id, 1) == message.string[0], message.id
            assert compiled.ngettext(*message.id, 5) == message.string[1], message.id
        else:
            assert compiled.gettext(message.id) == message.string, (
                f"{language} messages.mo is older than messages.po (run pybabel compile)"
            )

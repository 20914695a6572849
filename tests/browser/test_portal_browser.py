"""The worker's portal end to end in a real headless Chromium at phone size, against the app
served on 127.0.0.1: open the link, read the consents, withdraw one purpose (and see the
platform's check denied through the API), ask for erasure, run the sweep, download the
certificate and the report, and find the used link refused. Every page is screenshotted,
checked with axe-core, and weighed with everything it loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from api.app import create_app
from tests.conftest import ROOT
from tests.support.browser import CHROMIUM, FLAGS, HAVE_CHROMIUM, MISSING, PHONE, artifacts, serve
from tests.support.http import verify_with_jwcrypto

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason=MISSING)
LIMIT = 100_000  # bytes a page may weigh with everything it loads


@pytest.fixture
def db_url(templates, tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: the pages' queries run on both databases in test_portal.py."""
    url = templates["sqlite"].fresh(tmp_path)
    yield url
    templates["sqlite"].drop(url)


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def site(container):  # type: ignore[no-untyped-def]
    with serve(create_app(container=container)) as base:
        yield base


@pytest.fixture
def phone(chromium, site):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=PHONE, base_url=site, accept_downloads=True)
    page = context.new_page()
    weights: dict[str, int] = {}

    def weigh(response: Any) -> None:
        try:
            weights[response.url] = len(response.body())
        except Exception:  # a redirect has no body
            weights[response.url] = 0

    page.on("response", weigh)
    page.weights = weights  # type: ignore[attr-defined]
    yield page
    context.close()


class Pages:
    """Screenshots, accessibility and weight of every page visited."""

    def __init__(self, page: Any) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page, self.axe, self.folder, self.seen = page, Axe(), artifacts(ROOT), []

    def check(self, name: str) -> str:
        page = self.page
        page.wait_for_load_state("load")
        page.screenshot(
            path=str(self.folder / f"{len(self.seen) + 1:02d}-{name}.png"), full_page=True
        )
        results = self.axe.run(page, options={"runOnly": ["wcag2a", "wcag2aa", "best-practice"]})
        violations = [(v["id"], v["help"]) for v in results.response["violations"]]
        assert violations == [], f"{name}: {violations}"
        weight = sum(page.weights.values())
        assert weight < LIMIT, f"{name} weighs {weight} bytes"
        page.weights.clear()
        self.seen.append((name, weight))
        return str(page.content())


def _open(page: Any, url: str) -> None:
    page.weights.clear()
    page.goto(url)


def _download(page: Any, path: str, link: str) -> Path:
    """Click a download link in a tab of its own (Chromium holds back a second download
    from one tab), as a worker opening it would."""
    tab = page.context.new_page()
    try:
        tab.goto(path)
        with tab.expect_download() as download:
            tab.get_by_role("link", name=link).first.click()
        saved: Path = download.value.path()
        return saved
    finally:
        tab.close()


def test_a_worker_goes_through_the_portal_on_a_phone(phone, api, client, clock, container):
    consent = api.consent(purposes=["motion_imitation", "benchmarking"])
    clip = api.clip(consent)["id"]
    api.derive([clip])
    api.check(clip, "benchmarking")
    url = api.post("/v1/workers/w-123/access-links", {}).json["url"]
    pages = Pages(phone)

    _open(phone, url.replace("http://localhost", ""))
    assert "See what was done" in pages.check("enter")
    phone.get_by_role("button", name="Open my records").click()
    assert "Recordings of you" in pages.check("summary")

    phone.get_by_role("link", name="What you agreed to").first.click()
    text = pages.check("consents")
    assert "teaching robots to copy your movements" in text and "in force" in text
    receipt = _download(phone, "/portal/consents", "Download the signed receipt")
    keys = client.get("/.well-known/custody-keys").json
    claims = verify_with_jwcrypto(receipt.read_text(), keys)
    assert claims["receipt_id"] == consent

    phone.get_by_role("link", name="Withdraw consent").click()
    pages.check("withdraw")
    phone.get_by_label("testing how well robot software works").check()
    phone.get_by_role("button", name="Next: review").click()
    assert "stays in force" in pages.check("withdraw-review")
    assert api.check(clip, "benchmarking")["decision"] == "allow"
    phone.get_by_role("button", name="Yes, withdraw").click()
    assert "your consent was withdrawn" in pages.check("withdrawn")
    assert api.check(clip, "benchmarking")["decision"] == "deny"
    assert api.check(clip, "motion_imitation")["decision"] == "allow"

    phone.get_by_role("link", name="Your recordings").first.click()
    text = pages.check("recordings")
    assert "How it was used" in text and "testing how well robot software works" in text

    phone.get_by_role("link", name="Erase", exact=True).click()
    pages.check("erasure")
    phone.get_by_role("button", name="Erase everything", exact=True).click()
    assert "This reaches 1 recording and 1 thing made from them" in pages.check("erasure-review")
    phone.get_by_role("button", name="Yes, erase").click()
    assert "Your request was received" in pages.check("erasure-requested")
    assert api.check(clip, "motion_imitation")["decision"] == "deny"

    clock.advance(seconds=5)
    report = container.retention.sweep()
    assert report.certified == 1
    _open(phone, "/portal/erasure")
    pages.check("erasure-done")
    certificate = _download(phone, "/portal/erasure", "Download the deletion certificate")
    claims = verify_with_jwcrypto(certificate.read_text(), keys)
    assert clip in {item["id"] for item in claims["items"]}

    clock.advance(seconds=2)  # the report waits for a signed checkpoint over the sweep's entries
    reader = PdfReader(_download(phone, "/portal/", "Download your full report"))
    words = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Your recordings and what was done with them" in words
    assert "you asked for it to be erased" in words

    phone.get_by_role("button", name="Sign out").click()
    pages.check("signed-out")
    _open(phone, url.replace("http://localhost", ""))
    assert "already used" in pages.check("link-used")
    (artifacts(ROOT) / "weights.json").write_text(json.dumps(pages.seen, indent=1))


def test_the_portal_in_french_and_spanish(phone, api, clock):
    consent = api.consent(purposes=["motion_imitation"])
    api.clip(consent)
    url = api.post("/v1/workers/w-123/access-links", {"language": "fr"}).json["url"]
    pages = Pages(phone)
    _open(phone, url.replace("http://localhost", ""))
    assert "Ouvrir mon dossier" in pages.check("fr-enter")
    phone.get_by_role("button", name="Ouvrir mon dossier").click()
    phone.get_by_role("link", name="Ce que vous avez accepté").first.click()
    assert "apprendre aux robots à imiter vos mouvements" in pages.check("fr-consents")
    phone.get_by_label("Langue").select_option("es")
    phone.get_by_role("button", name="Changer").click()
    assert "enseñar a robots a imitar sus movimientos" in pages.check("es-consents")
    phone.keyboard.press("Tab")  # the first stop is the skip link, for keyboard users
    focused = phone.evaluate("document.activeElement.textContent")
    assert focused == "Ir al contenido"

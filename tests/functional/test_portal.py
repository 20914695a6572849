"""The worker's portal through its own forms (the browser tests drive the same pages in
Chromium): sign-in, CSRF, one worker per session, withdrawal and erasure with a review
step, downloads, languages, and pages small enough for a slow connection."""

from __future__ import annotations

import logging
import re

import pytest

from tests.support.http import verify_with_jwcrypto
from tests.support.worker import csrf, link, sign_in, submit

PAGES = ["/portal/", "/portal/consents", "/portal/recordings", "/portal/erasure"]


@pytest.fixture
def recorded(api):  # type: ignore[no-untyped-def]
    mine = api.consent(purposes=["motion_imitation", "benchmarking"])
    theirs = api.consent(worker="w-456")
    clip = api.clip(mine)["id"]
    api.derive([clip])
    api.check(clip, "benchmarking")
    other_clip = api.clip(theirs, worker="w-456")["id"]
    return {"consent": mine, "other": theirs, "clip": clip, "other_clip": other_clip}


@pytest.fixture
def signed_in(api, client, recorded):  # type: ignore[no-untyped-def]
    sign_in(client, link(api))
    return recorded


def test_opening_a_link_does_not_use_it_until_the_worker_confirms(api, client, recorded):
    token = link(api)
    for _ in range(2):  # a link preview, then the worker
        assert client.get(f"/portal/enter?link={token}").status_code == 200
    sign_in(client, token)
    home = client.get("/portal/")
    assert home.status_code == 200 and "Recordings of you" in home.get_data(as_text=True)
    reused = client.get(f"/portal/enter?link={token}")
    assert reused.status_code == 410 and "already used" in reused.get_data(as_text=True)
    assert reused.mimetype == "text/html"


def test_bad_links_get_a_clear_page(api, client, clock, recorded):
    token = link(api, expires_in=60)
    changed = token[:-5] + ("B" if token[-5] != "B" else "C") + token[-4:]
    forged = client.get(f"/portal/enter?link={changed}")
    assert forged.status_code == 403 and "does not work" in forged.get_data(as_text=True)
    assert client.get("/portal/enter").status_code == 403
    clock.advance(seconds=61)
    expired = client.get(f"/portal/enter?link={token}")
    assert expired.status_code == 410 and "has expired" in expired.get_data(as_text=True)


def test_too_many_bad_links_from_one_address_are_refused_with_a_page(api, client, recorded):
    for _ in range(10):
        client.get("/portal/enter?link=nonsense")
    limited = client.get(f"/portal/enter?link={link(api)}")
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert "Too many attempts" in limited.get_data(as_text=True)


def test_pages_need_a_session_and_the_cookie_is_locked_down(api, client, recorded):
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 401 and "open your link again" in page.get_data(as_text=True)
    token = link(api)
    landing = client.get(f"/portal/enter?link={token}")
    done = client.post("/portal/enter", data={"csrf_token": csrf(landing), "link": token})
    cookie = done.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "w-123" not in cookie and "wkr_" not in cookie


def test_every_form_needs_its_csrf_token(api, client, signed_in):
    consent = signed_in["consent"]
    for path, data in [
        (f"/portal/consents/{consent}/withdraw", {"step": "confirm", "purposes": "benchmarking"}),
        ("/portal/erasure", {"step": "confirm", "scope": "all"}),
        ("/portal/signout", {}),
        ("/portal/language", {"lang": "fr"}),
    ]:
        for token in (None, "forged-token"):
            sent = {**data, **({"csrf_token": token} if token else {})}
            refused = client.post(path, data=sent)
            assert refused.status_code == 400, path
            assert "form has expired" in refused.get_data(as_text=True)
    assert api.get(f"/v1/consents/{consent}").json["status"] == "active"
    assert api.get("/v1/erasure-requests").json["requests"] == []
    assert client.get("/portal/").status_code == 200  # still signed in


def test_a_session_sees_only_its_own_worker(api, client, signed_in):
    pages = "".join(client.get(p).get_data(as_text=True) for p in PAGES)
    assert signed_in["consent"] in pages and signed_in["clip"] in pages
    assert signed_in["other"] not in pages and signed_in["other_clip"] not in pages
    assert "w-123" not in pages and "w-456" not in pages  # the platform's references
    other = signed_in["other"]
    for path in [
        f"/portal/consents/{other}/withdraw",
        f"/portal/receipts/{other}.jws",
    ]:
        assert client.get(path).status_code == 404, path
    for fields in [
        {"scope": "item", "item": signed_in["other_clip"]},
        {"scope": "consent", "consent": other},
    ]:
        response = submit(client, "/portal/erasure", "/portal/erasure", **fields)
        assert response.status_code == 404, fields
    theirs = api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"}).json
    assert (
        client.get(f"/portal/erasures/{theirs['erasures'][0]['id']}/certificate.jws").status_code
        == 404
    )
    assert api.get(f"/v1/consents/{other}").json["status"] == "active"


def test_withdrawing_shows_what_will_happen_then_takes_effect_at_once(api, client, signed_in):
    consent, clip = signed_in["consent"], signed_in["clip"]
    path = f"/portal/consents/{consent}/withdraw"
    empty = submit(client, path, path, step="review")
    assert empty.status_code == 400 and "Choose at least one" in empty.get_data(as_text=True)
    review = submit(client, path, path, step="review", purposes="benchmarking")
    text = review.get_data(as_text=True)
    assert "testing how well robot software works" in text and "stays in force" in text
    assert api.check(clip, "benchmarking")["decision"] == "allow"  # nothing yet
    done = client.post(
        path, data={"csrf_token": csrf(review), "step": "confirm", "purposes": "benchmarking"}
    )
    assert done.status_code == 303
    assert api.check(clip, "benchmarking")["decision"] == "deny"
    assert api.check(clip, "motion_imitation")["decision"] == "allow"
    listing = client.get("/portal/consents").get_data(as_text=True)
    receipt_id = re.search(r"/portal/receipts/(wdr_[a-z2-7]+)\.jws", listing)[1]
    receipt = client.get(f"/portal/receipts/{receipt_id}.jws")
    keys = client.get("/.well-known/custody-keys").json
    claims = verify_with_jwcrypto(receipt.get_data(as_text=True), keys)
    assert claims["withdraws"] == consent and claims["purposes"] == ["benchmarking"]
    given = verify_with_jwcrypto(
        client.get(f"/portal/receipts/{consent}.jws").get_data(as_text=True), keys
    )
    assert given["receipt_id"] == consent
    assert "attachment" in receipt.headers["Content-Disposition"]


def test_withdrawing_everything_says_the_recordings_will_be_erased(api, client, signed_in):
    path = f"/portal/consents/{signed_in['consent']}/withdraw"
    review = submit(
        client, path, path, step="review", purposes=["benchmarking", "motion_imitation"]
    )
    assert "will be erased within a day" in review.get_data(as_text=True)


def test_erasure_is_reviewed_requested_swept_and_certified(
    api, client, clock, container, signed_in
):
    review = submit(client, "/portal/erasure", "/portal/erasure", scope="all")
    text = review.get_data(as_text=True)
    assert "This reaches 1 recording and 1 thing made from them." in text
    assert api.get("/v1/erasure-requests").json["requests"] == []
    done = client.post(
        "/portal/erasure", data={"csrf_token": csrf(review), "step": "confirm", "scope": "all"}
    )
    assert done.status_code == 303
    assert api.check(signed_in["clip"])["decision"] == "deny"
    clock.advance(seconds=5)
    container.retention.sweep()
    page = client.get("/portal/erasure").get_data(as_text=True)
    erasure = re.search(r"/portal/erasures/([a-z]+_[a-z2-7]+)/certificate\.jws", page)[1]
    certificate = client.get(f"/portal/erasures/{erasure}/certificate.jws")
    keys = client.get("/.well-known/custody-keys").json
    claims = verify_with_jwcrypto(certificate.get_data(as_text=True), keys)
    assert signed_in["clip"] in {i["id"] for i in claims["items"]}
    requested = api.get("/v1/erasure-requests").json["requests"][0]
    assert requested["status"] == "completed" and requested["worker"] != "w-123"


def test_the_report_downloads_as_a_pdf_recorded_on_the_log(api, client, clock, signed_in):
    size = api.size()
    clock.advance(seconds=2)
    report = client.get("/portal/report.pdf")
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    issued = api.get(f"/v1/reports/{report.headers['Custody-Report-Id']}").json
    assert issued["kind"] == "worker" and api.size() == size + 1


def test_languages_follow_the_link_the_browser_and_the_worker(api, client, recorded):
    sign_in(client, link(api, language="fr"))
    assert "Ce que vous avez accepté" in client.get("/portal/consents").get_data(as_text=True)
    switched = submit(client, "/portal/language", "/portal/", lang="es", next="/portal/consents")
    assert switched.status_code == 303 and switched.headers["Location"] == "/portal/consents"
    page = client.get("/portal/consents").get_data(as_text=True)
    assert '<html lang="es">' in page and "enseñar a robots a imitar sus movimientos" in page
    away = submit(client, "/portal/language", "/portal/", lang="en", next="https://evil.example/")
    assert away.headers["Location"] == "/portal/"


def test_the_browser_language_is_the_default(api, client, recorded):
    token = link(api)
    page = client.get(f"/portal/enter?link={token}", headers={"Accept-Language": "es-CO,es;q=0.9"})
    assert "Abrir mi registro" in page.get_data(as_text=True)


def test_sign_out_ends_the_session(api, client, signed_in):
    out = submit(client, "/portal/signout", "/portal/")
    assert out.status_code == 303
    assert client.get("/portal/consents").status_code == 401


def test_pages_are_small_and_log_no_worker_data(api, client, signed_in, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(30):
        api.clip(signed_in["consent"])
    with client.get("/portal/static/portal.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        css_size = len(css.data)
    for path in [
        *PAGES,
        "/portal/help/receipts",
        f"/portal/consents/{signed_in['consent']}/withdraw",
    ]:
        page = client.get(path)
        assert page.status_code == 200
        assert len(page.data) + css_size < 100_000, path
        assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert page.headers["Referrer-Policy"] == "no-referrer"
    shown = client.get("/portal/recordings").get_data(as_text=True)
    assert shown.count('class="card"') == 10 and "?page=2" in shown
    last = client.get("/portal/recordings?page=4").get_data(as_text=True)
    assert last.count('class="card"') == 1 and "?page=5" not in last
    logged = caplog.text
    assert "w-123" not in logged and "cwk_" not in logged and "lnk_" not in logged

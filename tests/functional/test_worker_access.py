"""Worker access through the API: links a platform asks for, redeemed once by the worker for
a token that reaches that worker of that tenant only, and nothing else."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from api.app import create_app
from api.settings import ConfigError, Settings
from tests.support.http import MINIMAL, PROBLEM, auth, log_entries, verify_with_jwcrypto
from tests.support.platform import Api
from tests.support.worker import csrf, link, worker_headers


@pytest.fixture
def recorded(api):  # type: ignore[no-untyped-def]
    """Two workers of one platform, each with a consent and a clip."""
    mine = api.consent(purposes=["motion_imitation", "benchmarking"])
    theirs = api.consent(worker="w-456")
    clip = api.clip(mine)
    other_clip = api.clip(theirs, worker="w-456")
    return {"consent": mine, "other": theirs, "clip": clip["id"], "other_clip": other_clip["id"]}


def test_a_link_gives_a_token_for_that_worker_and_works_once(api, client, recorded):
    token = link(api)
    opened = client.post("/v1/worker-sessions", json={"link": token})
    assert opened.status_code == 201
    assert opened.json["token"].startswith("cwk_") and opened.json["worker"].startswith("wkr_")
    again = client.post("/v1/worker-sessions", json={"link": token})
    assert again.status_code == 410 and again.mimetype == PROBLEM
    assert "already used" in again.json["detail"]
    mine = client.get("/v1/workers/me/consents", headers=auth(opened.json["token"])).json
    assert [c["id"] for c in mine["consents"]] == [recorded["consent"]]
    assert mine["worker"] == opened.json["worker"]


def test_the_link_url_carries_no_worker_data_and_nothing_goes_on_the_log(api, recorded):
    size = api.size()
    response = api.post("/v1/workers/w-123/access-links", {"expires_in": 300})
    assert response.status_code == 201
    assert "w-123" not in response.json["url"] and "wkr_" not in response.json["url"]
    assert response.json["url"].startswith("http://localhost/portal/enter?link=lnk_")
    assert api.size() == size


def test_expired_forged_and_unknown_links_are_refused(api, client, clock, recorded):
    token = link(api, expires_in=60)
    link_id, mac = token.split(".")
    forged = f"{link_id}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"
    for bad, status, word in [
        (forged, 403, "not valid"),
        ("lnk_aaaaaaaaaaaaaaaa.x", 403, "not valid"),
        (link_id, 403, "not valid"),
    ]:
        refused = client.post("/v1/worker-sessions", json={"link": bad})
        assert (refused.status_code, refused.mimetype) == (status, PROBLEM), bad
        assert word in refused.json["detail"]
    clock.advance(seconds=61)
    expired = client.post("/v1/worker-sessions", json={"link": token})
    assert expired.status_code == 410 and "expired" in expired.json["detail"]


def test_a_link_from_another_key_of_another_tenant_is_signed_by_the_same_service_but_scoped(
    api, client, container, other, clock, recorded
):
    theirs = Api(client, other, clock)
    theirs.consent(worker="w-123")  # the same reference at another platform
    token = link(theirs)
    headers = worker_headers(client, token)
    seen = client.get("/v1/workers/me/consents", headers=headers).json["consents"]
    assert recorded["consent"] not in [c["id"] for c in seen] and len(seen) == 1
    for path in [
        f"/v1/consents/{recorded['consent']}",
        "/v1/workers/w-456/consents",
        f"/v1/workers/{api.get('/v1/consents/' + recorded['consent']).json['worker']}/uses",
    ]:
        assert client.get(path, headers=headers).status_code == 404, path


def test_a_worker_token_reaches_only_its_own_worker(api, client, recorded):
    headers = worker_headers(client, link(api))
    other_worker = api.get(f"/v1/consents/{recorded['other']}").json["worker"]
    assert client.get(f"/v1/consents/{recorded['other']}", headers=headers).status_code == 404
    withdraw = client.post(f"/v1/consents/{recorded['other']}/withdraw", json={}, headers=headers)
    assert withdraw.status_code == 404
    for path in [f"/v1/workers/{other_worker}/uses", "/v1/workers/w-456/report.pdf"]:
        assert client.get(path, headers=headers).status_code == 404, path
    erase = client.post(
        "/v1/erasure-requests", json={"worker": "w-456", "scope": "all"}, headers=headers
    )
    assert erase.status_code == 404
    by_item = client.post(
        "/v1/erasure-requests", json={"item": recorded["other_clip"]}, headers=headers
    )
    assert by_item.status_code == 404
    theirs = api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"}).json
    assert client.get(f"/v1/erasure-requests/{theirs['id']}", headers=headers).status_code == 404
    listed = client.get("/v1/erasure-requests", headers=headers).json["requests"]
    assert listed == []
    assert api.get(f"/v1/consents/{recorded['other']}").json["status"] == "active"


def test_a_worker_token_cannot_call_the_platforms_endpoints(api, client, tenant, recorded):
    headers = worker_headers(client, link(api))
    calls = [
        ("post", "/v1/consents", MINIMAL),
        ("post", "/v1/checks", {"item": recorded["clip"], "purpose": "benchmarking"}),
        ("post", "/v1/workers/w-123/access-links", {}),
        ("get", f"/v1/logs/{tenant.log_id}", None),
        ("get", "/v1/audit/export", None),
        ("get", "/v1/retention/status", None),
        ("get", "/v1/apikeys", None),
    ]
    for method, path, body in calls:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == 403 and response.mimetype == PROBLEM, path


def test_the_worker_withdraws_and_the_platform_is_denied_at_once(api, client, recorded):
    headers = worker_headers(client, link(api))
    assert api.check(recorded["clip"], "benchmarking")["decision"] == "allow"
    withdrawn = client.post(
        f"/v1/consents/{recorded['consent']}/withdraw",
        json={"purposes": ["benchmarking"]},
        headers=headers,
    )
    assert withdrawn.status_code == 200, withdrawn.json
    keys = client.get("/.well-known/custody-keys").json
    assert verify_with_jwcrypto(withdrawn.json["receipt"], keys)["purposes"] == ["benchmarking"]
    assert api.check(recorded["clip"], "benchmarking")["decision"] == "deny"
    assert api.check(recorded["clip"], "motion_imitation")["decision"] == "allow"
    entry = [e for e in log_entries(client, api.tenant) if e["type"] == "consent.withdrawn"][-1]
    assert entry["data"]["by"] == "worker"


def test_the_worker_asks_for_erasure_and_downloads_the_certificate_and_report(
    api, client, container, clock, recorded
):
    headers = worker_headers(client, link(api))
    asked = client.post("/v1/erasure-requests", json={"scope": "all"}, headers=headers)
    assert asked.status_code == 202, asked.json
    assert (
        asked.json["worker"]
        == client.get("/v1/workers/me/consents", headers=headers).json["worker"]
    )
    assert api.check(recorded["clip"])["decision"] == "deny"
    clock.advance(seconds=5)
    container.retention.sweep()
    seen = client.get(f"/v1/erasure-requests/{asked.json['id']}", headers=headers).json
    assert seen["status"] == "completed"
    certificate = client.get(seen["erasures"][0]["certificate"], headers=headers)
    assert certificate.status_code == 200
    keys = client.get("/.well-known/custody-keys").json
    claims = verify_with_jwcrypto(certificate.get_data(as_text=True), keys)
    assert {i["id"] for i in claims["items"]} == {recorded["clip"]}
    clock.advance(seconds=2)  # checkpoints are signed at most once a second
    report = client.get("/v1/workers/me/report.pdf", headers=headers)
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    issued = client.get(f"/v1/reports/{report.headers['Custody-Report-Id']}", headers=headers)
    assert issued.status_code == 200 and issued.json["kind"] == "worker"


def test_a_platform_must_still_name_the_worker_of_an_erasure_request(api):
    response = api.post("/v1/erasure-requests", {"scope": "all"})
    assert response.status_code == 400 and response.json["errors"][0]["field"] == "worker"


def test_sessions_end_on_sign_out_and_when_they_expire(api, client, clock, recorded):
    headers = worker_headers(client, link(api))
    assert client.get("/v1/workers/me/consents", headers=headers).status_code == 200
    assert client.delete("/v1/worker-sessions/current", headers=headers).status_code == 204
    assert client.get("/v1/workers/me/consents", headers=headers).status_code == 401
    later = worker_headers(client, link(api))
    clock.advance(seconds=3601)
    assert client.get("/v1/workers/me/consents", headers=later).status_code == 401


def test_links_for_unknown_workers_bad_lifetimes_and_by_auditors_are_refused(
    api, client, container, tenant, recorded
):
    assert api.post("/v1/workers/w-999/access-links", {}).status_code == 404
    for body in [{"expires_in": 59}, {"expires_in": 86401}, {"language": "xx"}, {"x": 1}]:
        response = api.post("/v1/workers/w-123/access-links", body)
        assert response.status_code == 422 and response.mimetype == PROBLEM, body
    auditor = container.apikeys.create(tenant.tenant_id, "auditor")
    response = client.post("/v1/workers/w-123/access-links", json={}, headers=auth(auditor.token))
    assert response.status_code == 403


def test_failed_attempts_are_limited_per_address_even_for_a_good_link(api, client, recorded):
    good = link(api)
    for _ in range(10):
        assert client.post("/v1/worker-sessions", json={"link": "lnk_x.y"}).status_code == 403
    limited = client.post("/v1/worker-sessions", json={"link": good})
    assert limited.status_code == 429 and limited.mimetype == PROBLEM
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    elsewhere = client.post(
        "/v1/worker-sessions", json={"link": good}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert elsewhere.status_code == 201


def test_of_two_simultaneous_redemptions_exactly_one_wins(api, container, recorded):
    token = link(api)
    barrier, results = threading.Barrier(6), []

    def redeem() -> None:
        app = create_app(container=container)  # each thread its own app and client
        with app.test_client() as client:
            barrier.wait()
            results.append(client.post("/v1/worker-sessions", json={"link": token}).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201] + [410] * 5


def test_the_session_lifetime_is_the_configured_one(api, client, clock, container, recorded):
    assert container.access.session_ttl == timedelta(hours=1)
    opened = client.post("/v1/worker-sessions", json={"link": link(api)}).json
    assert opened["expires_at"] == "2026-01-01T01:00:00.000000Z"


def test_the_worker_endpoints_are_in_the_openapi_document_and_the_portal_is_not(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    assert "/v1/worker-sessions" in paths and "/v1/workers/{worker}/access-links" in paths
    assert not [p for p in paths if p.startswith("/portal")]


def test_links_use_the_public_url_and_cookies_can_be_made_plain(api, container, recorded):
    container.settings = replace(
        container.settings, public_url="https://custody.example/base", secure_cookies=False
    )
    app = create_app(container=container)
    with app.test_client() as client:
        url = client.post("/v1/workers/w-123/access-links", json={}, headers=api.headers).json[
            "url"
        ]
        assert url.startswith("https://custody.example/base/portal/enter?link=lnk_")
        token = url.split("link=")[1]
        landing = client.get(f"/portal/enter?link={token}")
        done = client.post("/portal/enter", data={"csrf_token": csrf(landing), "link": token})
        assert done.status_code == 303 and "Secure" not in done.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "name, value",
    [
        ("PUBLIC_URL", "custody.example"),
        ("PUBLIC_URL", "https://custody.example/?x=1"),
        ("WORKER_SESSION_SECONDS", "59"),
        ("WORKER_SESSION_SECONDS", "an hour"),
    ],
)
def test_bad_worker_access_settings_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({f"CUSTODY_{name}": value})


def test_worker_access_settings_are_read_from_the_environment():
    read = Settings.from_env(
        {
            "CUSTODY_PUBLIC_URL": "https://custody.example/",
            "CUSTODY_WORKER_SESSION_SECONDS": "600",
            "CUSTODY_SECURE_COOKIES": "false",
            "CUSTODY_RATE_LIMIT_STORAGE": "memory://",
        }
    )
    assert (read.public_url, read.worker_session_seconds, read.secure_cookies) == (
        "https://custody.example",
        600.0,
        False,
    )

"""A worker's side in tests: access links asked for by the platform, redeemed by the worker
through the API or the portal's own forms."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http import auth

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def link(api: Any, worker: str = "w-123", **body: Any) -> str:
    """The link's token, from the URL the platform is given."""
    response = api.post(f"/v1/workers/{worker}/access-links", body)
    assert response.status_code == 201, response.json
    return parse_qs(urlsplit(response.json["url"]).query)["link"][0]


def worker_headers(client: Any, token: str) -> dict[str, str]:
    """Redeem a link through the API: the worker token's headers."""
    response = client.post("/v1/worker-sessions", json={"link": token})
    assert response.status_code == 201, response.json
    return auth(response.json["token"])


def csrf(page: Any) -> str:
    found = CSRF.search(page.get_data(as_text=True))
    assert found, "the page has no form with a CSRF token"
    return found[1]


def sign_in(client: Any, token: str) -> None:
    """Open the link in the portal and confirm, as a browser does."""
    landing = client.get(f"/portal/enter?link={token}")
    assert landing.status_code == 200, landing.get_data(as_text=True)
    done = client.post("/portal/enter", data={"csrf_token": csrf(landing), "link": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/portal/")


def submit(client: Any, path: str, form_page: str, **fields: Any) -> Any:
    """POST a portal form with the CSRF token of a page the session has open."""
    token = csrf(client.get(form_page))
    return client.post(path, data={"csrf_token": token, **fields})

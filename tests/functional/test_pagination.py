"""Every list pages the same way: `limit` and an opaque `after` cursor, `next` until null.

Each list is filled for two tenants (and, where a worker token can read it, two workers);
read two at a time, the pages must hold every row of the caller exactly once, in the list's
order, and nothing of anyone else's. Rows that tie on the first ordering column (same time,
same log entry) are placed across page boundaries on purpose.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.http import PROBLEM, auth
from tests.support.platform import Api
from tests.support.worker import link, worker_headers

Get = Callable[[str], Any]


def walk(get: Get, path: str, key: str, limit: int = 2) -> list[dict[str, Any]]:
    """Every row of a list, read `limit` at a time by following `next`."""
    rows: list[dict[str, Any]] = []
    after = None
    sep = "&" if "?" in path else "?"
    for _ in range(100):
        url = f"{path}{sep}limit={limit}" + (f"&after={after}" if after is not None else "")
        response = get(url)
        assert response.status_code == 200, response.json
        page = response.json
        assert "next" in page and len(page[key]) <= limit
        rows += page[key]
        after = page["next"]
        if after is None:
            return rows
        assert len(page[key]) == limit, "a page short of the limit must be the last"
    raise AssertionError("the pages never ended")


def one_page(get: Get, path: str, key: str) -> list[dict[str, Any]]:
    sep = "&" if "?" in path else "?"
    page = get(f"{path}{sep}limit=1000").json
    assert page["next"] is None
    return page[key]


def keys(api: Api, clock: Any) -> tuple[str, list[str]]:
    """Four keys more: two made in the same instant."""
    for role, later in [("platform", 0), ("auditor", 0), ("admin", 1), ("platform", 1)]:
        clock.advance(seconds=later)
        assert api.post("/v1/apikeys", {"role": role}).status_code == 201
    return "/v1/apikeys", ["keys", "id"]


def policies(api: Api, clock: Any) -> tuple[str, list[str]]:
    for n in range(5):
        url = "https://platform.example/terms"
        body = {"version": f"2026-0{n + 1}", "url": url, "purposes": ["motion_imitation"]}
        assert api.post("/v1/policies", body).status_code == 201
        clock.advance(seconds=n % 2)
    return "/v1/policies", ["policies", "version"]


def endpoints(api: Api, clock: Any) -> tuple[str, list[str]]:
    for n in range(5):
        response = api.post("/v1/webhook-endpoints", {"url": f"https://hooks.example/{n}"})
        assert response.status_code == 201, response.json
        clock.advance(seconds=n % 2)
    return "/v1/webhook-endpoints", ["endpoints", "id"]


def consents(api: Api, clock: Any) -> tuple[str, list[str]]:
    for n in range(5):
        api.consent()
        clock.advance(seconds=n % 2)
    api.consent(worker="w-456")
    return "/v1/workers/w-123/consents", ["consents", "id"]


def uses(api: Api, clock: Any) -> tuple[str, list[str]]:
    clips = [api.clip(api.consent())["id"] for _ in range(3)]
    api.check(clips[0])
    body = {"items": clips, "purpose": "motion_imitation"}  # three uses in one entry
    assert api.post("/v1/checks/batch", body).status_code == 200
    api.check(clips[2])
    return "/v1/workers/w-123/uses", ["uses", "log_index"]


def requests(api: Api, clock: Any) -> tuple[str, list[str]]:
    consent = api.consent()
    for n in range(5):
        clip = api.clip(consent)
        response = api.post("/v1/erasure-requests", {"worker": "w-123", "item": clip["id"]})
        assert response.status_code == 202, response.json
        clock.advance(seconds=n % 2)
    return "/v1/erasure-requests", ["requests", "id"]


def manifests(api: Api, clock: Any) -> tuple[str, list[str]]:
    clip = api.clip(api.consent())["id"]
    for _ in range(5):
        clock.advance(seconds=2)  # each is signed on a checkpoint, at most one a second
        body = {"items": [clip], "purpose": "motion_imitation"}
        assert api.post("/v1/manifests", body).status_code == 201
    return "/v1/manifests", ["manifests", "id"]


LISTS = {
    "apikeys": keys,
    "policies": policies,
    "webhook-endpoints": endpoints,
    "consents": consents,
    "uses": uses,
    "erasure-requests": requests,
    "manifests": manifests,
}


@pytest.mark.parametrize("name", list(LISTS))
def test_pages_of_two_hold_every_row_once_in_order_and_no_other_tenants(
    name, api, client, other, clock
):
    theirs = Api(client, other, clock)
    LISTS[name](theirs, clock)
    path, (key, _) = LISTS[name](api, clock)
    everything = one_page(api.get, path, key)
    assert len(everything) >= 5
    paged = walk(api.get, path, key)
    assert paged == everything
    ids = [json.dumps(row, sort_keys=True) for row in paged]
    assert len(set(ids)) == len(ids)
    mine = {json.dumps(row, sort_keys=True) for row in everything}
    their_rows = one_page(theirs.get, path, key)
    assert their_rows and not mine & {json.dumps(r, sort_keys=True) for r in their_rows}
    full = api.get(f"{path}?limit={len(everything)}").json
    assert full[key] == everything and full["next"] is None  # a full last page is the last


def order_of(rows: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(row[f] for f in fields) for row in rows]


def test_each_list_keeps_its_documented_order(api, clock):
    for name, fields in [
        ("apikeys", ("created_at", "id")),
        ("policies", ("published_at", "version")),
        ("webhook-endpoints", ("created_at", "id")),
        ("consents", ("given_at", "id")),
        ("uses", ("log_index",)),
        ("erasure-requests", ("deadline", "id")),
        ("manifests", ("issued_at", "id")),
    ]:
        path, (key, _) = LISTS[name](api, clock)
        rows = walk(api.get, path, key)
        assert order_of(rows, *fields) == sorted(order_of(rows, *fields)), name


def test_a_worker_token_pages_its_own_consents_and_requests_only(api, client, clock):
    consents(api, clock)
    requests(api, clock)
    other_clip = api.clip(api.consent(worker="w-456"), worker="w-456")
    api.post("/v1/erasure-requests", {"worker": "w-456", "item": other_clip["id"]})
    headers = worker_headers(client, link(api))
    pseudonym = api.get("/v1/workers/w-123/consents").json["worker"]

    def get(path: str) -> Any:
        return client.get(path, headers=headers)

    own_consents = walk(get, "/v1/workers/me/consents", "consents")
    assert own_consents == one_page(api.get, "/v1/workers/w-123/consents", "consents")
    own_requests = walk(get, "/v1/erasure-requests", "requests")
    everyones = one_page(api.get, "/v1/erasure-requests", "requests")
    assert len(everyones) == 6 and len(own_requests) == 5
    assert own_requests == [r for r in everyones if r["worker"] == pseudonym]


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


GARBLED = [
    "nonsense",
    "!!!!",
    "%00",
    encode({"apikeys": 1}),
    encode(["apikeys"]),
    encode(["apikeys", "2026-01-01T00:00:00+00:00"]),
    encode(["apikeys", "2026-01-01T00:00:00", "key_x"]),  # no offset
    encode(["apikeys", "yesterday", "key_x"]),
    encode(["apikeys", "0001-01-01T00:00:00+14:00", "key_x"]),  # before the calendar in UTC
    encode(["apikeys", "2026-01-01T00:00:00+00:00", 7]),
    encode(["apikeys", "2026-01-01T00:00:00+00:00", "key\u0000x"]),
    encode(["apikeys", "2026-01-01T00:00:00+00:00", "k" * 201]),
    encode(["uses", 2**63, "dec_x"]),
    encode(["uses", -1, "dec_x"]),
    encode(["uses", True, "dec_x"]),
    encode(["uses", 1.5, "dec_x"]),
    encode(["policies", "2026-01-01T00:00:00+00:00", "v1"]),  # another list's
    "A" * 513,
]


@pytest.mark.parametrize("cursor", GARBLED)
def test_a_garbled_or_forged_cursor_is_a_problem_naming_after(api, cursor):
    api.consent()
    for path in ["/v1/apikeys", "/v1/workers/w-123/uses"]:
        response = api.get(f"{path}?after={cursor}")
        assert response.status_code == 422, (path, response.json)
        assert response.mimetype == PROBLEM
        assert [e["field"] for e in response.json["errors"]] == ["after"]
        assert response.json["errors"][0]["in"] == "query"


@pytest.mark.parametrize("name", list(LISTS))
def test_every_list_refuses_another_lists_cursor_and_a_bad_limit(name, api, clock):
    path, (key, _) = LISTS[name](api, clock)
    foreign = encode(["elsewhere", "2026-01-01T00:00:00+00:00", "x"])
    for query, field in [
        (f"after={foreign}", "after"),
        ("after=%%%", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ]:
        response = api.get(f"{path}?{query}")
        assert response.status_code == 422 and response.mimetype == PROBLEM, (query, response.json)
        assert field in [e["field"] for e in response.json["errors"]]
    assert len(api.get(f"{path}?limit=1").json[key]) == 1


def test_made_up_keys_at_the_edges_of_their_types_give_a_last_page(api, clock):
    """Well-formed keys that no page gave reach the database and must not fail there."""
    uses(api, clock)
    far = [
        ("/v1/apikeys", ["apikeys", "9999-12-31T23:59:59.999999+00:00", "~"], "keys"),
        ("/v1/workers/w-123/uses", ["uses", 2**63 - 1, "~"], "uses"),
        ("/v1/erasure-requests", ["erasure-requests", "0001-01-01T00:00:00+00:00", ""], None),
    ]
    for path, key, rows in far:
        response = api.get(f"{path}?after={encode(key)}")
        assert response.status_code == 200, response.json
        assert response.json["next"] is None
        if rows:
            assert response.json[rows] == []


def test_checkpoints_page_by_tree_size_and_end_with_null(client, container, tenant):
    for n in range(5):
        container.appender.run(
            [tenant.log_id], lambda w, n=n: w.append(tenant.log_id, "test.event", {"n": n})
        )
        container.clock.advance(1)
    path = f"/v1/logs/{tenant.log_id}/checkpoints"
    everything = one_page(client.get, path, "checkpoints")
    sizes = [c["tree_size"] for c in everything]
    assert len(sizes) >= 4 and sizes == sorted(set(sizes))
    assert walk(client.get, path, "checkpoints") == everything
    exact = client.get(f"{path}?limit={len(sizes)}").json
    assert exact["next"] is None  # a full last page is still the last
    assert client.get(f"{path}?limit=2").json["next"] == sizes[1]
    for bad in ["x", "-2", str(2**63)]:
        response = client.get(f"{path}?after={bad}")
        assert response.status_code == 422 and response.json["errors"][0]["field"] == "after"


def test_list_schemas_in_the_openapi_document_take_limit_and_after(client):
    spec = client.get("/openapi.json").json
    for path in [
        "/v1/apikeys",
        "/v1/policies",
        "/v1/webhook-endpoints",
        "/v1/erasure-requests",
        "/v1/workers/{worker}/consents",
        "/v1/workers/{worker}/uses",
        "/v1/logs/{log}/checkpoints",
        "/v1/manifests",
    ]:
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"limit", "after"} <= names, path


def test_a_key_of_one_tenant_reads_no_page_of_another(api, client, other, clock):
    """The cursor names a position, never whose rows: another tenant's key with it sees only
    its own rows."""
    keys(api, clock)
    first = api.get("/v1/apikeys?limit=1").json
    theirs = client.get(f"/v1/apikeys?after={first['next']}", headers=auth(other.api_key.token))
    mine = {k["id"] for k in one_page(api.get, "/v1/apikeys", "keys")}
    assert theirs.status_code == 200
    assert not mine & {k["id"] for k in theirs.json["keys"]}

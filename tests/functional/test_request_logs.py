"""Log lines carry the id of the request they belong to, as JSON, and no URL's path or query
string: in the app (caplog), with the JSON set-up, and from a real `custody serve`."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.logconfig import RequestIdFilter, configure
from tests.support.http import PROBLEM, auth
from tests.support.served import custody_serve

SECRET_REF = "w-jane-doe-1984"  # a worker's reference: personal data, never in a log line


@pytest.fixture
def request_ids(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, with the filter that `custody serve` puts on its handler."""
    caplog.set_level(logging.INFO, logger="custody")
    caplog.handler.addFilter(RequestIdFilter())
    yield caplog


def test_every_record_of_a_request_carries_its_id_and_the_problem_says_it_too(client, request_ids):
    response = client.get("/v1/apikeys", headers={"X-Request-Id": "abc"})
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert response.json["request_id"] == "abc" and response.headers["X-Request-Id"] == "abc"
    records = [r for r in request_ids.records if r.name.startswith("custody")]
    assert {r.name for r in records} >= {"custody.api", "custody.access"}
    assert [r.request_id for r in records] == ["abc"] * len(records)

    request_ids.clear()
    generated = client.get("/v1/nowhere")
    assert generated.status_code == 404
    own = generated.headers["X-Request-Id"]
    assert own != "abc" and generated.json["request_id"] == own
    assert {r.request_id for r in request_ids.records if r.name.startswith("custody")} == {own}

    request_ids.clear()
    logging.getLogger("custody.jobs").warning("outside any request")
    assert request_ids.records[-1].request_id == "-"


def test_a_server_error_is_logged_with_the_id_the_problem_gives(app, client, request_ids):
    @app.get("/v1/broken")
    def broken() -> str:
        raise RuntimeError("a bug")

    response = client.get("/v1/broken", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500 and response.json["request_id"] == "req-500"
    failed = [r for r in request_ids.records if r.exc_info]
    assert failed and all(r.request_id == "req-500" for r in failed)


def test_json_lines_name_the_route_never_the_path_or_the_query(api, client, container):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("custody").level)
    stream = io.StringIO()
    configure("INFO", stream)
    try:
        api.consent(worker=SECRET_REF)
        client.get(
            f"/v1/workers/{SECRET_REF}/uses?after=lnk_secret.token&limit=5",
            headers={**api.headers, "X-Request-Id": "abc"},
        )
        client.get(f"/portal/enter?link=lnk_{SECRET_REF}", headers={"X-Request-Id": "abc"})
        logging.getLogger("custody.jobs").info("between requests")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("custody").setLevel(saved[2])
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all(
        {"timestamp", "level", "logger", "message", "request_id"} <= set(line) for line in lines
    )
    assert all(line["timestamp"].endswith("+00:00") for line in lines)
    ours = [line for line in lines if line["request_id"] == "abc"]
    routes = {line.get("route") for line in ours if line["logger"] == "custody.access"}
    assert routes == {"/v1/workers/<worker>/uses", "/portal/enter"}
    assert any(line["logger"] == "custody.api" and line["level"] == "WARNING" for line in ours)
    assert lines[-1]["request_id"] == "-" and lines[-1]["message"] == "between requests"
    for leak in (SECRET_REF, "lnk_", "limit=", "?"):
        assert leak not in text, leak


def test_a_database_error_in_the_log_leaves_out_the_statements_values(container):
    with pytest.raises(DBAPIError) as failure, container.db.session() as session:
        session.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": SECRET_REF})
    assert SECRET_REF not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)


def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


@pytest.mark.slow
def test_custody_serve_writes_json_lines_with_request_ids(tmp_path, env, custody):
    created = json.loads(custody("tenants", "create", "Live", "--json").stdout)
    with custody_serve(env) as served:
        headers = {**auth(created["api_key"]), "X-Request-Id": "abc"}
        status, body = get(f"{served.url}/v1/workers/{SECRET_REF}/uses?limit=1", headers)
        assert status == 404 and body["request_id"] == "abc"
        stderr = served.stop()
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["request_id"] == "abc"]
    assert {line["logger"] for line in ours} == {"custody.api", "custody.access"}, stderr
    access = next(line for line in ours if line["logger"] == "custody.access")
    assert access["route"] == "/v1/workers/<worker>/uses" and access["status"] == 404
    assert SECRET_REF not in stderr and "limit=" not in stderr

"""While the database or object storage is away, calls answer 503 problem+json with a
Retry-After the client can act on, change nothing, and the process starts regardless."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from sqlalchemy import select, text

from api.app import create_app
from api.container import build
from api.settings import Settings
from ledger.models import Item
from tests.support.http import auth
from tests.support.s3 import ENVIRONMENT
from tests.support.served import free_port


def test_an_unreachable_database_gets_503_with_retry_after(tmp_path):
    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/custody"
    container = build(Settings(data_dir=tmp_path, database_url=gone), migrate=False)  # boots
    try:
        client = create_app(container=container).test_client()
        answer = client.get("/v1/apikeys", headers=auth("cust_aaaaaaaaaaaaaaaa_" + "b" * 32))
        assert answer.status_code == 503
        assert answer.mimetype == "application/problem+json"
        assert answer.headers["Retry-After"] == "2"
        assert "database cannot be reached" in answer.json["detail"]
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200  # alive, not ready
    finally:
        container.close()


def test_unreachable_storage_gets_503_and_the_clip_keeps_no_content(
    api, container, settings, clock, monkeypatch
):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    away = replace(settings, s3_bucket="vault", s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    cut_off = build(away, clock=clock, migrate=False)
    try:
        content = os.urandom(1000)
        clip = api.clip(api.consent(), content=content)
        put = (
            create_app(container=cut_off)
            .test_client()
            .put(f"/v1/clips/{clip['id']}/content", data=content, headers=api.headers)
        )
        assert put.status_code == 503
        assert put.mimetype == "application/problem+json"
        assert put.headers["Retry-After"] == "2"
        assert "Retry shortly" in put.json["detail"]
        with container.db.session() as session:
            stored = session.scalar(select(Item.content_size).where(Item.id == clip["id"]))
        assert stored is None
        retried = api.client.put(
            f"/v1/clips/{clip['id']}/content", data=content, headers=api.headers
        )
        assert retried.status_code == 200, retried.json  # storage back: the same call succeeds
    finally:
        cut_off.close()


def test_a_request_whose_connection_the_database_dropped_still_ends_cleanly(app, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite connection cannot be dropped by its server")
    from api.deps import close_session, session

    with app.test_request_context("/v1/apikeys"):
        opened = session()
        pid = opened.execute(text("SELECT pg_backend_pid()")).scalar()
        container = app.extensions["custody"]
        with container.db.session() as other:  # as a restart of PostgreSQL does to it
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        close_session()  # rolling back the dead connection fails; the request still ends

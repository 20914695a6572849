"""Prometheus metrics and readiness, read back as a scraper would."""

from __future__ import annotations

from alembic import command
from prometheus_client.parser import text_string_to_metric_families

from ledger.db import alembic_config


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_and_decisions_are_counted_by_route_and_reason(api, client):
    consent = api.consent()
    clip = api.clip(consent)["id"]
    api.check(clip)
    api.check(clip, purpose="benchmarking")  # not in the consent
    body = {"items": [clip, "0" * 64], "purpose": "motion_imitation"}
    assert api.post("/v1/checks/batch", body).status_code == 200
    assert api.get("/v1/workers/w-123/uses").status_code == 200
    seen = scrape(client)
    decisions = {
        labels: value
        for (name, labels), value in seen.items()
        if name == "custody_check_decisions_total"
    }
    assert decisions[(("decision", "allow"), ("reason", "none"))] == 2
    assert decisions[(("decision", "deny"), ("reason", "purpose_not_covered"))] == 1
    assert decisions[(("decision", "deny"), ("reason", "unknown_item"))] == 1
    routes = {
        dict(labels)["route"]
        for (name, labels) in seen
        if name == "custody_http_request_duration_seconds_count"
    }
    assert {"/v1/checks", "/v1/checks/batch", "/v1/workers/<worker>/uses"} <= routes
    assert "w-123" not in client.get("/metrics").get_data(as_text=True)  # no path, no ref


def test_state_gauges_follow_the_database(api, client, clock):
    consent = api.consent(retention="P1D")
    api.clip(consent)
    api.clip(api.consent(worker="w-456"), worker="w-456")
    first = scrape(client)
    size = api.size()
    assert first[("custody_log_entries", ())] >= size and first[("custody_logs", ())] == 1
    assert first[("custody_deletions", (("state", "overdue"),))] == 0
    clock.advance(days=3)
    assert api.post("/v1/erasure-requests", {"worker": "w-456", "scope": "all"}).status_code == 202
    later = scrape(client)
    assert later[("custody_deletions", (("state", "overdue"),))] == 1  # due two days ago
    assert later[("custody_job_queue_depth", (("queue", "erasure"),))] == 1
    assert later[("custody_checkpoint_age_seconds", ())] == 0  # that growth was covered
    api.consent(worker="w-789")  # within a second of the last checkpoint: not yet covered
    clock.advance(seconds=30)
    assert scrape(client)[("custody_checkpoint_age_seconds", ())] == 30


def test_ready_when_the_database_answers_at_the_newest_migration(client, container):
    assert client.get("/readyz").status_code == 200
    with container.db.engine.begin() as connection:
        command.stamp(alembic_config(connection), "0007")
    behind = client.get("/readyz")
    assert behind.status_code == 503 and "migration" in behind.json["detail"]
    with container.db.engine.begin() as connection:
        command.stamp(alembic_config(connection), "head")
    assert client.get("/readyz").status_code == 200

"""The scale-out layout as deploy/layout.py starts it (its own PostgreSQL, an S3 server,
gunicorn with 4 workers, a scheduler, 2 job runners), taking kill -9 of each role and a
PostgreSQL crash-restart while it is written to: every acknowledged write stays, the log
verifies, and the roles come back."""

from __future__ import annotations

import glob
import json
import time

import httpx
import pytest

from deploy.layout import running

pytestmark = pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="PostgreSQL server binaries missing"
)


def _write(client: httpx.Client, written: list[str], seconds: float = 30.0) -> None:
    """One acknowledged write (a new API key), retried with its Idempotency-Key through
    what a fault does to requests in flight."""
    key = f"layout-{len(written)}-{time.monotonic_ns()}"
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = client.post(
                "/v1/apikeys", json={"role": "auditor"}, headers={"Idempotency-Key": key}
            )
            if answer.status_code == 201:
                written.append(answer.json()["id"])
                return
            assert answer.status_code in (502, 503), answer.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the layout did not come back"
        time.sleep(0.2)


def _log_lines(layout, role: str) -> str:
    return (layout.folder / "logs" / f"{role}.log").read_text()


def test_the_layout_keeps_acknowledged_writes_through_kills_and_a_database_restart(tmp_path):
    with running(tmp_path / "layout", own_postgres=True) as layout:
        made = json.loads(layout.custody("tenants", "create", "Layout", "--json"))
        headers = {"Authorization": f"Bearer {made['api_key']}"}
        written: list[str] = []
        with httpx.Client(base_url=layout.url, headers=headers, timeout=10) as client:
            for _ in range(5):
                _write(client, written)
            workers = layout.web_workers_pids()
            assert len(workers) == 4
            killed = layout.kill("web-worker")
            for _ in range(10):
                _write(client, written)
            scheduler = layout.kill("scheduler")
            runner = layout.kill("worker-1")
            layout.restart_postgres()
            for _ in range(10):
                _write(client, written)
            time.sleep(3)  # the restarted scheduler leads again and signs a checkpoint
            for _ in range(5):
                _write(client, written)
            replaced = layout.web_workers_pids()
            assert killed not in replaced and len(replaced) == 4  # gunicorn made a new one
            assert layout.role("scheduler").process.pid != scheduler
            assert layout.role("worker-1").process.pid != runner
            assert layout.role("scheduler").exits == [-9]
            assert layout.role("web").exits == [], _log_lines(layout, "web")[-5000:]
            listed = client.get("/v1/apikeys", params={"limit": 1000}).json()["keys"]
            deadline = time.monotonic() + 20
            while True:  # the scheduler, back, covers the newest entries with a checkpoint
                state = client.get(f"/v1/logs/{made['log']}").json()
                if int(state["checkpoint"].split("\n")[1]) == state["tree_size"]:
                    break
                assert time.monotonic() < deadline, state
                time.sleep(0.5)
            metrics = client.get("/metrics").text
        assert len(written) == 30
        assert set(written) <= {key["id"] for key in listed}  # nothing acknowledged was lost
        assert len(listed) == 31  # and no retry made a second key (the tenant's own is one)
        assert "scheduler: leading" in _log_lines(layout, "scheduler")
        verified = layout.custody("verify")
        assert ": OK," in verified, verified
        # Four workers count into one exposition: every write above was counted somewhere.
        counted = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("custody_http_request_duration_seconds_count")
            and 'route="/v1/apikeys"' in line
            and 'method="POST"' in line
            and 'status="201"' in line
        ]
        assert sum(counted) >= 30

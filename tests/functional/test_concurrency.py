"""Several processes appending at once, and a kill -9 in the middle of appending."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from ledger.log.verification import verify_database
from ledger.models import LogEntry

pytestmark = pytest.mark.slow


def start_worker(env, log_id: str, tag: str, count: int, threads: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.append_worker",
            log_id,
            tag,
            str(count),
            str(threads),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored(container, log_id: str) -> list[dict]:
    with container.db.session() as session:
        rows = session.execute(
            select(LogEntry.idx, LogEntry.body)
            .where(LogEntry.log_id == log_id)
            .order_by(LogEntry.idx)
        ).all()
    return [{"idx": idx, **json.loads(body)} for idx, body in rows]


def test_processes_appending_at_once_make_one_linear_log(container, env):
    log_id = container.tenants.create("t").log_id
    workers = [start_worker(env, log_id, f"p{i}", 60, 6) for i in range(4)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    acks = {}
    batches = entries = 0
    for i, (out, _) in enumerate(outputs):
        for line in out.splitlines():
            kind, a, b = line.split()
            if kind == "ack":
                acks[int(a)] = (f"p{i}", int(b))
            else:
                batches, entries = batches + int(a), entries + int(b)
    assert len(acks) == 240, "two appends were acknowledged with the same index"
    assert batches < entries, "no append was batched with another"
    rows = stored(container, log_id)
    assert [r["idx"] for r in rows] == list(range(242)), "gaps or duplicates"
    assert [r["seq"] for r in rows] == list(range(242))
    for index, (tag, n) in acks.items():
        assert rows[index]["data"] == {"n": n, "pad": tag}
    assert all(report.ok for report in verify_database(container.db))


def test_an_acknowledged_append_survives_kill_9(container, env):
    log_id = container.tenants.create("t").log_id
    worker = start_worker(env, log_id, "doomed", 100000, 8)
    acked: dict[int, int] = {}
    deadline = time.monotonic() + 120
    assert worker.stdout is not None
    while len(acked) < 150 and time.monotonic() < deadline:
        line = worker.stdout.readline()
        if line.startswith("ack"):
            _, index, n = line.split()
            acked[int(index)] = int(n)
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert len(acked) >= 150
    rows = stored(container, log_id)
    by_index = {r["idx"]: r for r in rows}
    for index, n in acked.items():
        assert by_index[index]["data"] == {"n": n, "pad": "doomed"}, (
            f"acknowledged entry {index} lost"
        )
    assert [r["idx"] for r in rows] == list(range(len(rows)))
    assert all(report.ok for report in verify_database(container.db))
    # The log takes appends again after the crash, from where it really stands.
    appended = container.appender.run([log_id], lambda w: w.append(log_id, "test.event", {"n": -1}))
    assert appended.index == len(rows)
    assert all(report.ok for report in verify_database(container.db))

"""The load driver and its audit against `custody serve` on SQLite: a short mixed load passes
the audit, and the audit names each kind of breakage done to a copy of the data afterwards."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from api.container import build
from api.settings import Settings
from ledger.log.reader import tenant_log_id
from ledger.models import ConsentEvent, Item, LogEntry
from loadtest.audit import audit
from loadtest.load import LoadConfig, LoadDriver, Mix, Target, create_tenants
from loadtest.records import CHECKS, read
from tests.support.served import custody_serve


def _env(data: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
        "CUSTODY_DATA_DIR": str(data),
        "CUSTODY_RATE_LIMIT": "off",
        "CUSTODY_LOG_LEVEL": "WARNING",  # stderr is read only when the service stops
        "CUSTODY_SWEEP_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """Two tenants, a pool of workers, five seconds of load with two faults, the audit."""
    root = tmp_path_factory.mktemp("load")
    env = _env(root / "data")
    tenants = create_tenants(env, 2)
    config = LoadConfig(
        seconds=5,
        rate=30,
        concurrency=8,
        mix=Mix(check=0.7, clip=0.15, consent=0.05, withdrawal=0.1),
        workers=6,
        clips_per_worker=2,
        short_share=0.5,
        short_retention="PT2S",
        upload_share=0.3,
        redaction_share=0.5,
        seed=7,
    )
    ran: list[float] = []

    def broken() -> None:
        raise RuntimeError("cannot reach it")

    with custody_serve(env) as served:
        with LoadDriver(Target(served.url, tuple(tenants)), config, root / "records") as driver:
            setup = driver.prepare()
            figures = driver.run(
                faults=[(1.0, "note", lambda: ran.append(driver.clock())), (2.0, "bad", broken)]
            )
        result = audit(env, root / "records", wait=20)
        stderr = served.stop()
    return {
        "env": env,
        "root": root,
        "setup": setup,
        "figures": figures,
        "result": result,
        "ran": ran,
        "stderr": stderr,
    }


def test_a_short_mixed_load_passes_the_audit(run):
    figures, result = run["figures"], run["result"]
    assert run["setup"]["consents"] == 12 and run["setup"]["items"] == 24
    assert figures["errors"] == 0, figures["errors_by_reason"]
    assert figures["dropped"] == 0
    assert set(figures["kinds"]) == {"check", "clip", "consent", "withdrawal"}
    for kind, row in figures["kinds"].items():
        assert row["completed"] > 0, kind
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p99"] <= row["latency_ms"]["max"]
    assert figures["completed"] == sum(r["completed"] for r in figures["kinds"].values())
    assert 10 < figures["rate"] < 60  # 30/s asked, Poisson arrivals over 5 s
    assert 0 < figures["driver_cpu"]["seconds"]
    assert result.problems == [], "\n".join(result.problems + [run["stderr"][-3000:]])
    audited = result.figures
    assert audited["records"]["withdrawal"] > 0 and audited["records"]["content"] > 0
    assert audited["acknowledged_writes_checked"] > figures["completed"]  # setup too
    assert audited["duplicates"] == 0 and audited["entries_verified"] > 0
    assert audited["checks_after_withdrawal"] > 0  # the rule had cases to judge
    assert audited["fresh_checks"] > 0
    assert audited["records"]["redaction"] > 0 and audited["redactions"].get("done", 0) > 0
    assert audited["deletions"]["due"] > 0  # short retention fell due during the run
    assert audited["deletions"]["erased"] >= audited["deletions"]["due"]
    assert audited["deletions"]["vault_objects_checked"] > 0


def test_faults_run_at_their_seconds_and_failures_are_noted(run):
    faults = {f["name"]: f for f in run["figures"]["faults"]}
    assert run["ran"] and 1.0 <= run["ran"][0] < 1.5
    assert faults["note"]["error"] is None and 1.0 <= faults["note"]["began"] < 1.5
    assert faults["bad"]["error"] == "RuntimeError: cannot reach it"


def test_every_answer_is_written_down_without_keys_or_worker_references(run):
    root = run["root"] / "records"
    text = (root / "acked.jsonl").read_text() + (root / CHECKS).read_text()
    assert "cust_" not in text and "lw-" not in text
    checks = list(read(root / CHECKS))
    assert len(checks) == run["figures"]["kinds"]["check"]["completed"]
    assert all(c["sent"] <= c["at"] for c in checks)


def test_the_audit_names_each_breakage(run, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(run["env"]["CUSTODY_DATA_DIR"], copy)
    env = {**run["env"], "CUSTODY_DATA_DIR": str(copy)}
    records = tmp_path / "records"
    shutil.copytree(run["root"] / "records", records)
    acked = [json.loads(line) for line in (records / "acked.jsonl").read_text().splitlines()]
    consents = [r for r in acked if r["kind"] == "consent"]
    tenants = sorted({r["tenant"] for r in consents})
    clips = {r["consent"]: r for r in acked if r["kind"] == "clip"}
    withdrawal = next(r for r in acked if r["kind"] == "withdrawal" and r["consent"] in clips)
    clip_under = clips[withdrawal["consent"]]
    container = build(Settings.from_env(env), migrate=False)
    try:
        with container.db.write() as session, session.begin():
            # An acknowledged withdrawal's row gone (a lost write).
            session.execute(delete(ConsentEvent).where(ConsentEvent.id == withdrawal["id"]))
            # An erased item back to active (a deletion undone, its tombstone left).
            erased = session.scalar(select(Item.id).where(Item.status == "erased").limit(1))
            session.execute(update(Item).where(Item.id == erased).values(status="active"))
        # A registration appended twice: a properly chained entry, so the log verifies.
        log = tenant_log_id(container.db, clip_under["tenant"])
        with container.db.session() as session:
            first = json.loads(
                session.scalar(
                    select(LogEntry.body).where(
                        LogEntry.log_id == log, LogEntry.idx == clip_under["log_index"]
                    )
                )
            )
        container.appender.run(
            [log],
            lambda w: w.append(log, "clip.registered", first["data"], subject=first["subject"]),
        )
        # The other tenant's last entry dropped: that log no longer verifies.
        other = next(tenant_log_id(container.db, t) for t in tenants if t != clip_under["tenant"])
        with container.db.write() as session, session.begin():
            last = session.scalar(select(func.max(LogEntry.idx)).where(LogEntry.log_id == other))
            session.execute(delete(LogEntry).where(LogEntry.log_id == other, LogEntry.idx == last))
    finally:
        container.close()
    # A check allowed after the withdrawal was acknowledged.
    with open(records / CHECKS, "a") as checks:
        forged = {
            "tenant": clip_under["tenant"],
            "item": clip_under["id"],
            "purpose": withdrawal["purposes"][0],
            "decision": "allow",
            "reasons": [],
            "log_index": clip_under["log_index"],
            "sent": withdrawal["at"] + 0.5,
            "at": withdrawal["at"] + 0.6,
        }
        checks.write(json.dumps(forged) + "\n")

    problems = audit(env, records, fresh_checks=None).problems
    kinds = {p.split(":")[0] for p in problems}
    assert {
        "withdrawal not in the database",
        "due deletion skipped",
        "erasure tombstones",
        "duplicate log entries",
        "writes done twice",
        "log does not verify",
        "withdrawal missing from a later check",
        "check not on the log",
    } <= kinds, "\n".join(problems)
    assert any(withdrawal["id"] in p for p in problems)
    assert any(f"clip.registered {clip_under['id']}" in p for p in problems)

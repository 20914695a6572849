"""The appender: atomic units, group commit, checkpoints, key rotation."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from ledger.errors import InvalidEntry, NotFound
from ledger.log.appender import checkpoint_due
from ledger.log.reader import LogReader
from ledger.log.verification import verify_database
from ledger.models import Checkpoint, Log, LogEntry, Tenant
from tests.independent import rfc9162
from verify.note import parse_checkpoint, verify_note


def _append(container, log_id, n, **extra):
    return container.appender.run(
        [log_id], lambda w: w.append(log_id, "test.event", {"n": n, **extra})
    )


def test_tenant_creation_starts_its_log_with_a_signed_checkpoint(container):
    created = container.tenants.create("Acme Motion")
    with container.db.session() as session:
        entries = LogReader(session).entries(created.log_id, 0, 10)
        first = json.loads(entries[0].body)
        assert first["type"] == "log.created" and first["seq"] == 0 and first["prev"] is None
        assert first["data"] == {"tenant": created.tenant_id, "origin": created.origin}
        assert json.loads(entries[1].body)["type"] == "apikey.created"
        # No names on the log: the tenant's name lives only in its table.
        assert all(b"Acme" not in e.body for e in entries)
        note = LogReader(session).latest_checkpoint(created.log_id).note
    keys = [(k.name, k.public_key) for k in _log_keys(container)]
    body, _ = verify_note(note, keys)
    checkpoint = parse_checkpoint(body)
    assert checkpoint.size == 2
    assert checkpoint.root == rfc9162.root_from_leaves([rfc9162.leaf_hash(e.body) for e in entries])


def _log_keys(container):
    from ledger.models import SigningKeyRecord

    with container.db.session() as session:
        return list(
            session.scalars(select(SigningKeyRecord).where(SigningKeyRecord.purpose == "log"))
        )


def test_entries_chain_and_are_canonical(container):
    log_id = container.tenants.create("t").log_id
    appended = [_append(container, log_id, n) for n in range(5)]
    assert [a.index for a in appended] == [2, 3, 4, 5, 6]
    for before, after in itertools.pairwise(appended):
        entry = json.loads(after.body)
        assert base64.b64decode(entry["prev"]) == before.leaf_hash
        # Stored bytes are the canonical form: sorted keys, no spaces.
        assert after.body == json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def test_a_failing_unit_rolls_back_alone(container):
    log_id = container.tenants.create("t").log_id
    barrier = threading.Barrier(3)
    results: dict[str, object] = {}

    def good(name, n):
        barrier.wait()
        results[name] = _append(container, log_id, n)

    def bad():
        def work(w):
            w.append(log_id, "test.event", {"n": 99})
            w.session.add(Tenant(id="ten_halfwrittenxx", name="x", created_at=w.now()))
            raise RuntimeError("boom after a write")

        barrier.wait()
        try:
            container.appender.run([log_id], work)
        except RuntimeError as exc:
            results["bad"] = exc

    threads = [
        threading.Thread(target=good, args=("a", 1)),
        threading.Thread(target=good, args=("b", 2)),
        threading.Thread(target=bad),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results["bad"], RuntimeError)
    with container.db.session() as session:
        assert session.get(Tenant, "ten_halfwrittenxx") is None
        bodies = [json.loads(e.body) for e in LogReader(session).entries(log_id, 0, 100)]
    assert sorted(b["data"]["n"] for b in bodies if b["type"] == "test.event") == [1, 2]
    assert [b["seq"] for b in bodies] == list(range(len(bodies)))
    assert all(r.ok for r in verify_database(container.db))


def test_invalid_entries_are_refused_without_a_trace(container):
    log_id = container.tenants.create("t").log_id
    with container.db.session() as session:
        size = session.get(Log, log_id).size
    for data in ({"n": 1.5}, {"n": 1, "extra": True}, {"n": "one"}, {}):
        with pytest.raises(InvalidEntry):
            container.appender.run([log_id], lambda w, d=data: w.append(log_id, "test.event", d))
    with pytest.raises(InvalidEntry, match="unknown entry type"):
        container.appender.run([log_id], lambda w: w.append(log_id, "no.such.type", {}))
    with pytest.raises(InvalidEntry, match="pseudonym"):
        container.appender.run(
            [log_id], lambda w: w.append(log_id, "test.event", {"n": 1}, subject="Jane Doe")
        )
    with pytest.raises(NotFound):
        _append(container, "log_doesnotexist00", 1)
    with container.db.session() as session:
        assert session.get(Log, log_id).size == size
        assert (
            session.scalar(
                select(func.count()).select_from(LogEntry).where(LogEntry.log_id == log_id)
            )
            == size
        )


def test_group_commit_batches_concurrent_callers(container):
    log_id = container.tenants.create("t").log_id
    before = container.appender.stats.batches
    leading = threading.Event()

    def slow(w):
        leading.set()
        # Hold the commit until everyone else has queued behind it (however slowly the
        # machine starts their threads).
        deadline = time.monotonic() + 30
        while len(container.appender._queue) < 63 and time.monotonic() < deadline:
            time.sleep(0.01)
        return w.append(log_id, "test.event", {"n": 0})

    first = threading.Thread(target=container.appender.run, args=([log_id], slow))
    first.start()
    assert leading.wait(10)
    threads = [threading.Thread(target=_append, args=(container, log_id, n)) for n in range(1, 64)]
    for t in threads:
        t.start()
    for t in [first, *threads]:
        t.join()
    batches = container.appender.stats.batches - before
    assert batches <= 3, f"64 appends took {batches} transactions"
    with container.db.session() as session:
        bodies = [json.loads(e.body) for e in LogReader(session).entries(log_id, 0, 1000)]
    assert sorted(b["data"]["n"] for b in bodies if b["type"] == "test.event") == list(range(64))
    assert all(r.ok for r in verify_database(container.db))


def test_checkpoints_at_most_once_a_second_and_only_when_grown(container, clock):
    log_id = container.tenants.create("t").log_id

    def count():
        with container.db.session() as session:
            return session.scalar(
                select(func.count()).select_from(Checkpoint).where(Checkpoint.log_id == log_id)
            )

    assert count() == 1
    _append(container, log_id, 1)
    checkpoint_due(container.appender)
    assert count() == 1, "a second checkpoint within the same second"
    clock.advance(1)
    checkpoint_due(container.appender)
    assert count() == 2
    clock.advance(5)
    checkpoint_due(container.appender)
    assert count() == 2, "a checkpoint although the log did not grow"


def test_rotation_is_logged_and_old_key_cosigns_during_overlap(container, clock):
    log_id = container.tenants.create("t").log_id
    old = [k for k in _log_keys(container) if k.retired_at is None][0]
    rotation = container.keys.rotate(container.appender, "log")
    assert rotation.old_kid == old.kid
    clock.advance(2)
    _append(container, log_id, 1)
    keys = {k.kid: (k.name, k.public_key) for k in _log_keys(container)}
    with container.db.session() as session:
        note = LogReader(session).latest_checkpoint(log_id).note
        last = json.loads(LogReader(session).entries(log_id, 0, 100)[-2].body)
    assert last["type"] == "key.rotated" and last["data"]["old_key"] == old.kid
    assert len(verify_note(note, [keys[rotation.old_kid]])[1]) == 1
    assert len(verify_note(note, [keys[rotation.new_kid]])[1]) == 1
    clock.advance(days=8)
    _append(container, log_id, 2)
    with container.db.session() as session:
        note = LogReader(session).latest_checkpoint(log_id).note
    assert note.count("\u2014") == 1, "the old key signs after its overlap ended"
    with pytest.raises(Exception, match="no signature by a known key"):
        verify_note(note, [keys[rotation.old_kid]])
    assert all(r.ok for r in verify_database(container.db))

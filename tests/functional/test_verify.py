"""`custody verify` and `custody export`: tampering with the database or a bundle is caught
and the first bad entry is named."""

from __future__ import annotations

import base64
import json

import pytest
from nacl.signing import SigningKey
from sqlalchemy import delete, select, update

from ledger.models import Checkpoint, Log, LogEntry
from tests.support.zips import rewrite
from verify.note import Checkpoint as CheckpointBody
from verify.note import sign_note


@pytest.fixture
def populated(container, clock):
    """A tenant whose log has 20 entries and checkpoints at several sizes."""
    created = container.tenants.create("Platform")
    log_id = created.log_id
    for n in range(18):
        if n % 5 == 0:
            clock.advance(1)
        container.appender.run([log_id], lambda w, n=n: w.append(log_id, "test.event", {"n": n}))
    clock.advance(1)
    from ledger.log.appender import checkpoint_due

    checkpoint_due(container.appender)
    return created


def sql(container, statement):
    with container.db.write() as session, session.begin():
        session.execute(statement)


def body_of(container, log_id, idx):
    with container.db.session() as session:
        return session.scalar(
            select(LogEntry.body).where(LogEntry.log_id == log_id, LogEntry.idx == idx)
        )


def test_untouched_database_and_bundle_verify(custody, populated, tmp_path):
    result = custody("verify", "--json")
    report = json.loads(result.stdout)
    assert report["ok"] and report["logs"][0]["entries"] == 20
    assert report["logs"][0]["checkpoints"] >= 4
    custody("export", "--tenant", populated.tenant_id, "--out", str(tmp_path / "b.zip"))
    assert "OK, 20 entries" in custody("verify", str(tmp_path / "b.zip")).stdout


def flip_byte(body: bytes) -> bytes:
    """Change one bit of the last digit of `n`: still valid JSON, another number."""
    at = body.index(b'"n":') + 4
    while body[at + 1 : at + 2].isdigit():
        at += 1
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def change_stored_entry(container, log_id: str, idx: int, fix_leaf: bool) -> None:
    from verify.merkle import leaf_hash

    body = flip_byte(body_of(container, log_id, idx))
    values = {"body": body, **({"leaf_hash": leaf_hash(body)} if fix_leaf else {})}
    sql(
        container,
        update(LogEntry).where(LogEntry.log_id == log_id, LogEntry.idx == idx).values(**values),
    )


@pytest.mark.parametrize(
    ("idx", "fix_leaf", "expected"),
    [
        (7, False, "entry 7 was changed"),
        (7, True, "entry 7 was changed"),
        (19, True, "entry 19 was changed"),
    ],
    ids=["byte", "byte-and-leaf-hash", "last-entry"],
)
def test_a_changed_entry_is_named(custody, container, populated, idx, fix_leaf, expected):
    change_stored_entry(container, populated.log_id, idx, fix_leaf)
    result = custody("verify", check=False)
    assert result.returncode == 1 and expected in result.stderr
    scoped = custody("verify", "--tenant", populated.tenant_id, check=False)
    assert scoped.returncode == 1 and expected in scoped.stderr


def test_deleted_entry_is_named(custody, container, populated):
    sql(container, delete(LogEntry).where(LogEntry.log_id == populated.log_id, LogEntry.idx == 4))
    result = custody("verify", check=False)
    assert result.returncode == 1 and "entry 4 is missing" in result.stderr


def test_swapped_entries_are_named(custody, container, populated):
    log_id = populated.log_id
    five, nine = body_of(container, log_id, 5), body_of(container, log_id, 9)
    with container.db.write() as session, session.begin():
        session.execute(delete(LogEntry).where(LogEntry.log_id == log_id, LogEntry.idx.in_([5, 9])))
        session.flush()
        from verify.merkle import leaf_hash

        session.add_all(
            [
                LogEntry(log_id=log_id, idx=5, body=nine, leaf_hash=leaf_hash(nine)),
                LogEntry(log_id=log_id, idx=9, body=five, leaf_hash=leaf_hash(five)),
            ]
        )
    result = custody("verify", check=False)
    assert result.returncode == 1 and "entry 5 carries seq 9" in result.stderr


def test_truncation_is_caught_even_with_the_head_rewritten(custody, container, populated):
    log_id = populated.log_id
    sql(container, delete(LogEntry).where(LogEntry.log_id == log_id, LogEntry.idx >= 15))
    result = custody("verify", check=False)
    assert result.returncode == 1 and "entry 15 is missing" in result.stderr
    # Hide it better: fix the head, too. The signed checkpoint at size 20 still knows.
    with container.db.session() as session:
        head = session.get(Log, log_id)
    sql(container, update(Log).where(Log.id == log_id).values(size=15, last_leaf=None))
    result = custody("verify", check=False)
    assert result.returncode == 1 and "truncated" in result.stderr and "entry 15" in result.stderr
    assert head.size == 20


def test_forged_checkpoint_is_named(custody, container, populated):
    log_id = populated.log_id
    with container.db.session() as session:
        checkpoint = session.scalars(
            select(Checkpoint).where(Checkpoint.log_id == log_id).order_by(Checkpoint.tree_size)
        ).all()[2]
    # A signature line by the real key's name and key hash, but made with another key.
    body, _, sig_line = checkpoint.note.rpartition("\n\n")
    _, name, blob = sig_line.strip().split(" ")
    forged_sig = SigningKey.generate().sign((body + "\n").encode()).signature
    forged = f"{body}\n\n\u2014 {name} {base64.b64encode(base64.b64decode(blob)[:4] + forged_sig).decode()}\n"
    sql(
        container,
        update(Checkpoint)
        .where(Checkpoint.log_id == log_id, Checkpoint.tree_size == checkpoint.tree_size)
        .values(note=forged),
    )
    result = custody("verify", check=False)
    assert result.returncode == 1
    assert (
        f"checkpoint at tree size {checkpoint.tree_size}" in result.stderr
        and "does not verify" in result.stderr
    )


def test_checkpoint_signed_by_an_unknown_key_is_refused(custody, container, populated):
    log_id = populated.log_id
    with container.db.session() as session:
        checkpoint = session.scalars(select(Checkpoint).where(Checkpoint.log_id == log_id)).first()

    class Rogue:
        name = container.settings.origin
        _key = SigningKey.generate()
        public_key = bytes(_key.verify_key)

        def sign(self, message):
            return self._key.sign(message).signature

    note = sign_note(
        CheckpointBody(populated.origin, checkpoint.tree_size, checkpoint.root_hash).body(),
        [Rogue()],
    )
    sql(
        container,
        update(Checkpoint)
        .where(Checkpoint.log_id == log_id, Checkpoint.tree_size == checkpoint.tree_size)
        .values(note=note),
    )
    result = custody("verify", check=False)
    assert result.returncode == 1 and "no signature by a known key" in result.stderr


# --- bundles ---------------------------------------------------------------------------------


def edit_lines(edit):  # type: ignore[no-untyped-def]
    def apply(data: bytes) -> bytes:
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        return b"".join(json.dumps(line).encode() + b"\n" for line in edit(lines))

    return apply


def change_entry(index: int, fix_leaf: bool):  # type: ignore[no-untyped-def]
    def edit(lines):  # type: ignore[no-untyped-def]
        from tests.independent.rfc9162 import leaf_hash

        body = flip_byte(base64.b64decode(lines[index]["entry"]))
        lines[index]["entry"] = base64.b64encode(body).decode()
        if fix_leaf:
            lines[index]["leaf_hash"] = base64.b64encode(leaf_hash(body)).decode()
        return lines

    return edit


def swap_contents(a: int, b: int):  # type: ignore[no-untyped-def]
    def edit(lines):  # type: ignore[no-untyped-def]
        for key in ("entry", "leaf_hash"):
            lines[a][key], lines[b][key] = lines[b][key], lines[a][key]
        return lines

    return edit


@pytest.fixture
def bundle(custody, populated, tmp_path):
    path = tmp_path / "bundle.zip"
    custody("export", "--tenant", populated.tenant_id, "--out", str(path))
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (change_entry(3, fix_leaf=False), "entry 3 was changed"),
        (change_entry(3, fix_leaf=True), "entry 3 was changed"),
        (change_entry(19, fix_leaf=True), "entry 19"),
        (lambda lines: lines[:6] + lines[7:], "entry 6 is missing"),
        (swap_contents(6, 8), "entry 6 carries seq 8"),
        (lambda lines: lines[:12], "entry 12 is missing"),
    ],
    ids=["byte", "byte-and-leaf", "last-entry", "deleted", "swapped", "truncated"],
)
def test_tampered_bundle_is_named(custody, bundle, edit, expected):
    rewrite(bundle, "entries.jsonl", edit_lines(edit))
    result = custody("verify", str(bundle), check=False)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr


def test_truncated_bundle_with_rewritten_metadata_is_caught(custody, bundle):
    """Cut the tail and say the entries end there: the anchor's tree is larger, so the entry
    that must follow the last one is missing."""
    rewrite(bundle, "entries.jsonl", edit_lines(lambda lines: lines[:12]))
    rewrite(
        bundle,
        "bundle.json",
        lambda data: json.dumps({**json.loads(data), "entries": {"first": 0, "end": 12}}).encode(),
    )
    result = custody("verify", str(bundle), check=False)
    assert result.returncode == 1 and "truncated: entry 12 is missing" in result.stderr


def test_bundle_checked_against_independently_fetched_keys(custody, bundle, client, tmp_path):
    published = tmp_path / "keys.json"
    published.write_text(client.get("/.well-known/custody-keys").text)
    assert custody("verify", str(bundle), "--keys", str(published)).returncode == 0
    # A bundle whose keys.json was swapped for the forger's keys fails against the real ones.
    stranger = SigningKey.generate()
    from verify.note import verifier_key

    fake = {
        "keys": [
            {
                "purpose": "log",
                "verifier_key": verifier_key("custody.local", bytes(stranger.verify_key)),
            }
        ]
    }
    rewrite(bundle, "keys.json", lambda data: json.dumps(fake).encode())
    result = custody("verify", str(bundle), check=False)
    assert result.returncode == 1 and "no signature by a known key" in result.stderr
    # Against the real keys the log verifies, and the swapped file is still named.
    result = custody("verify", str(bundle), "--keys", str(published), check=False)
    assert result.returncode == 1 and "keys.json does not match its SHA-256" in result.stderr


def test_unreadable_bundle_is_a_clear_error(custody, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    result = custody("verify", str(junk), check=False)
    assert result.returncode == 1 and "unreadable bundle" in result.stderr

"""The verifiable audit export: a real bundle from the API and the CLI, checked by
`custody verify`, by an independent RFC 9162 implementation and by standard tools
(sha256sum, openssl); tampering with it is named; nothing of another tenant and nothing
personal is in it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.clock import format_ts
from tests.independent import rfc9162
from tests.support.http import PROBLEM, auth, log_entries
from tests.support.scenario import seed
from tests.support.zips import rewrite
from verify.bundle import verify_bundle
from verify.log import VerificationError
from verify.note import parse_checkpoint


@pytest.fixture
def scenario(api, client, other, container, clock):  # type: ignore[no-untyped-def]
    return seed(api, client, other, container, clock)


@pytest.fixture
def auditor(api, container):  # type: ignore[no-untyped-def]
    return auth(container.apikeys.create(api.tenant.tenant_id, "auditor").token)


def export(api, auditor, folder: Path, query: str = "", name: str = "bundle.zip"):  # type: ignore[no-untyped-def]
    response = api.client.get(f"/v1/audit/export{query}", headers=auditor)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/zip"
    path = folder / name
    path.write_bytes(response.data)
    return path, dict(response.headers)


def read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as bundle:
        return bundle.read(name)


def jsonl(path: Path, name: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in read(path, name).splitlines()]


def keys_of(api) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return api.client.get("/.well-known/custody-keys").json


def test_the_bundle_holds_the_whole_log_with_proofs_and_the_tenants_records(  # type: ignore[no-untyped-def]
    api, auditor, scenario, tmp_path
):
    size_before = api.size()
    path, headers = export(api, auditor, tmp_path)
    report = verify_bundle(path, keys_of(api))
    assert report.ok and report.entries == size_before

    meta = json.loads(read(path, "bundle.json"))
    anchor = parse_checkpoint(read(path, "anchor/checkpoint.txt").decode())
    assert meta["tree_size"] == anchor.size >= size_before
    assert meta["entries"] == {"first": 0, "end": size_before}
    # Every entry, with a proof an independent RFC 9162 implementation accepts.
    entries = jsonl(path, "entries.jsonl")
    assert [e["index"] for e in entries] == list(range(size_before + (anchor.size > size_before)))
    for line in entries:
        body = base64.b64decode(line["entry"])
        leaf = rfc9162.leaf_hash(body)
        proof = [base64.b64decode(h) for h in line["proof"]]
        assert rfc9162.verify_inclusion(leaf, line["index"], anchor.size, proof, anchor.root)
    served = log_entries(api.client, api.tenant)
    assert [json.loads(base64.b64decode(e["entry"])) for e in entries[:size_before]] == served[
        :size_before
    ]

    # The tenant's records, and nobody else's; nothing personal anywhere in the bundle.
    consents = jsonl(path, "projections/consents.jsonl")
    assert {row["id"] for row in consents} >= set(scenario["consents"])
    items = {row["id"]: row for row in jsonl(path, "projections/items.jsonl")}
    assert set(scenario["clips"]) | {scenario["label"]} <= set(items)
    assert items[scenario["clips"][2]]["status"] == "erased"
    decisions = jsonl(path, "projections/use_decisions.jsonl")
    assert sum(1 for d in decisions if d["item_id"] == scenario["clips"][0]) == 4
    assert any(d["decision"] == "deny" for d in decisions)
    requests = {row["id"] for row in jsonl(path, "projections/erasure_requests.jsonl")}
    assert {scenario["erased_request"], scenario["pending_request"]} <= requests
    assert scenario["erasure"] in {row["id"] for row in jsonl(path, "projections/erasures.jsonl")}
    with zipfile.ZipFile(path) as bundle:
        everything = b"".join(bundle.read(name) for name in bundle.namelist())
    for foreign in scenario["foreign"][2:]:
        assert foreign.encode() not in everything
    assert b"w-123" not in everything and b"w-999" not in everything
    # CSV twins say the same as the JSON Lines.
    rows = list(csv.DictReader(io.StringIO(read(path, "projections/consents.csv").decode())))
    assert [row["id"] for row in rows] == [row["id"] for row in consents]

    # Issuing it is on the log, with the hash of the bytes received.
    digest = hashlib.sha256(path.read_bytes()).digest()
    assert headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    issued = api.get(f"/v1/reports/{headers['Custody-Report-Id']}").json
    assert issued["kind"] == "export" and issued["sha256"] == digest.hex()
    entry = log_entries(api.client, api.tenant)[int(headers["Custody-Log-Index"])]
    assert entry["type"] == "report.issued" and entry["data"]["kind"] == "export"
    assert entry["data"]["tree_size"] == anchor.size


def test_standard_tools_check_files_and_the_anchor_signature(api, auditor, scenario, tmp_path):  # type: ignore[no-untyped-def]
    path, _ = export(api, auditor, tmp_path)
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(path) as bundle:
        bundle.extractall(folder)
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], check=False, cwd=folder, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert "entries.jsonl: OK" in sums.stdout

    # The key in the PEM is the published log key.
    published = {k["x"] for k in keys_of(api)["keys"] if k["purpose"] == "log"}
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    pem = load_pem_public_key((folder / "anchor/signature-1.pem").read_bytes())
    raw = pem.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() in published

    def openssl() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "anchor/signature-1.pem",
                "-rawin",
                "-in",
                "anchor/checkpoint.txt",
                "-sigfile",
                "anchor/signature-1.sig",
            ],
            check=False,
            cwd=folder,
            capture_output=True,
            text=True,
        )

    assert openssl().returncode == 0
    forged = folder / "anchor/checkpoint.txt"
    lines = forged.read_text().split("\n")
    forged.write_text("\n".join([lines[0], str(int(lines[1]) + 1), *lines[2:]]))
    assert openssl().returncode != 0
    # The README names this bundle's numbers and the commands above.
    readme = (folder / "README.txt").read_text()
    meta = json.loads((folder / "bundle.json").read_text())
    assert f"tree of {meta['tree_size']} entries" in readme
    assert "sha256sum -c SHA256SUMS" in readme and "openssl pkeyutl -verify" in readme
    # Its leaf-hash commands, run as written, give the entry's leaf hash twice.
    step = readme[readme.index("3. An entry's leaf hash") : readme.index("4. Each entry")]
    commands = [line.strip() for line in step.splitlines() if line.startswith("       ")]
    assert len(commands) == 3
    outputs = [
        subprocess.run(
            ["bash", "-c", command], check=True, cwd=folder, capture_output=True, text=True
        ).stdout
        for command in commands
    ]
    computed, stated = outputs[1].split()[0], "".join(outputs[2].split())
    assert computed == stated and len(computed) == 64


@pytest.fixture
def period(api, auditor, scenario, tmp_path):  # type: ignore[no-untyped-def]
    """A bundle of the day of the first uses: the log has entries before and after it."""
    since = scenario["first_use"]
    until = since + timedelta(days=1)
    query = f"?from={format_ts(since)}&to={format_ts(until)}"
    path, _ = export(api, auditor, tmp_path, query.replace("+", "%2B"))
    return path, format_ts(since), format_ts(until)


def test_a_period_holds_its_entries_and_the_two_that_bound_it(api, period):  # type: ignore[no-untyped-def]
    path, since, until = period
    assert verify_bundle(path, keys_of(api)).ok
    meta = json.loads(read(path, "bundle.json"))
    first, end = meta["entries"]["first"], meta["entries"]["end"]
    assert 0 < first < end < meta["tree_size"]
    entries = {
        e["index"]: json.loads(base64.b64decode(e["entry"])) for e in jsonl(path, "entries.jsonl")
    }
    assert sorted(entries) == list(range(first - 1, end + 1))
    assert entries[first - 1]["ts"] < since <= entries[first]["ts"]
    assert entries[end - 1]["ts"] < until <= entries[end]["ts"]
    assert all(since <= entries[i]["ts"] < until for i in range(first, end))
    # The day's uses are the entries of the period: four checks of the first day.
    assert sum(1 for i in range(first, end) if entries[i]["type"] == "use.decided") == 3
    # Checkpoints reach back to the one before the first entry shown.
    assert meta["checkpoints"][0] <= first - 1 and meta["checkpoints"][-1] == meta["tree_size"]


def lines_edit(edit):  # type: ignore[no-untyped-def]
    def apply(data: bytes) -> bytes:
        lines = [json.loads(line) for line in data.splitlines()]
        return b"".join(json.dumps(line).encode() + b"\n" for line in edit(lines))

    return apply


def change_entry(at: int, fix_leaf: bool):  # type: ignore[no-untyped-def]
    def edit(lines):  # type: ignore[no-untyped-def]
        entry = json.loads(base64.b64decode(lines[at]["entry"]))
        entry["ts"] = entry["ts"][:-2] + "9Z"
        body = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()
        lines[at]["entry"] = base64.b64encode(body).decode()
        if fix_leaf:
            lines[at]["leaf_hash"] = base64.b64encode(rfc9162.leaf_hash(body)).decode()
        return lines

    return edit


def meta_edit(**changes):  # type: ignore[no-untyped-def]
    def apply(data: bytes) -> bytes:
        meta = json.loads(data)
        for key, value in changes.items():
            meta[key] = value(meta) if callable(value) else value
        return json.dumps(meta).encode()

    return apply


def shorter_period(meta):  # type: ignore[no-untyped-def]
    return {**meta["entries"], "end": meta["entries"]["end"] - 1}


def forge_row(data: bytes) -> bytes:
    rows = [json.loads(line) for line in data.splitlines()]
    rows[0]["status"] = "withdrawn" if rows[0]["status"] != "withdrawn" else "active"
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


@pytest.mark.parametrize(
    ("name", "edit", "expected"),
    [
        (
            "entries.jsonl",
            lines_edit(change_entry(2, fix_leaf=False)),
            "no longer hash to its leaf hash",
        ),
        (
            "entries.jsonl",
            lines_edit(change_entry(2, fix_leaf=True)),
            "is not in the tree signed at size",
        ),
        ("entries.jsonl", lines_edit(lambda lines: lines[:-1]), "truncated"),
        ("entries.jsonl", lines_edit(lambda lines: lines[:2] + lines[3:]), "is missing"),
        ("bundle.json", meta_edit(entries=shorter_period), "contradicts the period"),
        ("bundle.json", meta_edit(tree_size=lambda m: m["tree_size"] - 1), "tree size"),
        ("consistency.jsonl", lambda data: b"", "no consistency proof"),
        ("projections/consents.jsonl", forge_row, "differs from the JSON Lines row"),
        ("README.txt", lambda data: data + b"\nAll good, no need to check.\n", "README.txt"),
    ],
    ids=[
        "entry-byte",
        "entry-and-leaf",
        "boundary-dropped",
        "entry-dropped",
        "period-narrowed",
        "tree-size",
        "consistency-dropped",
        "projection-row",
        "readme",
    ],
)
def test_tampering_with_a_period_bundle_is_named(api, period, name, edit, expected):  # type: ignore[no-untyped-def]
    path = period[0]
    rewrite(path, name, edit)
    with pytest.raises(VerificationError) as caught:
        verify_bundle(path, keys_of(api))
    assert expected in str(caught.value)


def test_a_row_moved_to_another_entry_is_caught(api, auditor, scenario, tmp_path):  # type: ignore[no-untyped-def]
    """Rows edited in both files alike: the entry a row cites must name it."""
    path, _ = export(api, auditor, tmp_path)

    def retarget(data: bytes) -> bytes:
        rows = [json.loads(line) for line in data.splitlines()]
        rows[0]["log_index"], rows[1]["log_index"] = rows[1]["log_index"], rows[0]["log_index"]
        rows[0], rows[1] = rows[1], rows[0]
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows)

    def retarget_csv(data: bytes) -> bytes:
        table = list(csv.reader(io.StringIO(data.decode(), newline="")))
        at = table[0].index("log_index")
        table[1][at], table[2][at] = table[2][at], table[1][at]
        table[1], table[2] = table[2], table[1]
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(table)
        return out.getvalue().encode()

    rewrite(path, "projections/consents.jsonl", retarget)
    rewrite(path, "projections/consents.csv", retarget_csv)
    with pytest.raises(VerificationError, match="does not mention"):
        verify_bundle(path, keys_of(api))


def test_roles_and_bad_input(api, auditor, container, scenario):  # type: ignore[no-untyped-def]
    platform = auth(container.apikeys.create(api.tenant.tenant_id, "platform").token)
    refused = api.client.get("/v1/audit/export", headers=platform)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    size = api.size()
    for query in ("?from=yesterday", "?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z"):
        response = api.client.get(f"/v1/audit/export{query}", headers=auditor)
        assert response.status_code in (400, 422) and response.mimetype == PROBLEM, query
        assert response.json["detail"]
    assert api.size() == size


def test_the_cli_exports_a_period_and_verifies_it_offline(  # type: ignore[no-untyped-def]
    custody, api, scenario, tmp_path
):
    out = tmp_path / "export.zip"
    since = format_ts(scenario["first_use"])
    result = custody("export", "--tenant", api.tenant.tenant_id, "--from", since, "--out", str(out))
    assert "report rpt_" in result.stdout
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(keys_of(api)))
    checked = custody("verify", str(out), "--keys", str(keys), "--json")
    report = json.loads(checked.stdout)
    assert report["ok"] and report["logs"][0]["entries"] > 0
    assert json.loads(read(out, "bundle.json"))["period"]["from"] == since
    assert not (tmp_path / "export.zip.partial").exists()


def test_an_old_bundle_fails_against_a_checkpoint_seen_since(  # type: ignore[no-untyped-def]
    custody, api, auditor, scenario, clock, tmp_path
):
    """A stale export handed over as current: only a checkpoint the auditor kept tells."""
    path, _ = export(api, auditor, tmp_path)
    for _ in range(3):
        api.check(scenario["clips"][0])
    clock.advance(seconds=2)
    newer, _ = export(api, auditor, tmp_path, name="newer.zip")
    kept = tmp_path / "kept.checkpoint"
    meta = json.loads(read(newer, "bundle.json"))
    kept.write_text(jsonl(newer, "checkpoints.jsonl")[-1]["note"])
    assert meta["tree_size"] > json.loads(read(path, "bundle.json"))["tree_size"]
    assert custody("verify", str(newer), "--checkpoint", str(kept)).returncode == 0
    result = custody("verify", str(path), "--checkpoint", str(kept), check=False)
    assert result.returncode == 1 and "log truncated" in result.stderr


def test_proofs_across_blocks_of_a_long_log(container, clock, tmp_path):  # type: ignore[no-untyped-def]
    """Inclusion paths are read a block of 1,024 leaves at a time: a period that spans
    several blocks of a log of 2,600 entries still verifies entry by entry."""
    created = container.tenants.create("Long")
    log_id = created.log_id
    for batch in range(13):
        clock.advance(seconds=1)
        container.appender.run(
            [log_id],
            lambda w, b=batch: [
                w.append(log_id, "test.event", {"n": b * 200 + i}) for i in range(200)
            ],
        )
    clock.advance(seconds=2)
    since = clock.now() - timedelta(seconds=12)
    out = tmp_path / "long.zip"
    container.audit_export.write(created.tenant_id, out, since=since, until=None, by=None)
    report = verify_bundle(out)
    assert report.ok, report.error
    meta = json.loads(read(out, "bundle.json"))
    assert meta["entries"]["first"] < 1024 and meta["entries"]["end"] > 2048
    for line in jsonl(out, "entries.jsonl")[::97]:
        leaf = rfc9162.leaf_hash(base64.b64decode(line["entry"]))
        proof = [base64.b64decode(h) for h in line["proof"]]
        root = base64.b64decode(meta["root"])
        assert rfc9162.verify_inclusion(leaf, line["index"], meta["tree_size"], proof, root)


def test_an_export_taken_while_the_log_grows_verifies(api, scenario, container, clock, tmp_path):  # type: ignore[no-untyped-def]
    """Appends go on while the bundle is written: it holds one consistent state, and every
    record it holds is covered by its anchor."""
    import threading

    import tests.support.entries  # noqa: F401  (registers the "test.event" entry type)

    log_id = api.tenant.log_id
    stop, appended = threading.Event(), []

    def grow() -> None:
        while not stop.is_set():
            container.appender.run(
                [log_id], lambda w: appended.append(w.append(log_id, "test.event", {"n": 1}))
            )

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        clock.advance(seconds=2)
        out = tmp_path / "live.zip"
        container.audit_export.write(api.tenant.tenant_id, out, since=None, until=None, by=None)
    finally:
        stop.set()
        writer.join()
    assert appended, "the log must have grown during the export"
    report = verify_bundle(out, keys_of(api))
    assert report.ok, report.error
    meta = json.loads(read(out, "bundle.json"))
    for name in ("consents", "items", "use_decisions", "reports"):
        for row in jsonl(out, f"projections/{name}.jsonl"):
            assert row["log_index"] < meta["tree_size"]

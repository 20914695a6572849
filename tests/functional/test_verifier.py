"""`python -m verify` on what the service really hands out: receipts, certificates,
manifests, reports with their log evidence, and audit bundles; each also tampered with."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.functional.test_export import export
from tests.support.clients import sign_checkpoint
from tests.support.http import auth
from tests.support.scenario import seed
from verify.__main__ import main
from verify.note import parse_checkpoint


@pytest.fixture
def scenario(api, client, other, container, clock):  # type: ignore[no-untyped-def]
    return seed(api, client, other, container, clock)


@pytest.fixture
def keys(client, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "custody-keys.json"
    path.write_text(json.dumps(client.get("/.well-known/custody-keys").json))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(folder: Path, name: str, data: str | bytes) -> str:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def altered(token: str) -> str:
    """The token with one more claim and the old signature."""
    header, claims, signature = token.split(".")
    changed = {**json.loads(base64.urlsafe_b64decode(claims + "==")), "x": 1}
    encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_receipts_certificates_and_manifests_verify_and_tampered_ones_do_not(  # type: ignore[no-untyped-def]
    api, scenario, keys, tmp_path, capsys
):
    receipt = api.get(f"/v1/consents/{scenario['consents'][0]}").json["receipt"]
    certificate = api.get(f"/v1/erasures/{scenario['erasure']}/certificate").get_data(as_text=True)
    api.clock.advance(seconds=2)
    made = api.post(
        "/v1/manifests", {"items": [scenario["clips"][3]], "purpose": "action_recognition"}
    )
    assert made.status_code == 201, made.json
    for kind, token in [
        ("receipt", receipt),
        ("certificate", certificate),
        ("manifest", made.json["manifest"]),
    ]:
        code, out, err = run(capsys, kind, write(tmp_path, kind, token), "--keys", keys)
        assert code == 0, err
        assert "verifies" in err and json.loads(out)
        code, _, err = run(capsys, kind, write(tmp_path, kind, altered(token)), "--keys", keys)
        assert code == 1 and f"{kind} does not verify: signature does not verify" in err
    code, _, err = run(capsys, "certificate", write(tmp_path, "c", certificate), "--keys", "/")
    assert code == 1 and "does not verify" in err


def evidence(api, index: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What the log API serves for an entry: its bytes, a checkpoint, the inclusion proof."""
    log = api.tenant.log_id
    note = api.client.get(f"/v1/logs/{log}/checkpoint").get_data(as_text=True)
    signed = parse_checkpoint(note.split("\n\n")[0] + "\n")
    entry = api.get(f"/v1/logs/{log}/entries?start={index}&end={index + 1}").json["entries"][0]
    proof = api.get(f"/v1/logs/{log}/proofs/inclusion?index={index}&tree_size={signed.size}")
    return {
        "log": log,
        "index": index,
        "entry": entry["entry"],
        "checkpoint": {
            "tree_size": signed.size,
            "root_hash": base64.b64encode(signed.root).decode(),
            "note": note,
        },
        "inclusion_proof": proof.json["proof"],
    }


def test_a_report_verifies_against_its_log_entry_and_a_changed_byte_does_not(  # type: ignore[no-untyped-def]
    api, scenario, container, keys, tmp_path, capsys
):
    response = api.get("/v1/workers/w-123/report.pdf")
    assert response.status_code == 200
    index = int(response.headers["Custody-Log-Index"])
    sign_checkpoint(container)
    pdf = write(tmp_path, "report.pdf", response.data)
    proven = write(tmp_path, "evidence.json", json.dumps(evidence(api, index)))
    code, out, err = run(capsys, "report", pdf, "--evidence", proven, "--keys", keys)
    assert code == 0, err
    assert json.loads(out)["kind"] == "worker" and "it is the file the log records" in err

    changed = bytearray(response.data)
    changed[len(changed) // 2] ^= 1
    code, _, err = run(capsys, "report", write(tmp_path, "x.pdf", bytes(changed)), "--evidence",
                       proven, "--keys", keys)  # fmt: skip
    assert code == 1 and "SHA-256 is not the one the log records" in err

    elsewhere = write(tmp_path, "e2.json", json.dumps(evidence(api, index - 1)))
    code, _, err = run(capsys, "report", pdf, "--evidence", elsewhere, "--keys", keys)
    assert code == 1 and "not a report.issued entry" in err

    moved = {**evidence(api, index), "index": index - 1}
    code, _, err = run(capsys, "report", pdf, "--evidence", write(tmp_path, "e3.json",
                       json.dumps(moved)), "--keys", keys)  # fmt: skip
    assert code == 1 and "not in the checkpoint" in err


def test_a_bundle_verifies_and_a_truncated_one_does_not(  # type: ignore[no-untyped-def]
    api, container, scenario, keys, tmp_path, capsys
):
    auditor = auth(container.apikeys.create(api.tenant.tenant_id, "auditor").token)
    path, _ = export(api, auditor, tmp_path)
    code, _, err = run(capsys, "bundle", str(path), "--keys", keys)
    assert code == 0 and f"log {api.tenant.log_id}: OK" in err and "pass --keys" not in err
    code, _, err = run(capsys, "bundle", str(path))
    assert code == 0 and "the keys the bundle carries" in err
    cut = write(tmp_path, "cut.zip", path.read_bytes()[:-200])
    code, _, err = run(capsys, "bundle", cut, "--keys", keys)
    assert code == 1 and "bundle does not verify: unreadable bundle" in err


def test_usage_errors_exit_2(capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        main(["receipt", "r.jws"])  # --keys is required
    assert exited.value.code == 2 and "--keys" in capsys.readouterr().err

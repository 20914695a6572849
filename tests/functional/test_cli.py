"""The `custody` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.served import custody_serve


def test_tenants_and_keys_from_the_command_line(custody, client):
    created = json.loads(custody("tenants", "create", "Acme Motion", "--json").stdout)
    assert set(created) == {"tenant", "log", "api_key"}
    assert created["api_key"].startswith("cust_")
    auditor = json.loads(
        custody(
            "apikeys", "create", "--tenant", created["tenant"], "--role", "auditor", "--json"
        ).stdout
    )
    assert auditor["role"] == "auditor" and auditor["api_key"] != created["api_key"]
    headers = {"Authorization": f"Bearer {auditor['api_key']}"}
    assert (
        client.get(f"/v1/logs/{created['log']}/entries?start=0&end=5", headers=headers).status_code
        == 200
    )
    listed = json.loads(custody("apikeys", "list", "--tenant", created["tenant"], "--json").stdout)[
        "keys"
    ]
    assert len(listed) == 2 and all("api_key" not in k for k in listed)
    custody("apikeys", "revoke", auditor["id"])
    assert (
        client.get(f"/v1/logs/{created['log']}/entries?start=0&end=5", headers=headers).status_code
        == 401
    )
    again = custody("apikeys", "revoke", auditor["id"], check=False)
    assert again.returncode == 1 and "already revoked" in again.stderr
    plain = custody("tenants", "create", "Second")
    assert "api key: cust_" in plain.stdout and "shown once" in plain.stdout


def test_bad_arguments_are_clear(custody):
    bad_role = custody("apikeys", "create", "--tenant", "ten_x", "--role", "owner", check=False)
    assert bad_role.returncode == 2 and "owner" in bad_role.stderr
    no_tenant = custody(
        "apikeys", "create", "--tenant", "ten_doesnotexist00", "--role", "auditor", check=False
    )
    assert no_tenant.returncode == 1 and "tenant not found" in no_tenant.stderr
    empty = custody("tenants", "create", "   ", check=False)
    assert empty.returncode == 1 and "1 to 200 characters" in empty.stderr


def test_key_rotation_keeps_old_keys_published(custody, client):
    before = client.get("/.well-known/custody-keys").json["keys"]
    out = custody("keys", "rotate", "--purpose", "log").stdout
    after = client.get("/.well-known/custody-keys").json["keys"]
    assert len(after) == len(before) + 1
    statuses = {k["kid"]: k["status"] for k in after if k["purpose"] == "log"}
    assert sorted(statuses.values()) == ["active", "retiring"]
    old = next(k for k in after if k["status"] == "retiring")
    assert old["kid"] in out and old["valid_until"]
    custody("keys", "rotate", "--purpose", "statement")
    statement = [
        k
        for k in client.get("/.well-known/custody-keys").json["keys"]
        if k["purpose"] == "statement"
    ]
    assert sorted(k["status"] for k in statement) == ["active", "retired"]
    assert custody("verify").returncode == 0


@pytest.mark.slow
def test_serve_starts_a_working_service_on_a_fresh_data_folder(tmp_path, env):
    env = {**env, "CUSTODY_DATA_DIR": str(tmp_path / "fresh"), "CUSTODY_CHECKPOINT_SECONDS": "0.2"}
    env.pop("CUSTODY_DATABASE_URL")
    with custody_serve(env) as served:
        base = served.url
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            assert json.load(response) == {"status": "ok"}
        assert (tmp_path / "fresh" / "custody.db").exists()
        assert len(list((tmp_path / "fresh" / "keys").glob("*.ed25519"))) == 2
        created = json.loads(
            subprocess.run(
                [sys.executable, "-m", "api", "tenants", "create", "Live", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        request = urllib.request.Request(
            f"{base}/v1/apikeys",
            data=b'{"role": "platform"}',
            method="POST",
            headers={
                "Authorization": f"Bearer {created['api_key']}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        # The scheduler inside `serve` signs a checkpoint over the new entry on its own.
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(
                f"{base}/v1/logs/{created['log']}/checkpoint", timeout=5
            ) as response:
                size = int(response.read().decode().split("\n")[1])
            if size == 3:
                break
            assert time.monotonic() < deadline, "no checkpoint was signed by the scheduler"
            time.sleep(0.2)

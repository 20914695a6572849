"""The `custody` command as a user runs it."""

from __future__ import annotations

import importlib.metadata
import json
import time
import urllib.request

import click
import pytest

from api.cli import main
from tests.support.served import custody_serve

UNKNOWN = "ten_doesnotexist00"
NO_SUCH_TENANT = f"no such tenant: {UNKNOWN} (`custody tenants list` shows them)"


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
    no_tenant = custody("apikeys", "create", "--tenant", UNKNOWN, "--role", "auditor", check=False)
    assert no_tenant.returncode == 1 and NO_SUCH_TENANT in no_tenant.stderr
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
def test_serve_starts_a_working_service_on_a_fresh_data_folder(tmp_path, env, custody):
    env = {**env, "CUSTODY_DATA_DIR": str(tmp_path / "fresh"), "CUSTODY_CHECKPOINT_SECONDS": "0.2"}
    env.pop("CUSTODY_DATABASE_URL")
    with custody_serve(env) as served:
        base = served.url
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            assert json.load(response) == {"status": "ok"}
        assert (tmp_path / "fresh" / "custody.db").exists()
        assert len(list((tmp_path / "fresh" / "keys").glob("*.ed25519"))) == 2
        created = json.loads(custody("tenants", "create", "Live", "--json", env=env).stdout)
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


def test_version_is_the_installed_one(custody_offline):
    shown = custody_offline("--version").stdout
    assert shown == f"custody, version {importlib.metadata.version('custody')}\n"


def test_tenants_are_listed_under_a_header(custody):
    custody("tenants", "create", "Acme Motion")
    custody("tenants", "create", "B")
    header, *rows = custody("tenants", "list").stdout.splitlines()
    assert header.split() == ["TENANT", "LOG", "ENTRIES", "CREATED", "NAME"]
    assert [row.split(maxsplit=4)[4] for row in rows] == ["Acme Motion", "B"]
    for column in ("LOG", "CREATED", "NAME"):  # aligned under their titles
        at = header.index(column)
        assert all(row[at - 2 : at] == "  " and row[at] != " " for row in rows), column
    listed = json.loads(custody("tenants", "list", "--json").stdout)["tenants"]
    assert [sorted(t) for t in listed] == [["log", "name", "size", "tenant"]] * 2


def _help_calls(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every way of asking for help: `--help` on each command and group, and each group
    given no command."""
    calls = [(*path, "--help")]
    if isinstance(command, click.Group):
        calls.append(path)
        for name, sub in command.commands.items():
            calls += _help_calls(sub, (*path, name))
    return calls


def test_help_creates_nothing(custody_offline, tmp_path):
    here, data = tmp_path / "empty", tmp_path / "not-yet"
    here.mkdir()
    env = {**custody_offline.env, "CUSTODY_DATA_DIR": str(data)}
    calls = _help_calls(main)
    assert len(calls) > 30 and ("db",) in calls and ("tenants", "list", "--help") in calls
    for call in calls:
        shown = custody_offline(*call, env=env, cwd=here, check=False)
        assert shown.returncode in (0, 2), (call, shown.stderr)  # 2: a group without command
        assert "Usage: custody" in shown.stdout + shown.stderr, call
    # What importing does shows only in a fresh process.
    for call in [("--help",), ("db",)]:
        shown = custody_offline.in_own_process()(*call, env=env, cwd=here, check=False)
        assert "Usage: custody" in shown.stdout + shown.stderr, call
    assert not data.exists() and list(here.iterdir()) == []


# Every command that takes --tenant, with the rest of what it needs.
TENANT_COMMANDS = {
    ("apikeys", "create"): ["--role", "auditor"],
    ("apikeys", "list"): [],
    ("retention", "status"): [],
    ("verify",): [],
    ("reports", "worker"): ["--worker", "w-1", "--out", "{out}"],
    ("reports", "audit"): ["--out", "{out}"],
    ("export",): ["--out", "{out}"],
}


def _taking_tenant(command: click.Command, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if isinstance(command, click.Group):
        return set().union(*(_taking_tenant(c, (*path, n)) for n, c in command.commands.items()))
    return {path} if any(p.name == "tenant" for p in command.params) else set()


def test_every_command_taking_a_tenant_is_checked_below():
    assert _taking_tenant(main) == set(TENANT_COMMANDS)


@pytest.mark.parametrize("command", sorted(TENANT_COMMANDS), ids=" ".join)
def test_an_unknown_tenant_is_named_the_same_way_everywhere(custody, tmp_path, command):
    rest = [arg.format(out=tmp_path / "out") for arg in TENANT_COMMANDS[command]]
    refused = custody(*command, "--tenant", UNKNOWN, *rest, check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"Error: {NO_SUCH_TENANT}\n"
    assert not (tmp_path / "out").exists()

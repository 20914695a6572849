"""examples/platform_day.py, run as a reader would: against `custody serve` (the web app with
its scheduler, signing checkpoints every second) in its own process, on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.served import custody_serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    made = subprocess.run(
        [sys.executable, "-m", "api", "tenants", "create", "Example Motion", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    tenant = json.loads(made.stdout)
    with custody_serve(env) as server:
        yield (
            server.url,
            {
                **env,
                "CUSTODY_URL": server.url,
                "CUSTODY_API_KEY": tenant["api_key"],
                "CUSTODY_LOG": tenant["log"],
            },
        )


def test_the_example_runs_a_platforms_day(served):
    url, env = served
    ran = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "platform_day.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = ran.stdout
    assert "manifest verified" in out and "verified on the log" in out
    assert "4 allowed, 0 refused" in out
    assert "tainted=True" in out
    affected = [line for line in out.splitlines() if line.startswith("  ")]
    assert affected and any(": withdrawn since" in line for line in affected)


def test_the_example_says_what_it_needs():
    ran = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "platform_day.py")],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "set CUSTODY_URL" in ran.stderr

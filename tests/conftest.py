from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.container import Container, build
from api.settings import Settings
from ledger.clock import FakeClock
from tests.support import entries as _entries  # noqa: F401  (registers test.event)
from tests.support.browser import HAVE_CHROMIUM, MISSING
from tests.support.databases import PostgresTemplate, SqliteTemplate, postgres_url
from tests.support.platform import Api
from tests.support.s3 import moto_server

ROOT = Path(__file__).resolve().parents[1]
_PG_URL = postgres_url()
BACKENDS = ["sqlite"] + (["postgresql"] if _PG_URL else [])


def pytest_report_header() -> list[str]:
    browser = "Chromium, headless" if HAVE_CHROMIUM else f"NONE: {MISSING}"
    return [f"custody test databases: {', '.join(BACKENDS)}", f"custody browser tests: {browser}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not HAVE_CHROMIUM:
        terminalreporter.write_line(f"NOTE: {MISSING}.", yellow=True, bold=True)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    made: dict[str, object] = {"sqlite": SqliteTemplate(tmp_path_factory.mktemp("tmpl"))}
    if _PG_URL:
        made["postgresql"] = PostgresTemplate(_PG_URL)
    yield made
    for template in made.values():
        template.close()  # type: ignore[attr-defined]


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, templates: dict[str, object], tmp_path: Path
) -> Iterator[str]:
    template = templates[request.param]
    url = template.fresh(tmp_path)  # type: ignore[attr-defined]
    yield url
    template.drop(url)  # type: ignore[attr-defined]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def container(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    built = build(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def app(container: Container):  # type: ignore[no-untyped-def]
    return create_app(container=container)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """Environment for running the real `custody` command against this test's database."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
        "CUSTODY_DATA_DIR": str(settings.data_dir),
        "CUSTODY_DATABASE_URL": settings.db_url,
    }


@pytest.fixture
def custody(env: dict[str, str]):  # type: ignore[no-untyped-def]
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "api", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"custody {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto in server mode) for the whole test session."""
    yield from moto_server()


@pytest.fixture
def tenant(container: Container):  # type: ignore[no-untyped-def]
    return container.tenants.create("Platform A")


@pytest.fixture
def other(container: Container):  # type: ignore[no-untyped-def]
    return container.tenants.create("Platform B")


@pytest.fixture
def api(client, tenant, clock):  # type: ignore[no-untyped-def]
    return Api(client, tenant, clock)

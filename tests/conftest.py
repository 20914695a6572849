from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.container import Container, build
from api.settings import Settings
from ledger.clock import FakeClock
from tests.support import entries as _entries  # noqa: F401  (registers test.event)
from tests.support.browser import HAVE_CHROMIUM, MISSING
from tests.support.cli import Custody, same_process
from tests.support.databases import PostgresTemplate, SqliteTemplate, postgres_url
from tests.support.platform import Api
from tests.support.s3 import moto_server

ROOT = Path(__file__).resolve().parents[1]
_PG_URL = postgres_url()
BACKENDS = ["sqlite"] + (["postgresql"] if _PG_URL else [])


def pytest_report_header() -> list[str]:
    browser = "Chromium, headless" if HAVE_CHROMIUM else f"NONE: {MISSING}"
    return [f"custody test databases: {', '.join(BACKENDS)}", f"custody browser tests: {browser}"]


# Left out of the fast loop (`-m "not slow"`): a real browser, a served `custody serve`,
# processes started, killed or raced, the API fuzzed, load and soak runs.
SLOW = (
    "tests/browser/",
    "tests/client/",
    "tests/functional/test_api_fuzz.py",
    "tests/functional/test_load_driver.py",
    "tests/functional/test_process_roles.py",
    "tests/functional/test_redaction_faults.py",
    "tests/functional/test_retention_faults.py",
    "tests/functional/test_scaleout_layout.py",
    "tests/functional/test_soak_year.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


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
def custody(env: dict[str, str]) -> Custody:
    """The `custody` command against this test's database, run in this process (CliRunner)."""
    return Custody(env, same_process)


@pytest.fixture
def custody_process(env: dict[str, str]) -> Custody:
    """The `custody` command in a process of its own, for what must really run as one: a
    role or a server that keeps running, signals, a process that dies, what happens on
    import."""
    return Custody(env, same_process).in_own_process()


@pytest.fixture
def custody_offline(tmp_path: Path) -> Custody:
    """The `custody` command with no CUSTODY_* settings and no database, run in `tmp_path`
    (where the default ./custody-data would appear), for what needs none: verifying files,
    redacting a local file, the OpenAPI document, help."""
    return Custody(
        {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
        same_process,
        cwd=tmp_path,
    )


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

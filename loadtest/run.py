"""The load test: the same mixed load against `custody serve` on SQLite (one process, the
embedded default) and against the scale-out layout (deploy/layout.py: PostgreSQL, an S3
server, gunicorn with 4 workers, a scheduler, 2 job runners), once without faults and once
with them, each run audited afterwards. Traffic goes to 127.0.0.1 only; it stops by itself.

    .venv/bin/python -m loadtest.run [--seconds 60] [--rate 60] [--out loadtest/results.json]

The faults, at fixed shares of the run: kill -9 of a gunicorn worker, of the scheduler and
of a job runner; a crash-restart of PostgreSQL (`pg_ctl restart -m immediate`); the S3
server unresponsive for 10 s. The load's clients retry what the faults do to requests in
flight (every POST with its Idempotency-Key, checks too, as the client sends them; a 60 s
budget). The audit then checks every acknowledged write
against the database and the log, verifies the log, looks for duplicate entries, checks
that no check after an acknowledged withdrawal was allowed, and that every due deletion was
done, once. Exit status 1 when an audit found a problem.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.layout import S3_CREDENTIALS, Layout, answers, free_port, running, wait_until
from loadtest.audit import audit
from loadtest.http import RetryPolicy
from loadtest.load import Fault, LoadConfig, LoadDriver, Target, create_tenants

SERVICE = {
    "CUSTODY_RATE_LIMIT": "off",  # the load is one client; quotas are tested elsewhere
    "CUSTODY_SWEEP_SECONDS": "2",  # deletions fall due during the run and are swept at once
    "CUSTODY_REDACTION_LEASE_SECONDS": "30",  # a killed runner's job is taken over in 30 s
}
SETTLE_SECONDS = 240.0  # an erasure failed by the S3 outage is retried a minute later


@contextmanager
def embedded(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`custody serve` on SQLite in `folder`: (its address, its environment)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
        **SERVICE,
        "CUSTODY_DATA_DIR": str(folder / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    port = free_port()
    with open(folder / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("custody serve", lambda: answers(f"{url}/readyz"))
        yield url, env
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def faults(layout: Layout, seconds: float) -> list[Fault]:
    return [
        (seconds * 0.15, "kill -9 a web worker", lambda: layout.kill("web-worker")),
        (seconds * 0.30, "kill -9 the scheduler", lambda: layout.kill("scheduler")),
        (seconds * 0.45, "kill -9 a job runner", lambda: layout.kill("worker-1")),
        (seconds * 0.60, "restart PostgreSQL", layout.restart_postgres),
        (seconds * 0.75, "S3 unavailable for 10 s", lambda: layout.pause_s3(10)),
    ]


def one_run(
    name: str, url: str, env: Mapping[str, str], config: LoadConfig, folder: Path,
    injected: Sequence[Fault] = (),
) -> dict[str, Any]:  # fmt: skip
    print(f"-- {name}: {config.seconds:.0f} s at {config.rate:g} operations/s", flush=True)
    tenants = create_tenants(env, 2)
    records = folder / "records"
    with LoadDriver(Target(url, tuple(tenants)), config, records) as driver:
        setup = driver.prepare()
        figures = driver.run(faults=injected)
    checked = audit(env, records, wait=SETTLE_SECONDS)
    figures.pop("timeline", None)
    result = {
        "name": name,
        "setup": setup,
        "load": figures,
        "audit": {"problems": checked.problems, **checked.figures},
    }
    print(line(result), flush=True)
    for problem in checked.problems:
        print(f"   PROBLEM {problem}", flush=True)
    return result


def line(result: dict[str, Any]) -> str:
    load = result["load"]
    lat = load["latency_ms"]
    return (
        f"   {load['rate']:.1f} operations/s ({load['requests_per_second']:.1f} requests/s), "
        f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, errors {load['errors']}, "
        f"retried {load['retried_operations']}, dropped {load['dropped']}; audit: "
        f"{len(result['audit']['problems'])} problems"
    )


def table(runs: list[dict[str, Any]]) -> str:
    """Each figure beside the single-process SQLite figure of the same run, as a ratio."""
    base = runs[0]["load"]
    rows = [
        "| run | operations/s | requests/s | p50 ms | p99 ms | errors | retried | "
        "audit problems | p99 vs SQLite |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        load, audited = run["load"], run["audit"]
        ratio = load["latency_ms"]["p99"] / base["latency_ms"]["p99"]
        rows.append(
            f"| {run['name']} | {load['rate']:.1f} | {load['requests_per_second']:.1f} | "
            f"{load['latency_ms']['p50']:.1f} | {load['latency_ms']['p99']:.1f} | "
            f"{load['errors']} | {load['retried_operations']} | {len(audited['problems'])} | "
            f"{ratio:.2f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=60.0, help="operations started a second")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", type=Path, help="keep logs and records in this folder")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per web worker")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results.json"))
    parser.add_argument(
        "--skip", action="append", default=[], choices=["sqlite", "quiet", "faults"]
    )
    args = parser.parse_args(argv)
    config = LoadConfig(
        seconds=args.seconds,
        rate=args.rate,
        concurrency=args.concurrency,
        retry=replace(RetryPolicy(), budget=60.0),
        seed=1,
    )
    layout_options: dict[str, Any] = {
        "own_postgres": True,
        "extra_env": SERVICE,
        "web_threads": args.web_threads,
    }
    runs: list[dict[str, Any]] = []
    os.environ.update(S3_CREDENTIALS)  # the audit reads the layout's bucket from here
    with tempfile.TemporaryDirectory(prefix="custody-loadtest-") as scratch:
        root = args.keep or Path(scratch)
        if "sqlite" not in args.skip:
            (root / "sqlite").mkdir()
            with embedded(root / "sqlite") as (url, env):
                runs.append(one_run("custody serve, SQLite", url, env, config, root / "sqlite"))
        if "quiet" not in args.skip:
            with running(root / "quiet", **layout_options) as layout:
                name = "scale-out, no faults"
                runs.append(one_run(name, layout.url, layout.env, config, root / "quiet"))
        if "faults" not in args.skip:
            with running(root / "faults", **layout_options) as layout:
                injected = faults(layout, args.seconds)
                name = "scale-out, with faults"
                run = one_run(name, layout.url, layout.env, config, root / "faults", injected)
                run["restarts"] = {role.name: role.exits for role in layout.roles}
                runs.append(run)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "load": {"seconds": args.seconds, "rate": args.rate, "mix": "80/15/2.5/2.5"},
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(runs))
    return 1 if any(run["audit"]["problems"] for run in runs) else 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)

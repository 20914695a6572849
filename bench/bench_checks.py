"""Benchmark of the use check through the real HTTP stack, beside a do-nothing endpoint.

Run from the repository root:

    .venv/bin/python -m bench.bench_checks [--quick] [--database-url URL] [--out FILE.json]

Two servers run side by side on 127.0.0.1, each `waitress` with the same thread count:
the Custody app (`custody serve`, its real database, log and auth), and a Flask app with
one endpoint that parses the JSON body and answers `{}` ("do-nothing"). The same client
(keep-alive HTTP/1.1 connections, one per client thread) drives both, so the ratio of the
two is the figure; both share this machine's cores with the client.

* single checks (`POST /v1/checks`, each a log entry) from C client threads: checks/s and
  p50/p99 latency, vs the do-nothing endpoint under the same load;
* the same with one client thread (latency without queueing);
* batched checks of 1,000 items (`POST /v1/checks/batch`, one entry): p50/p99 latency, vs
  the do-nothing endpoint receiving the same 1,000-item body.

For rates the ratio is figure / do-nothing; for latencies do-nothing / figure: 1.0 means
"as fast as doing nothing", smaller means slower.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.container import build  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.percentiles import percentile  # noqa: E402
from ledger.consent.consents import ConsentRequest  # noqa: E402
from ledger.items.items import Activity, ClipRequest, DerivationRequest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOOP_APP = """
from flask import Flask, request
from waitress import serve
app = Flask("noop")
@app.post("/noop")
def noop():
    request.get_json()
    return {{}}
serve(app, host="127.0.0.1", port={port}, threads={threads}, ident="noop")
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default="", help="default: a scratch SQLite file")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--seconds", type=float, default=10.0, help="per throughput figure")
    p.add_argument("--clients", type=int, default=8, help="client threads (connections)")
    p.add_argument("--threads", type=int, default=8, help="waitress threads of each server")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


class Load:
    """C threads, each on its own keep-alive connection, posting bodies for a while."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port, self.path, self.headers = port, path, headers

    def run(self, bodies: Sequence[bytes], clients: int, seconds: float) -> dict[str, float]:
        latencies: list[float] = []
        failures: list[str] = []
        stop = time.monotonic() + seconds
        lock = threading.Lock()

        def client(offset: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            mine: list[float] = []
            n = offset
            while time.monotonic() < stop:
                body = bodies[n % len(bodies)]
                n += clients
                started = time.perf_counter()
                conn.request("POST", self.path, body=body, headers=self.headers)
                response = conn.getresponse()
                payload = response.read()
                mine.append(time.perf_counter() - started)
                if response.status not in (200, 201):
                    failures.append(f"{response.status} {payload[:200]!r}")
                    break
            conn.close()
            with lock:
                latencies.extend(mine)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{self.path}: {failures[0]}")
        return {
            "requests": len(latencies),
            "rate": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
        }


def seed(settings: Settings, clips: int) -> tuple[str, list[str]]:
    """A tenant with one consent, `clips` clips and a label on each; returns key and items."""
    container = build(settings)
    try:
        tenant = container.tenants.create("Bench")
        consent = container.consents.give(
            tenant.tenant_id,
            ConsentRequest(
                worker="w-bench",
                purposes=["motion_imitation"],
                data_categories=["body_motion"],
                recipients="platform_only",
                retention="P365D",
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="1",
            ),
        ).consent
        items = []
        now = datetime.now(UTC)
        for n in range(clips):
            clip = container.items.register_clip(
                tenant.tenant_id,
                ClipRequest(
                    sha256=hashlib.sha256(b"clip %d" % n).hexdigest(),
                    worker="w-bench",
                    consent=consent.id,
                    data_categories=["body_motion"],
                    captured_at=now,
                ),
            ).item
            label = container.items.derive(
                tenant.tenant_id,
                DerivationRequest(
                    parents=[clip.id],
                    kind="label",
                    sha256=hashlib.sha256(b"label %d" % n).hexdigest(),
                    activity=Activity("annotation", "bench"),
                ),
            ).item
            items += [clip.id, label.id]
        return tenant.api_key.token, items
    finally:
        container.close()


def line(label: str, figure: dict[str, float], peer: dict[str, float]) -> str:
    return (
        f"  {label:<44} {figure['rate']:>8,.0f}/s  p50 {figure['p50_ms']:6.2f} ms  "
        f"p99 {figure['p99_ms']:6.2f} ms   do-nothing {peer['rate']:>8,.0f}/s "
        f"p99 {peer['p99_ms']:6.2f} ms   ratio {figure['rate'] / peer['rate']:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="custody-bench-checks-"))
    settings = Settings(data_dir=tmp / "data", database_url=args.database_url)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        token, items = seed(settings, 500)
        env = {
            **os.environ,
            "CUSTODY_DATA_DIR": str(settings.data_dir),
            "CUSTODY_DATABASE_URL": args.database_url,
            "CUSTODY_LOG_LEVEL": "WARNING",
            "CUSTODY_RATE_LIMIT": "off",  # one key drives the whole load
        }
        app_port, noop_port = free_port(), free_port()
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "api",
                    "serve",
                    "--port",
                    str(app_port),
                    "--threads",
                    str(args.threads),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        servers.append(
            subprocess.Popen(
                [sys.executable, "-c", NOOP_APP.format(port=noop_port, threads=args.threads)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for(app_port, "/healthz")
        wait_for(noop_port, "/")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        check = Load(app_port, "/v1/checks", headers)
        batch = Load(app_port, "/v1/checks/batch", headers)
        manifest = Load(app_port, "/v1/manifests", headers)
        noop = Load(noop_port, "/noop", {"Content-Type": "application/json"})
        singles = [
            json.dumps({"item": i, "purpose": "motion_imitation", "recipient": "platform"}).encode()
            for i in items
        ]
        thousand = (items * 2)[:1000]
        batch_body = [json.dumps({"items": thousand, "purpose": "motion_imitation"}).encode()]
        check.run(singles, args.clients, 1.0)  # warm up both servers
        noop.run(singles, args.clients, 1.0)

        figures: dict[str, Any] = {
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
            "database": "postgresql" if args.database_url else "sqlite",
            "clients": args.clients,
            "server_threads": args.threads,
        }
        print(f"Use checks over HTTP ({figures['database']}; {figures['machine']})")
        print(f"  waitress threads {args.threads}; ratios are figure / do-nothing")
        for label, clients in (
            (f"single checks, {args.clients} clients", args.clients),
            ("single checks, 1 client", 1),
        ):
            peer = noop.run(singles, clients, args.seconds)
            figure = check.run(singles, clients, args.seconds)
            print(line(label, figure, peer))
            figures[label] = {"check": figure, "do_nothing": peer}
        peer = noop.run(batch_body, 1, args.seconds)
        figure = batch.run(batch_body, 1, args.seconds)
        print(line("batches of 1,000 items, 1 client", figure, peer))
        print(
            f"    -> {figure['p50_ms']:.1f} ms p50 per 1,000-item batch "
            f"({1000 * figure['rate']:,.0f} item decisions/s)"
        )
        figures["batch_1000"] = {"check": figure, "do_nothing": peer}
        issued = manifest.run(batch_body, 1, max(args.seconds, 5.0))
        print(
            f"  {'manifests of 1,000 items, 1 client':<44} {issued['rate']:>8,.1f}/s  "
            f"p50 {issued['p50_ms']:6.1f} ms  p99 {issued['p99_ms']:6.1f} ms   "
            f"batch check of the same {figure['rate']:>6,.1f}/s   "
            f"ratio {issued['rate'] / figure['rate']:.2f}"
        )
        figures["manifest_1000"] = {"manifest": issued, "batch_check": figure}
        if args.out:
            args.out.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

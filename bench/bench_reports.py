"""Benchmark of the reports: a worker with 10,000 items and 50,000 uses, and the audit
report of a tenant whose log holds a million entries.

Run from the repository root:

    .venv/bin/python -m bench.bench_reports [--quick] [--database-url URL] [--out FILE.json]

Each report is made in a fresh process (`custody reports ...`), so that its peak resident
memory is its own. Beside each figure, measured in the same run on the same machine:

* worker report: the raw limit of its two parts, reading the same rows from the database
  (the appendices' queries, fully fetched) and ReportLab drawing the same number of table
  cells straight onto a canvas; and the same report for a worker with a tenth of the data,
  whose peak memory shows whether memory grows with the data (it should not, beyond the
  PDF itself);
* audit report: a full verification of the same log (`custody verify --tenant`), which the
  report runs inside it, so the ratio shows what the report adds to that raw limit;
* audit export of the last 100,000 entries (all of them with --quick): reading the same
  entry rows and deflating them into a zip, the least any export of them costs; and
  `custody verify BUNDLE`, the offline check of the bundle written.

The million entries are real log entries (`use.decided`, with their projection rows),
appended in units of 10,000 through the real appender.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.container import build  # noqa: E402
from api.settings import Settings  # noqa: E402
from ledger.consent.consents import ConsentRequest  # noqa: E402
from ledger.ids import new_id  # noqa: E402
from ledger.items.items import Activity, ClipRequest, DerivationRequest  # noqa: E402
from ledger.log.appender import LogWriter  # noqa: E402
from ledger.log.reader import tenant_log_id  # noqa: E402
from ledger.models import UseDecision  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PURPOSES = ["motion_imitation", "benchmarking", "action_recognition"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default="", help="default: a scratch SQLite file")
    p.add_argument("--quick", action="store_true", help="a tenth of the data")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    return p.parse_args(argv)


def consent(container: Any, tenant: str, worker: str) -> str:
    return str(
        container.consents.give(
            tenant,
            ConsentRequest(
                worker=worker,
                purposes=PURPOSES,
                data_categories=["body_motion", "face"],
                recipients="platform_only",
                retention="P365D",
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="1",
            ),
        ).consent.id
    )


def seed_worker(container: Any, tenant: str, worker: str, items: int, uses: int) -> None:
    """`items` items (half clips, half labels) and `uses` allowed checks spread over them."""
    given = consent(container, tenant, worker)
    ids: list[str] = []
    now = datetime.now(UTC)
    for n in range(items // 2):
        clip = container.items.register_clip(
            tenant,
            ClipRequest(
                sha256=hashlib.sha256(f"{worker} clip {n}".encode()).hexdigest(),
                worker=worker,
                consent=given,
                data_categories=["body_motion"],
                captured_at=now - timedelta(days=n % 200),
            ),
        ).item
        label = container.items.derive(
            tenant,
            DerivationRequest(
                parents=[clip.id],
                kind="label",
                sha256=hashlib.sha256(f"{worker} label {n}".encode()).hexdigest(),
                activity=Activity("annotation", "bench"),
            ),
        ).item
        ids += [clip.id, label.id]
    done = 0
    while done < uses:
        purpose = PURPOSES[(done // len(ids)) % len(PURPOSES)]
        batch = [ids[(done + k) % len(ids)] for k in range(min(10_000, uses - done))]
        decided = container.checks.check_batch(tenant, batch, purpose, "platform", None)
        assert all(d.decision == "allow" for d in decided)
        done += len(batch)


def seed_entries(container: Any, tenant: str, total: int) -> None:
    """Grow the tenant's log to `total` entries with single use decisions (and their rows)."""
    log_id = tenant_log_id(container.db, tenant)
    with container.db.session() as session:
        from ledger.models import Log

        head = session.get(Log, log_id)
        assert head is not None
        have = head.size
    while have < total:
        count = min(10_000, total - have)

        def work(writer: LogWriter, count: int = count) -> None:
            now = writer.now()
            rows = []
            for n in range(count):
                denied = n % 7 == 0
                decision = {
                    "item": None,
                    "purpose": PURPOSES[n % 3],
                    "recipient": "platform",
                    "by": None,
                    "decision": "deny" if denied else "allow",
                    "reasons": ["unknown_item"] if denied else [],
                }
                entry = writer.append(log_id, "use.decided", decision)
                rows.append(
                    {
                        "id": new_id("use"),
                        "tenant_id": tenant,
                        "item_id": None,
                        "purpose": decision["purpose"],
                        "recipient": "platform",
                        "decision": decision["decision"],
                        "reasons": decision["reasons"],
                        "api_key_id": None,
                        "at": now,
                        "log_index": entry.index,
                    }
                )
            writer.insert_later(UseDecision, rows)

        container.appender.run([log_id], work, savepoint=False)
        have += count
        print(f"  log: {have:,} entries", file=sys.stderr, flush=True)


def timed(env: dict[str, str], *args: str) -> dict[str, float]:
    """Run `custody ARGS` in a fresh process: wall seconds and its peak resident MiB."""
    code = (
        "import resource, sys, time\n"
        "from api.cli import main\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    main(sys.argv[1:], standalone_mode=False)\n"
        "finally:\n"
        "    print('BENCH', time.perf_counter() - start,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"custody {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("BENCH"))
    _, seconds, rss = line.split()
    return {"seconds": float(seconds), "peak_rss_mib": int(rss) / 1024}


def raw_worker_limits(settings: Settings, tenant: str, worker: str) -> dict[str, float]:
    """Reading the appendices' rows, and drawing their cells with bare ReportLab."""
    from reportlab.pdfgen.canvas import Canvas

    from ledger.consent.consents import find_worker
    from reports.worker import _Story

    container = build(settings)
    try:
        with container.db.session() as session:
            found = find_worker(session, tenant, worker)
            story = _Story(session, tenant, found, None, "rpt_bench", datetime.now(UTC))  # type: ignore[arg-type]
            start = time.perf_counter()
            rows = sum(1 for _ in story._item_rows()) + sum(1 for _ in story._use_rows())
            read = time.perf_counter() - start
    finally:
        container.close()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        canvas = Canvas(str(Path(folder) / "raw.pdf"), pagesize=(320, 568))
        y = 540.0
        for n in range(rows * 5):
            canvas.setFont("Courier", 6.4)
            canvas.drawString(20 + (n % 5) * 56, y, "itm_abcdefghijklmnop"[: 8 + n % 12])
            if n % 5 == 4:
                y -= 9.3
                if y < 20:
                    canvas.showPage()
                    y = 540.0
        canvas.save()
        drawn = time.perf_counter() - start
    return {"rows": rows, "read_seconds": read, "draw_seconds": drawn}


def period_start(settings: Settings, tenant: str, last: int) -> tuple[str, int]:
    """The time of the entry `last` entries before the end of the log, and its index."""
    from ledger.models import Log, LogEntry

    container = build(settings)
    try:
        log_id = tenant_log_id(container.db, tenant)
        with container.db.session() as session:
            head = session.get(Log, log_id)
            assert head is not None
            first = max(head.size - last, 0)
            body = session.get(LogEntry, (log_id, first))
            assert body is not None
            return json.loads(body.body)["ts"], first
    finally:
        container.close()


def raw_export_limit(settings: Settings, tenant: str, first: int) -> float:
    """Reading the period's entry rows and deflating them into a zip."""
    from sqlalchemy import select

    from ledger.models import LogEntry

    container = build(settings)
    try:
        log_id = tenant_log_id(container.db, tenant)
        with tempfile.TemporaryDirectory() as folder, container.db.session() as session:
            start = time.perf_counter()
            query = select(LogEntry.idx, LogEntry.body).where(
                LogEntry.log_id == log_id, LogEntry.idx >= first
            )
            with zipfile.ZipFile(Path(folder) / "raw.zip", "w", zipfile.ZIP_DEFLATED) as bundle:
                with bundle.open("entries", "w", force_zip64=True) as handle:
                    for row in session.execute(query.execution_options(yield_per=2000)):
                        handle.write(row.body + b"\n")
            return time.perf_counter() - start
    finally:
        container.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    scale = 10 if args.quick else 1
    items, uses, entries = 10_000 // scale, 50_000 // scale, 1_000_000 // scale
    folder = Path(tempfile.mkdtemp(prefix="custody-bench-reports-"))
    settings = Settings(data_dir=folder / "data", database_url=args.database_url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
        "CUSTODY_DATA_DIR": str(settings.data_dir),
        "CUSTODY_DATABASE_URL": settings.db_url,
    }
    container = build(settings)
    try:
        tenant = container.tenants.create("Bench").tenant_id
        started = time.perf_counter()
        seed_worker(container, tenant, "w-big", items, uses)
        seed_worker(container, tenant, "w-small", items // 10, uses // 10)
        print(f"seeded workers in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        seed_entries(container, tenant, entries)
        print(f"seeded the log in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        container.close()

    big = timed(
        env,
        "reports",
        "worker",
        "--tenant",
        tenant,
        "--worker",
        "w-big",
        "--out",
        str(folder / "big.pdf"),
    )
    small = timed(
        env,
        "reports",
        "worker",
        "--tenant",
        tenant,
        "--worker",
        "w-small",
        "--out",
        str(folder / "small.pdf"),
    )
    raw = raw_worker_limits(settings, tenant, "w-big")
    audit = timed(env, "reports", "audit", "--tenant", tenant, "--out", str(folder / "audit.pdf"))
    verify = timed(env, "verify", "--tenant", tenant)
    since, first = period_start(settings, tenant, 100_000)
    bundle = folder / "export.zip"
    exported = timed(env, "export", "--tenant", tenant, "--from", since, "--out", str(bundle))
    checked = timed(env, "verify", str(bundle))
    raw_export = raw_export_limit(settings, tenant, first)
    with zipfile.ZipFile(bundle) as opened:
        span = json.loads(opened.read("bundle.json"))["entries"]
    exported_entries = span["end"] - span["first"]
    base = timed(env, "db", "upgrade")  # the process's own start-up and imports

    figures = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "database": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
        "worker": {
            "items": items,
            "uses": uses,
            **big,
            "pdf_bytes": (folder / "big.pdf").stat().st_size,
        },
        "worker_tenth": {"items": items // 10, "uses": uses // 10, **small},
        "worker_raw": raw,
        "audit": {
            "log_entries": entries,
            **audit,
            "pdf_bytes": (folder / "audit.pdf").stat().st_size,
        },
        "verify_only": verify,
        "export": {
            "entries": exported_entries,
            **exported,
            "bundle_bytes": bundle.stat().st_size,
            "raw_seconds": raw_export,
        },
        "verify_bundle": checked,
        "process_baseline": base,
    }
    raw_total = raw["read_seconds"] + raw["draw_seconds"]
    print(
        f"worker report, {items:,} items / {uses:,} uses: {big['seconds']:.2f} s "
        f"(aim 3 s); raw limit (read {raw['read_seconds']:.2f} s + draw "
        f"{raw['draw_seconds']:.2f} s) = {raw_total:.2f} s, ratio {big['seconds'] / raw_total:.2f}"
    )
    print(
        f"  peak memory {big['peak_rss_mib']:.0f} MiB; a tenth of the data: "
        f"{small['peak_rss_mib']:.0f} MiB ({small['seconds']:.2f} s); bare process "
        f"{base['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"audit report, {entries:,} entries: {audit['seconds']:.1f} s (aim 60 s); verification "
        f"alone {verify['seconds']:.1f} s, ratio {audit['seconds'] / verify['seconds']:.2f}; "
        f"peak memory {audit['peak_rss_mib']:.0f} MiB (verification alone "
        f"{verify['peak_rss_mib']:.0f} MiB)"
    )
    print(
        f"audit export of the last {exported_entries:,} entries: {exported['seconds']:.1f} s; "
        f"reading and deflating them alone {raw_export:.1f} s, ratio "
        f"{exported['seconds'] / raw_export:.2f}; bundle {bundle.stat().st_size / 2**20:.0f} MiB, "
        f"peak memory {exported['peak_rss_mib']:.0f} MiB; custody verify BUNDLE "
        f"{checked['seconds']:.1f} s, peak memory {checked['peak_rss_mib']:.0f} MiB"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

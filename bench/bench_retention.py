"""Benchmark of one retention sweep erasing N due clips and their labels, beside the raw
cost of the same file deletes and log appends measured in the same run.

Run from the repository root:

    .venv/bin/python -m bench.bench_retention [--clips 100000] [--workers 1000]
        [--database-url URL] [--out FILE.json]

Setup (not timed): N clips, each with an object in the local vault folder and one label
derived from it, spread over W workers, all past their retention term; their registration
entries are on the log. Then, timed:

* the sweep: `Retention.sweep()` — planning (claim, cascade to labels), deleting the vault
  objects, tombstones and key destruction in log transactions, a checkpoint, a signed
  certificate with an inclusion proof per erasure, request and webhook bookkeeping;
* the raw limit: `os.unlink` of N files of the same size in another folder, plus as many log
  entries as the sweep appended, through the same appender, in transactions of the same
  size, each entry holding as many ids as a tombstone.

The ratio is sweep time / raw time: 1.0 would be "erasing costs nothing beyond deleting the
files and writing the entries"; the aim is at most 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.container import Container, build  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.bench_log import Scratch, durability  # noqa: E402
from ledger.clock import SystemClock, format_ts  # noqa: E402
from ledger.consent.consents import ConsentRequest  # noqa: E402
from ledger.ids import new_id  # noqa: E402
from ledger.items.items import commitment, object_name  # noqa: E402
from ledger.log.appender import LogWriter  # noqa: E402
from ledger.models import Item, ItemParent, ItemRoot  # noqa: E402
from retention.erasure import ERASE_LIMIT  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 2000  # clips registered per log transaction in the setup
OBJECT_BYTES = 4096


class RunningClock(SystemClock):  # sleeps for real
    """Starts at START and runs at real speed; `skip` jumps ahead (past the retention term)."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.skipped = timedelta(0)

    def now(self) -> datetime:
        return START + self.skipped + timedelta(seconds=time.monotonic() - self.origin)

    def skip(self, **kwargs: float) -> None:
        self.skipped += timedelta(**kwargs)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=1000)
    p.add_argument("--database-url", default="", help="PostgreSQL admin URL; default SQLite")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    return p.parse_args(argv)


def setup(container: Container, clips: int, workers: int) -> tuple[str, str]:
    tenant = container.tenants.create("bench")
    consents = []
    for w in range(workers):
        given = container.consents.give(
            tenant.tenant_id,
            ConsentRequest(
                worker=f"w-{w}",
                purposes=["motion_imitation"],
                data_categories=["body_motion"],
                recipients="platform_only",
                retention="P30D",
                jurisdiction="NG",
                collection_method="in_app",
                policy_url="https://platform.example/terms",
                policy_version="2026-04",
            ),
        )
        consents.append((given.worker_id, given.consent.id))
    vault = container.settings.vault_folder / tenant.tenant_id
    vault.mkdir(parents=True, exist_ok=True)
    due = format_ts(START + timedelta(days=30))
    for start in range(0, clips, CHUNK):
        numbers = range(start, min(start + CHUNK, clips))
        _register(container, tenant.tenant_id, tenant.log_id, consents, numbers, due)
    return tenant.tenant_id, tenant.log_id


def _register(
    container: Container,
    tenant_id: str,
    log_id: str,
    consents: list[tuple[str, str]],
    numbers: range,
    due: str,
) -> None:
    vault = container.settings.vault_folder
    ids = [(new_id("clp"), new_id("itm")) for _ in numbers]
    for clip_id, _ in ids:
        (vault / object_name(tenant_id, clip_id)).write_bytes(os.urandom(OBJECT_BYTES))

    def work(writer: LogWriter) -> None:
        now = writer.now()
        items, roots, parents = [], [], []
        for n, (clip_id, label_id) in zip(numbers, ids, strict=True):
            worker, consent = consents[n % len(consents)]
            if n < len(consents):
                container.vault.ensure_key(writer.session, worker, now)
            for item_id, kind in ((clip_id, "clip"), (label_id, "label")):
                salt, sha = secrets.token_bytes(16), secrets.token_bytes(32)
                proof = commitment(salt, sha)
                if kind == "clip":
                    index = writer.append(
                        log_id,
                        "clip.registered",
                        {
                            "clip": clip_id,
                            "consent": consent,
                            "commitment": proof.hex(),
                            "data_categories": ["body_motion"],
                            "captured_at": format_ts(START),
                            "delete_after": due,
                        },
                        subject=worker,
                    ).index
                else:
                    index = writer.append(
                        log_id,
                        "derivation.recorded",
                        {
                            "item": label_id,
                            "kind": "label",
                            "parents": [clip_id],
                            "activity": "annotation",
                            "commitment": proof.hex(),
                            "data_categories": ["body_motion"],
                            "delete_after": due,
                        },
                    ).index
                items.append(
                    {
                        "id": item_id,
                        "tenant_id": tenant_id,
                        "kind": kind,
                        "sha256": sha,
                        "salt": salt,
                        "commitment": proof,
                        "worker_id": worker if kind == "clip" else None,
                        "consent_id": consent if kind == "clip" else None,
                        "data_categories": ["body_motion"],
                        "details": {},
                        "delete_after": START + timedelta(days=30),
                        "status": "active",
                        "created_at": now,
                        "log_index": index,
                        "content_size": OBJECT_BYTES if kind == "clip" else None,
                    }
                )
                roots.append({"item_id": item_id, "clip_id": clip_id})
            parents.append({"child_id": label_id, "parent_id": clip_id})
        writer.session.flush()
        writer.insert_later(Item, items)
        writer.insert_later(ItemRoot, roots)
        writer.insert_later(ItemParent, parents)

    container.appender.run([log_id], work)


def raw_deletes(folder: Path, count: int) -> float:
    folder.mkdir()
    paths = [folder / f"object-{n}" for n in range(count)]
    for path in paths:
        path.write_bytes(os.urandom(OBJECT_BYTES))
    start = time.perf_counter()
    for path in paths:
        os.unlink(path)
    return time.perf_counter() - start


def raw_appends(container: Container, entries: int, ids_each: int) -> float:
    """As many entries as the sweep appended, as big as its tombstones, in transactions of
    the sweep's size, on another tenant's log."""
    other = container.tenants.create("raw appends")
    names = [new_id("itm") for _ in range(ids_each)]
    start = time.perf_counter()
    for first in range(0, entries, ERASE_LIMIT):

        def work(writer: LogWriter, count: int = min(ERASE_LIMIT, entries - first)) -> None:
            for _ in range(count):
                writer.append(
                    other.log_id,
                    "items.erased",
                    {
                        "erasure": new_id("ers"),
                        "reason": "retention_ended",
                        "request": None,
                        "items": sorted(names),
                        "objects_deleted": ids_each // 2,
                        "key_destroyed": True,
                    },
                    subject=new_id("wkr"),
                )

        container.appender.run([other.log_id], work)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="custody-bench-retention-"))
    scratch = Scratch(args.database_url, tmp)
    clock = RunningClock()
    container = build(Settings(data_dir=tmp / "data", database_url=scratch.app_url), clock=clock)
    try:
        t0 = time.perf_counter()
        setup(container, args.clips, args.workers)
        print(f"setup: {args.clips} clips + labels in {time.perf_counter() - t0:.1f} s")
        clock.skip(days=31)
        start = time.perf_counter()
        report = container.retention.sweep()
        sweep_s = time.perf_counter() - start
        assert report.erased.items == 2 * args.clips, report
        assert report.erased.objects == args.clips and report.certified == report.erased.erasures
        delete_s = raw_deletes(tmp / "raw", args.clips)
        tombstone_ids = 2 * args.clips // report.erased.erasures
        append_s = raw_appends(container, report.erased.erasures, tombstone_ids)
        raw_s = delete_s + append_s
        figures = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
            "backend": scratch.backend,
            "durability": durability(container.db.engine),
            "clips": args.clips,
            "items": report.erased.items,
            "erasures": report.erased.erasures,
            "sweep_seconds": round(sweep_s, 2),
            "clips_per_second": round(args.clips / sweep_s),
            "raw_file_deletes_seconds": round(delete_s, 2),
            "raw_log_appends_seconds": round(append_s, 2),
            "raw_seconds": round(raw_s, 2),
            "ratio_sweep_to_raw": round(sweep_s / raw_s, 2),
        }
        print(
            f"sweep: {args.clips} clips + {args.clips} labels in {report.erased.erasures} "
            f"erasures ({report.certified} certificates): {sweep_s:.2f} s, "
            f"{args.clips / sweep_s:,.0f} clips/s"
        )
        print(
            f"raw:   {args.clips} unlinks {delete_s:.2f} s + {report.erased.erasures} entries "
            f"of {tombstone_ids} ids {append_s:.2f} s = {raw_s:.2f} s "
            f"({args.clips / raw_s:,.0f} clips/s)"
        )
        print(f"ratio: sweep / raw = {sweep_s / raw_s:.2f} (aim: at most 3)")
        if args.out:
            args.out.write_text(json.dumps(figures, indent=2) + "\n")
        return figures
    finally:
        container.close()
        scratch.close()


if __name__ == "__main__":
    main()

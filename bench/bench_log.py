"""Benchmark of the tamper-evident log, each figure beside a raw limit measured in the same run.

Run from the repository root:

    .venv/bin/python -m bench.bench_log [--quick] [--sizes 100000,1000000]
        [--database-url URL] [--out FILE.json]

Machines are noisy, so every figure is printed beside the "raw limit" it is bounded by,
measured in this run on this machine, and the ratio of the two:

* appends one at a time (each its own committed transaction) vs a bare INSERT + COMMIT per
  row in a scratch table of a scratch database, through an engine from
  ledger.db.make_engine (so the same PRAGMAs / durability settings);
* appends from many threads (group commit) vs that commit rate and vs the SHA-256 work an
  append implies (a leaf hash and, on average, one node hash per entry);
* filling large logs through the real appender in big units of work, vs the same hashing;
* full verification (ledger.verification.verify_database) vs that hashing and vs a bare
  DBAPI scan of the entry rows;
* inclusion and consistency proof latency (LogReader), with a shared session and with a
  fresh session per proof, vs the bare DBAPI reads a proof needs: the log head row, and the
  proof's stored nodes fetched by primary key in one query. Each latency variant runs up to
  N proofs or for --proof-seconds, whichever comes first (the sample count is printed), and
  the library's own node query is replayed bare and its query plan printed.

For rates the ratio is figure / limit; for latencies it is limit latency / figure latency,
so in both cases 1.0 means "as fast as the raw limit" and smaller means slower.

This is a benchmark, not a test; it changes nothing outside its scratch databases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.signing import SigningKey  # noqa: E402
from sqlalchemy import Engine, create_engine, event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import tests.support.entries  # noqa: E402,F401  (registers the "test.event" entry type)
from api.container import Container, build  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.percentiles import percentile  # noqa: E402
from ledger.db import make_engine  # noqa: E402
from ledger.log.reader import LogReader  # noqa: E402
from ledger.log.verification import verify_database  # noqa: E402
from ledger.models import Checkpoint, LogEntry  # noqa: E402
from verify import merkle  # noqa: E402

DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
NOT_TIMES = ("library_node_sql", "library_node_plan")


# --- small helpers ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes", default=None, help="log sizes for fill/verify/proofs (default 100000,1000000)"
    )
    p.add_argument("--quick", action="store_true", help="sizes 10000,100000 and fewer iterations")
    p.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL admin URL (a scratch database is "
        "created and dropped) or a SQLite URL; default: a fresh SQLite file in a temp dir",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument("--pad", type=int, default=100, help="length of the 'pad' string in each entry")
    p.add_argument("--threads", type=int, default=32, help="threads for the batched-append figure")
    p.add_argument("--unit", type=int, default=5000, help="entries per unit of work when filling")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--proof-seconds",
        type=float,
        default=None,
        help="time box per proof-latency variant (default 20, --quick 8)",
    )
    args = p.parse_args(argv)
    if args.sizes:
        args.sizes = tuple(sorted(int(s) for s in args.sizes.split(",") if s.strip()))
    else:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    q = args.quick
    args.n_single = 200 if q else 1000  # one-at-a-time appends
    args.n_raw_commits = 200 if q else 1000
    args.rounds = 4 if q else 10  # rounds interleaving appends and bare commits
    args.per_thread = 15 if q else 100  # batched appends per thread
    args.n_proofs = 500 if q else 2000
    args.limit_seconds = 0.5 if q else 1.5  # time box for each CPU-bound raw limit
    if args.proof_seconds is None:  # time box for each proof-latency variant
        args.proof_seconds = 8.0 if q else 20.0
    return args


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_ratio(x: float) -> str:
    return f"{x:.3f}" if x >= 0.1 else f"{x:.3g}"


def rate_line(label: str, value: float, limit_label: str, limit: float) -> str:
    ratio = value / limit if limit else float("nan")
    return f"{label}: {fmt_rate(value)}/s  | {limit_label} {fmt_rate(limit)}/s | ratio {fmt_ratio(ratio)}"


def latency_line(label: str, med: float, p99: float, limit_label: str, limit_med: float) -> str:
    ratio = limit_med / med if med else float("nan")
    return (
        f"{label}: median {med:,.0f} us, p99 {p99:,.0f} us  | {limit_label} median "
        f"{limit_med:,.0f} us | ratio {fmt_ratio(ratio)}"
    )


def timed_loop(body: Callable[[int], int], seconds: float) -> float:
    """Call body(round) until `seconds` have passed; body returns operations done; ops/s."""
    done, rounds = 0, 0
    start = time.perf_counter()
    while True:
        done += body(rounds)
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


class Out:
    """Prints as it goes, and keeps the figures for --out."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def say(self, line: str = "") -> None:
        print(line, flush=True)

    def put(self, key: str, value: Any) -> None:
        self.figures[key] = value


# --- scratch databases ------------------------------------------------------------------------


class Scratch:
    """The app database (fresh, migrated by build) and a raw database for the bare-commit limit."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.tmp = tmp
        self.admin: Engine | None = None
        self.created: list[str] = []
        self.files: list[Path] = []
        tag = secrets.token_hex(4)
        if not url or url.startswith("sqlite"):
            if url:
                app_path = Path(make_url(url).database or "")
                if app_path.exists():
                    raise SystemExit(f"{app_path} exists; the benchmark needs a fresh database")
                folder = app_path.parent
            else:
                folder = tmp
                app_path = tmp / "custody.db"
            raw_path = folder / f"custody_bench_{tag}_raw.db"
            self.files += [
                raw_path,
                *(raw_path.with_name(raw_path.name + s) for s in ("-wal", "-shm")),
            ]
            self.app_url = f"sqlite:///{app_path}"
            self.raw_url = f"sqlite:///{raw_path}"
            self.backend = "sqlite"
            return
        admin_url = make_url(url)
        self.backend = admin_url.get_backend_name()
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"custody_bench_{tag}"
        for db_name in (name, f"{name}_raw"):
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            self.created.append(db_name)
        self.app_url = admin_url.set(database=name).render_as_string(hide_password=False)
        self.raw_url = admin_url.set(database=f"{name}_raw").render_as_string(hide_password=False)

    def close(self) -> None:
        if self.admin is not None:
            for db_name in self.created:
                with self.admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            self.admin.dispose()
        for path in self.files:
            path.unlink(missing_ok=True)


def durability(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            return f"journal_mode={mode} synchronous={names.get(sync, sync)}"
        if engine.dialect.name == "postgresql":
            vals = [
                f"{g}={conn.exec_driver_sql(f'SHOW {g}').scalar()}"
                for g in ("synchronous_commit", "fsync", "wal_sync_method")
            ]
            return " ".join(vals)
    return engine.dialect.name


# --- raw limits -------------------------------------------------------------------------------


class RawCommitter:
    """A bare INSERT + COMMIT per row (DBAPI level) into a scratch table of a scratch database.

    The connection comes from the engine's pool, so make_engine's connect-time PRAGMAs
    (WAL, synchronous=FULL, ...) apply to it exactly as to the application's connections.
    """

    def __init__(self, engine: Engine, body_size: int) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self.raw = engine.raw_connection()
        self.cur = self.raw.cursor()
        if self.sqlite:
            self.cur.execute("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            self.sql = "INSERT INTO bench_raw (id, body) VALUES (?, ?)"
        else:
            self.cur.execute("CREATE TABLE bench_raw (id BIGINT PRIMARY KEY, body BYTEA NOT NULL)")
            self.raw.commit()
            self.sql = "INSERT INTO bench_raw (id, body) VALUES (%s, %s)"
        self.body = b"x" * body_size
        self.next_id = 0

    def commits(self, n: int) -> float:
        """Commit n rows one transaction each; return the seconds taken."""
        cur, sql, body = self.cur, self.sql, self.body
        start = time.perf_counter()
        for _ in range(n):
            self.next_id += 1
            if self.sqlite:  # the connect hook turned the driver's own transactions off
                cur.execute("BEGIN IMMEDIATE")
                cur.execute(sql, (self.next_id, body))
                cur.execute("COMMIT")
            else:
                cur.execute(sql, (self.next_id, body))
                self.raw.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        self.raw.close()


def sha256_rates(bodies: Sequence[bytes], seconds: float) -> tuple[float, float]:
    """(leaf hashes/s over real entry bytes, entries/s at leaf + one node hash per entry)."""
    sha = hashlib.sha256

    def leaves(_: int) -> int:
        for b in bodies:
            sha(b"\x00" + b).digest()
        return len(bodies)

    def leaf_and_node(_: int) -> int:
        prev = bytes(32)
        for b in bodies:
            leaf = sha(b"\x00" + b).digest()
            sha(b"\x01" + prev + leaf).digest()
            prev = leaf
        return len(bodies)

    return timed_loop(leaves, seconds), timed_loop(leaf_and_node, seconds)


def ed25519_rate(message: bytes, seconds: float) -> float:
    key = SigningKey.generate()

    def sign(_: int) -> int:
        for _i in range(100):
            key.sign(message)
        return 100

    return timed_loop(sign, seconds)


def raw_scan_rate(engine: Engine, log_id: str) -> tuple[float, int]:
    """Entries/s of a bare DBAPI scan of one log's (idx, body, leaf_hash) in index order."""
    ph = "?" if engine.dialect.name == "sqlite" else "%s"
    raw = engine.raw_connection()
    try:
        # PostgreSQL: a server-side cursor, so the rows stream as they do from SQLite.
        cur = raw.cursor() if ph == "?" else raw.driver_connection.cursor(name="bench_scan")
        start = time.perf_counter()
        cur.execute(
            f"SELECT idx, body, leaf_hash FROM log_entries WHERE log_id = {ph} ORDER BY idx",
            (log_id,),
        )
        n = 0
        while True:
            rows = cur.fetchmany(2000)
            if not rows:
                break
            n += len(rows)
        elapsed = time.perf_counter() - start
        if engine.dialect.name != "sqlite":
            raw.rollback()
        return n / elapsed, n
    finally:
        raw.close()


# --- the log under test -----------------------------------------------------------------------


def append_one(container: Container, log_id: str, n: int, pad: str) -> None:
    container.appender.run([log_id], lambda w: w.append(log_id, "test.event", {"n": n, "pad": pad}))


def stats_delta(container: Container, before: dict[str, int]) -> dict[str, int]:
    now = asdict(container.appender.stats)
    return {k: now[k] - before[k] for k in ("batches", "units", "entries", "checkpoints")}


def bench_single(
    container: Container, log_id: str, raw: RawCommitter, n: int, n_raw: int, rounds: int, pad: str
) -> dict[str, Any]:
    """Appends one at a time, interleaved in rounds with blocks of bare commits, so that
    both are measured under the same (noisy) disk conditions."""
    for i in range(10):  # warm-up: keys, pools, statement caches
        append_one(container, log_id, -1 - i, pad)
    raw.commits(10)
    before = asdict(container.appender.stats)
    app_secs = raw_secs = 0.0
    ratios = []
    done = 0
    for r in range(rounds):
        k = n // rounds + (1 if r < n % rounds else 0)
        kr = n_raw // rounds + (1 if r < n_raw % rounds else 0)

        def app_block(k: int = k) -> float:
            nonlocal done
            start = time.perf_counter()
            for _ in range(k):
                append_one(container, log_id, done, pad)
                done += 1
            return time.perf_counter() - start

        if r % 2:
            a_s, r_s = app_block(), raw.commits(kr)
        else:
            r_s, a_s = raw.commits(kr), app_block()
        app_secs += a_s
        raw_secs += r_s
        ratios.append((k / a_s) / (kr / r_s))
    return {
        "per_s": n / app_secs,
        "raw_commit_per_s": n_raw / raw_secs,
        "round_ratios": ratios,
        "stats": stats_delta(container, before),
    }


def bench_batched(
    container: Container, log_id: str, threads: int, per_thread: int, pad: str
) -> tuple[float, dict[str, int], int]:
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        barrier.wait()
        try:
            for i in range(per_thread):
                append_one(container, log_id, t * 1_000_000 + i, pad)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    before = asdict(container.appender.stats)
    largest_before = container.appender.stats.largest_batch
    container.appender.stats.largest_batch = 0
    barrier.wait()
    start = time.perf_counter()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} batched appends failed; first: {errors[0]!r}")
    delta = stats_delta(container, before)
    largest = container.appender.stats.largest_batch
    container.appender.stats.largest_batch = max(largest, largest_before)
    return threads * per_thread / elapsed, delta, largest


def log_size(container: Container, log_id: str) -> int:
    with container.db.session() as session:
        return LogReader(session).head(log_id).size


def fill(
    container: Container, log_id: str, target: int, unit: int, pad: str
) -> tuple[int, float, int]:
    """Grow the log to `target` entries in units of `unit` appends; (added, seconds, units)."""
    size = log_size(container, log_id)
    added, units = 0, 0
    start = time.perf_counter()
    last_report = start
    while size < target:
        count = min(unit, target - size)
        base = size

        def work(w: Any, base: int = base, count: int = count) -> None:
            for j in range(count):
                w.append(log_id, "test.event", {"n": base + j, "pad": pad})

        container.appender.run([log_id], work)
        size += count
        added += count
        units += 1
        now = time.perf_counter()
        if now - last_report > 30:
            print(f"    ... {size:,} entries ({added / (now - start):,.0f}/s)", flush=True)
            last_report = now
    return added, time.perf_counter() - start, units


def sample_bodies(container: Container, log_id: str, limit: int = 2000) -> list[bytes]:
    with container.db.session() as session:
        return list(
            session.scalars(
                select(LogEntry.body)
                .where(LogEntry.log_id == log_id)
                .order_by(LogEntry.idx.desc())
                .limit(limit)
            )
        )


def checkpoint_message(container: Container, log_id: str) -> bytes:
    """The body of the newest signed checkpoint: what the appender actually signs."""
    with container.db.session() as session:
        note = LogReader(session).latest_checkpoint(log_id).note
    return note.split("\n\n", 1)[0].encode() + b"\n"


def count_checkpoints(container: Container) -> int:
    with container.db.session() as session:
        return len(list(session.scalars(select(Checkpoint.tree_size))))


# --- proofs -----------------------------------------------------------------------------------


class RawProofReads:
    """The bare DBAPI reads a proof needs: the head row, then its nodes by primary key.

    The nodes are fetched in one query as an OR of (log_id, level, idx) equalities, a form
    both backends answer with primary-key lookups; `run_library_sql` replays the exact SQL
    the library sent instead, to show how much of a proof's time is that query's plan.
    """

    def __init__(self, engine: Engine, log_id: str) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self.raw = engine.raw_connection()
        self.cur = self.raw.cursor()
        self.log_id = log_id
        self.ph = "?" if self.sqlite else "%s"

    def read(self, node_ids: Sequence[merkle.NodeId]) -> float:
        ph = self.ph
        # log_id repeated in every disjunct: SQLite then plans one primary-key search per
        # node (MULTI-INDEX OR); with `log_id = ? AND (... OR ...)` it scans the whole log.
        sql = "SELECT level, idx, hash FROM log_nodes WHERE " + " OR ".join(
            f"(log_id = {ph} AND level = {ph} AND idx = {ph})" for _ in node_ids
        )
        params: list[Any] = []
        for level, idx in node_ids:
            params += [self.log_id, level, idx]
        start = time.perf_counter()
        self.cur.execute(f"SELECT size, root_hash FROM logs WHERE id = {ph}", (self.log_id,))
        self.cur.fetchone()
        self.cur.execute(sql, params)
        rows = self.cur.fetchall()
        elapsed = time.perf_counter() - start
        if len(rows) != len(node_ids):
            raise RuntimeError(f"raw read found {len(rows)} of {len(node_ids)} nodes")
        return elapsed

    def run_library_sql(self, statement: str, params: Any) -> float:
        start = time.perf_counter()
        self.cur.execute(statement, params)
        self.cur.fetchall()
        return time.perf_counter() - start

    def plan(self, statement: str, params: Any) -> list[str]:
        self.cur.execute(("EXPLAIN QUERY PLAN " if self.sqlite else "EXPLAIN ") + statement, params)
        rows = self.cur.fetchall()
        return [str(row[-1]) if self.sqlite else str(row[0]) for row in rows]

    def close(self) -> None:
        if not self.sqlite:
            self.raw.rollback()
        self.raw.close()


def node_ids_for(ranges: Sequence[tuple[int, int]]) -> list[merkle.NodeId]:
    return sorted({node for a, b in ranges for node in merkle.covering_nodes(a, b)})


def inclusion_node_ids(index: int, size: int) -> list[merkle.NodeId]:
    return node_ids_for([(index, index + 1), (0, size), *merkle.inclusion_ranges(index, size)])


def consistency_node_ids(first: int, size: int) -> list[merkle.NodeId]:
    return node_ids_for([(0, first), (0, size), *merkle.consistency_ranges(first, size)])


def sampled(
    items: Sequence[Any], fn: Callable[[Any], Any], budget: float, min_n: int = 10
) -> tuple[list[float], list[Any]]:
    """Time fn(item) for each item until the items or the time budget run out."""
    times: list[float] = []
    results: list[Any] = []
    start = time.perf_counter()
    for k, item in enumerate(items):
        if k >= min_n and time.perf_counter() - start > budget:
            break
        t0 = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - t0)
    return times, results


def capture_sql(engine: Engine, action: Callable[[], Any]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def listener(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def bench_proofs(
    container: Container, log_id: str, size: int, n: int, budget: float, rng: random.Random
) -> dict[str, Any]:
    db = container.db
    with db.session() as session:
        head = LogReader(session).head(log_id)
        assert head.size == size, (head.size, size)
        root = head.root_hash
    indexes = [rng.randrange(size) for _ in range(n)]
    firsts = [rng.randrange(1, size) for _ in range(n)]
    result: dict[str, Any] = {}

    # Inclusion, one shared session (its identity map keeps the head after the first proof).
    with db.session() as session:
        reader = LogReader(session)
        times, proofs = sampled(indexes, lambda i: reader.inclusion(log_id, i, size), budget)
    for proof in proofs:  # correctness, outside the timed part
        merkle.verify_inclusion(proof.leaf_hash, proof.index, size, proof.proof, root)
    result["inclusion_shared"] = times

    # Inclusion, a fresh session per proof (pool checkout, BEGIN, head read, nodes, close).
    def fresh_inclusion(i: int) -> None:
        with db.session() as session:
            LogReader(session).inclusion(log_id, i, size)

    result["inclusion_fresh"] = sampled(indexes, fresh_inclusion, budget)[0]

    # Consistency from a random earlier size to `size`.
    with db.session() as session:
        reader = LogReader(session)
        times, cproofs = sampled(firsts, lambda f: reader.consistency(log_id, f, size), budget)
    for cproof in cproofs:
        assert cproof.second_root == root
        merkle.verify_consistency(
            cproof.first, size, cproof.proof, cproof.first_root, cproof.second_root
        )
    result["consistency_shared"] = times

    def fresh_consistency(f: int) -> None:
        with db.session() as session:
            LogReader(session).consistency(log_id, f, size)

    result["consistency_fresh"] = sampled(firsts, fresh_consistency, budget)[0]

    # Raw limit: the head row plus the same nodes by primary key (ids computed beforehand).
    raw = RawProofReads(db.engine, log_id)
    try:
        inc_ids = [inclusion_node_ids(i, size) for i in indexes]
        con_ids = [consistency_node_ids(f, size) for f in firsts]
        result["raw_inclusion"] = sampled(inc_ids, raw.read, budget)[0]
        result["raw_consistency"] = sampled(con_ids, raw.read, budget)[0]

        # Diagnostic: the node query the library actually sent, its plan, and its bare time.
        def one_proof() -> None:
            with db.session() as session:
                LogReader(session).inclusion(log_id, indexes[0], size)

        node_sql = [(s, p) for s, p in capture_sql(db.engine, one_proof) if "log_nodes" in s]
        if node_sql:
            statement, params = node_sql[0]
            result["library_node_sql"] = " ".join(statement.split())
            result["library_node_plan"] = raw.plan(statement, params)
            result["library_sql_bare"] = sampled(
                [params] * 20, lambda p: raw.run_library_sql(statement, p), budget / 4, min_n=3
            )[0]
    finally:
        raw.close()
    return result


def summarize_latency(times: Sequence[float]) -> dict[str, float]:
    us = [t * 1e6 for t in times]
    return {
        "n": len(us),
        "median_us": median(us),
        "p99_us": percentile(us, 99),
        "mean_us": sum(us) / len(us),
    }


# --- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: Out) -> None:
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="custody-bench-"))
    scratch: Scratch | None = None
    container: Container | None = None
    raw_engine: Engine | None = None
    rng = random.Random(args.seed)
    pad = "x" * args.pad
    try:
        scratch = Scratch(args.database_url, tmp)
        container = build(Settings(data_dir=tmp / "data", database_url=scratch.app_url))
        raw_engine = make_engine(scratch.raw_url)
        db = container.db

        out.say("== custody log benchmark ==")
        meta = {
            "backend": scratch.backend,
            "database": make_url(scratch.app_url).render_as_string(hide_password=True),
            "raw_database": make_url(scratch.raw_url).render_as_string(hide_password=True),
            "python": platform.python_version(),
            "sqlite_library": sqlite3.sqlite_version,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.system()} {platform.release()}",
            "app_durability": durability(db.engine),
            "raw_durability": durability(raw_engine),
            "sizes": list(args.sizes),
            "quick": args.quick,
            "pad": args.pad,
            "threads": args.threads,
            "unit": args.unit,
        }
        out.put("meta", meta)
        for key, value in meta.items():
            out.say(f"{key:>15}: {value}")
        out.say()

        appends = container.tenants.create("bench-appends").log_id
        big = container.tenants.create("bench-fill").log_id

        # 1. one at a time, vs a bare INSERT + COMMIT per row (interleaved in rounds).
        append_one(container, appends, -100, pad)
        body_size = len(sample_bodies(container, appends, 1)[0])
        committer = RawCommitter(raw_engine, body_size)
        try:
            res1 = bench_single(
                container, appends, committer, args.n_single, args.n_raw_commits, args.rounds, pad
            )
        finally:
            committer.close()
        single, raw_commit, single_stats = res1["per_s"], res1["raw_commit_per_s"], res1["stats"]
        rr = res1["round_ratios"]
        out.say(
            f"[1] {args.n_single} appends one at a time ({body_size}-byte entries), "
            f"interleaved in {args.rounds} rounds with {args.n_raw_commits} bare "
            "INSERT+COMMITs in a scratch table"
        )
        out.say(
            "    " + rate_line("appends/s (one at a time)", single, "raw commit rate", raw_commit)
        )
        out.say(
            f"    per-round ratios: median {median(rr):.3f}, min {min(rr):.3f}, max {max(rr):.3f}"
        )
        out.say(
            f"    appender: {single_stats['batches']} transactions, "
            f"{single_stats['checkpoints']} checkpoints signed"
        )
        out.put(
            "append_single",
            {
                "per_s": single,
                "n": args.n_single,
                "entry_bytes": body_size,
                "raw_commit_per_s": raw_commit,
                "raw_commits": args.n_raw_commits,
                "ratio": single / raw_commit,
                "round_ratios": rr,
                "stats": single_stats,
            },
        )

        # Hashing and signing limits, from real entry bytes and a real checkpoint body.
        bodies = sample_bodies(container, appends)
        mean_len = sum(map(len, bodies)) / len(bodies)
        leaf_rate, append_hash_rate = sha256_rates(bodies, args.limit_seconds)
        message = checkpoint_message(container, appends)
        sign_rate = ed25519_rate(message, args.limit_seconds)
        out.say()
        out.say(f"raw limits (entries: {len(bodies)} real bodies, mean {mean_len:.0f} bytes):")
        out.say(f"    SHA-256 leaf hashes/s (hashlib, 0x00||entry): {fmt_rate(leaf_rate)}")
        out.say(
            f"    leaf + node hashing an append implies (2 SHA-256/entry): "
            f"{fmt_rate(append_hash_rate)} entries/s"
        )
        out.say(
            f"    Ed25519 signatures/s (PyNaCl, {len(message)}-byte checkpoint body): "
            f"{fmt_rate(sign_rate)}"
        )
        out.put(
            "limits",
            {
                "sha256_leaf_per_s": leaf_rate,
                "append_hashing_entries_per_s": append_hash_rate,
                "ed25519_sign_per_s": sign_rate,
                "entry_bytes_mean": mean_len,
                "checkpoint_body_bytes": len(message),
                "raw_commit_per_s": raw_commit,
            },
        )

        # 2. batched by group commit.
        batched, bstats, largest = bench_batched(
            container, appends, args.threads, args.per_thread, pad
        )
        per_txn = bstats["entries"] / max(1, bstats["batches"])
        out.say()
        out.say(f"[2] {args.threads} threads x {args.per_thread} appends, group commit")
        out.say(
            "    "
            + rate_line("appends/s (batched)", batched, "raw commit rate", raw_commit)
            + "  (group commit vs one bare commit per row)"
        )
        out.say(
            "    "
            + rate_line("appends/s (batched)", batched, "append hashing limit", append_hash_rate)
        )
        out.say(
            f"    appender.stats: {bstats['batches']} batches (transactions), "
            f"{bstats['entries']} entries, {bstats['units']} units -> {per_txn:.1f} entries "
            f"per transaction (largest batch {largest} units), "
            f"{bstats['checkpoints']} checkpoints"
        )
        out.put(
            "append_batched",
            {
                "per_s": batched,
                "threads": args.threads,
                "per_thread": args.per_thread,
                "stats": bstats,
                "entries_per_transaction": per_txn,
                "largest_batch": largest,
                "ratio_to_raw_commit": batched / raw_commit,
                "ratio_to_hashing": batched / append_hash_rate,
            },
        )

        # 3 + 4. grow a second log to each size; fill rate, full verification, proofs.
        sizes_out: dict[str, Any] = {}
        for size in args.sizes:
            out.say()
            out.say(f"== log of {size:,} entries ==")
            added, secs, units = fill(container, big, size, args.unit, pad)
            fill_rate = added / secs if secs else float("nan")
            out.say(f"[fill] {added:,} entries in {units} units of <= {args.unit} in {secs:.1f} s")
            out.say(
                "    "
                + rate_line("fill entries/s", fill_rate, "append hashing limit", append_hash_rate)
            )
            figure: dict[str, Any] = {
                "fill": {
                    "entries": added,
                    "seconds": secs,
                    "units": units,
                    "per_s": fill_rate,
                    "ratio_to_hashing": fill_rate / append_hash_rate,
                }
            }

            scan_rate, scanned = raw_scan_rate(db.engine, big)
            spent = {"seconds": 0.0, "proofs": 0}
            original = LogReader.consistency

            # Installed and removed within this iteration: the loop's variables are current.
            def timed_consistency(self: LogReader, *a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return original(self, *a, **kw)  # noqa: B023
                finally:
                    spent["seconds"] += time.perf_counter() - t0  # noqa: B023
                    spent["proofs"] += 1  # noqa: B023

            LogReader.consistency = timed_consistency  # type: ignore[method-assign]
            try:
                start = time.perf_counter()
                reports = verify_database(db)
                vsecs = time.perf_counter() - start
            finally:
                LogReader.consistency = original  # type: ignore[method-assign]
            bad = [r.summary() for r in reports if not r.ok]
            total = sum(r.entries for r in reports)
            ok = not bad
            vrate = total / vsecs
            combined = 1 / (1 / scan_rate + 1 / append_hash_rate)
            out.say(
                f"[verify] verify_database: {len(reports)} logs, {total:,} entries, "
                f"{sum(r.checkpoints for r in reports)} checkpoints, {vsecs:.1f} s, "
                f"{'ok' if ok else 'FAILED'}; of which {spent['seconds']:.1f} s in "
                f"{spent['proofs']} consistency proofs between checkpoints"
            )
            for line in bad:
                out.say("    " + line)
            out.say(
                "    "
                + rate_line(
                    "full-verify entries/s", vrate, "append hashing limit", append_hash_rate
                )
            )
            out.say(
                "    "
                + rate_line(
                    "full-verify entries/s", vrate, f"raw DBAPI scan ({scanned:,} rows)", scan_rate
                )
            )
            out.say("    " + rate_line("full-verify entries/s", vrate, "scan + hashing", combined))
            figure["verify"] = {
                "ok": ok,
                "logs": len(reports),
                "entries": total,
                "seconds": vsecs,
                "per_s": vrate,
                "raw_scan_per_s": scan_rate,
                "consistency_proof_seconds": spent["seconds"],
                "consistency_proofs": spent["proofs"],
                "ratio_to_hashing": vrate / append_hash_rate,
                "ratio_to_scan": vrate / scan_rate,
                "ratio_to_scan_plus_hashing": vrate / combined,
                "errors": bad,
            }
            if not ok:
                raise SystemExit("verification FAILED")

            res = bench_proofs(container, big, size, args.n_proofs, args.proof_seconds, rng)
            lat = {k: summarize_latency(v) for k, v in res.items() if k not in NOT_TIMES}
            out.say(
                f"[proofs] tree size {size:,}: up to {args.n_proofs} random proofs per "
                f"variant, or as many as fit in {args.proof_seconds:.0f} s; 'shared' = one "
                "session/LogReader for all proofs, 'fresh' = a new session per proof; every "
                "shared-session proof verified against the head root"
            )
            for kind in ("inclusion", "consistency"):
                for how in ("shared", "fresh"):
                    k = f"{kind}_{how}"
                    out.say(
                        "    "
                        + latency_line(
                            f"{kind} proof ({how} session, n={lat[k]['n']})",
                            lat[k]["median_us"],
                            lat[k]["p99_us"],
                            "raw reads by primary key",
                            lat["raw_" + kind]["median_us"],
                        )
                    )
            for key in ("raw_inclusion", "raw_consistency"):
                out.say(
                    f"    {key} (DBAPI: head row + nodes by primary key, n={lat[key]['n']}): "
                    f"median {lat[key]['median_us']:,.0f} us, p99 {lat[key]['p99_us']:,.0f} us"
                )
            if "library_sql_bare" in lat:
                out.say(
                    f"    the library's node query replayed bare through the DBAPI "
                    f"(n={lat['library_sql_bare']['n']}): median "
                    f"{lat['library_sql_bare']['median_us']:,.0f} us"
                )
                out.say(f"      SQL: {res['library_node_sql'][:160]}...")
                plan = [" ".join(line.split()) for line in res["library_node_plan"]]
                shown = [line[:110] + ("..." if len(line) > 110 else "") for line in plan[:3]]
                more = f" | ... ({len(plan) - 3} more lines in --out)" if len(plan) > 3 else ""
                out.say("      plan: " + " | ".join(shown) + more)
            figure["proofs"] = {
                k: {
                    **v,
                    "ratio_raw_over_figure": (
                        lat["raw_" + k.split("_")[0]]["median_us"] / v["median_us"]
                    ),
                }
                for k, v in lat.items()
                if k.split("_")[0] in ("inclusion", "consistency")
            }
            figure["proofs"]["raw"] = {k: v for k, v in lat.items() if k.startswith("raw_")}
            if "library_sql_bare" in lat:
                figure["proofs"]["library_node_query"] = {
                    "sql": res["library_node_sql"],
                    "plan": res["library_node_plan"],
                    **lat["library_sql_bare"],
                }
            figure["proofs"]["session_note"] = (
                "shared: one session (and LogReader) for all proofs; fresh: new session per proof"
            )
            sizes_out[str(size)] = figure
        out.put("sizes", sizes_out)

        # Summary: every figure beside its limit.
        out.say()
        out.say("== summary (ratio = figure / limit for rates, limit / figure for latencies) ==")
        out.say(rate_line("appends/s (one at a time)", single, "raw commit rate", raw_commit))
        out.say(rate_line("appends/s (batched)", batched, "raw commit rate", raw_commit))
        out.say(
            rate_line("appends/s (batched)", batched, "append hashing limit", append_hash_rate)
            + f"  [{per_txn:.1f} entries/transaction]"
        )
        for size, fig in sizes_out.items():
            n = int(size)
            out.say(
                rate_line(
                    f"fill entries/s (to {n:,})",
                    fig["fill"]["per_s"],
                    "append hashing limit",
                    append_hash_rate,
                )
            )
            out.say(
                rate_line(
                    f"full-verify entries/s ({fig['verify']['entries']:,})",
                    fig["verify"]["per_s"],
                    "append hashing limit",
                    append_hash_rate,
                )
            )
            for k in (
                "inclusion_shared",
                "consistency_shared",
                "inclusion_fresh",
                "consistency_fresh",
            ):
                p = fig["proofs"][k]
                raw = fig["proofs"]["raw"]["raw_" + k.split("_")[0]]
                out.say(
                    latency_line(
                        f"{k.replace('_', ' proof, ')} session @ {n:,} (n={p['n']})",
                        p["median_us"],
                        p["p99_us"],
                        "raw reads",
                        raw["median_us"],
                    )
                )
        out.say(
            f"Ed25519 signatures/s: {fmt_rate(sign_rate)}  (checkpoints are signed at most "
            f"once a second per log; {count_checkpoints(container)} signed in this run)"
        )
        out.say(f"SHA-256 leaf hashes/s: {fmt_rate(leaf_rate)}")
        out.put("checkpoints_signed", count_checkpoints(container))
        out.put("appender_stats", asdict(container.appender.stats))
        total_secs = time.perf_counter() - wall
        out.put("wall_seconds", total_secs)
        out.say(f"wall time: {total_secs:.0f} s")
    finally:
        if container is not None:
            container.close()
        if raw_engine is not None:
            raw_engine.dispose()
        if scratch is not None:
            scratch.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Out()
    run(args, out)
    if args.out is not None:
        args.out.write_text(json.dumps(out.figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

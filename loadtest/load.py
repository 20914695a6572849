"""The mixed load: use checks, clip registrations, consents and withdrawals, open loop.

Before the load (not timed), `LoadDriver.prepare` gives each tenant a pool of workers with
consents and clips, so that checks have something to decide. Then `LoadDriver.run` starts
operations at a fixed average rate (Poisson arrivals) for a fixed time, whatever the service's
answers take, with at most `concurrency` in flight; an operation that cannot start within
`late_limit` seconds of its planned start is dropped and counted. The mix:

- check (80%): a single use check of an item of the pool, for one of the consents' two
  purposes. Some of those items' consents get withdrawn during the run, some of their
  retention terms end: checks then deny.
- clip (15%): a new clip under an open consent of the pool; a share of them with a short
  retention term (from their consent), so that deletions fall due during the run; a share
  uploading their bytes (a small PNG) into the vault, and of those a share asking for a
  redacted copy, which a job runner makes (the operation is then all those calls).
- consent (2.5%): a new consent, for a new worker or one of the pool's.
- withdrawal (2.5%): a withdrawal of a consent of the pool, all of it or one purpose.

Latency is measured per operation (from its planned start, and from its first attempt:
retries and their waits included) and per attempt. Every acknowledged write and every check's
answer is written down (`loadtest.records`) for the audit (`loadtest.audit`).

    .venv/bin/python -m loadtest.load --url http://127.0.0.1:8000 --api-key cust_... \\
        --seconds 30 --rate 200 [--json]
    .venv/bin/python -m loadtest.load --url ... --create-tenants 2   # keys made with the
                                                                      # `custody` command
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import os
import queue
import random
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from loadtest.http import Caller, Clock, RetryPolicy
from loadtest.pool import PURPOSES, ConsentState, Pool
from loadtest.records import Records
from loadtest.stats import Outcome, report

KINDS = ("check", "clip", "consent", "withdrawal")
CATEGORIES = ["body_motion", "face"]
TERMS = {
    "purposes": list(PURPOSES),
    "data_categories": CATEGORIES,
    "recipients": "platform_only",
    "jurisdiction": "NG",
    "collection_method": "in_app",
    "policy_url": "https://platform.example/terms",
    "policy_version": "2026-04",
}
# (second of the load, name, what to do): run on a thread of its own at that second.
Fault = tuple[float, str, Callable[[], object]]


@dataclass(frozen=True)
class TenantKey:
    """A platform key of one tenant; the tenant and log ids when known (they label records)."""

    api_key: str
    tenant: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class Target:
    url: str
    tenants: tuple[TenantKey, ...]


@dataclass(frozen=True)
class Mix:
    check: float = 0.80
    clip: float = 0.15
    consent: float = 0.025
    withdrawal: float = 0.025

    def weights(self) -> list[float]:
        return [self.check, self.clip, self.consent, self.withdrawal]


@dataclass(frozen=True)
class LoadConfig:
    seconds: float = 30.0
    rate: float = 100.0  # operations started per second, on average (open loop)
    concurrency: int = 32  # operations in flight at most (one thread and connection each)
    mix: Mix = field(default_factory=Mix)
    workers: int = 40  # per tenant, each with a consent, made before the load
    clips_per_worker: int = 3  # registered under each of those consents before the load
    short_share: float = 0.3  # consents whose retention term ends during the run
    short_retention: str = "PT45S"  # longer than the retry budget: a retried clip still fits
    retention: str = "P90D"
    upload_share: float = 0.25  # clip registrations that also upload their bytes
    image_side: int = 32  # the bytes are a PNG of noise this many pixels square
    redaction_share: float = 0.1  # uploads that also ask for a redacted copy (job runners)
    complete_share: float = 0.5  # withdrawals of a whole consent (else of one purpose)
    # Checks carry an Idempotency-Key like every POST of the client; without one (for
    # measuring what the key costs) a check retried after a lost answer may be logged twice.
    check_keys: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 10.0  # per attempt
    late_limit: float = 10.0  # an operation not started this long after its plan is dropped
    seed: int | None = None


def create_tenants(
    env: Mapping[str, str],
    count: int,
    *,
    name: str = "Load Motion",
    role: str = "platform",
    command: Sequence[str] = (sys.executable, "-m", "api"),
) -> list[TenantKey]:
    """Tenants with a first key each, made by `custody tenants create --json` run with `env`
    (the service's CUSTODY_* settings: the command writes to the same database)."""
    made = []
    for n in range(count):
        done = subprocess.run(
            [*command, "tenants", "create", f"{name} {n + 1}", "--role", role, "--json"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"custody tenants create failed: {done.stderr.strip()}")
        answer = json.loads(done.stdout)
        made.append(TenantKey(answer["api_key"], answer["tenant"], answer["log"]))
    return made


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LoadDriver:
    """`prepare()` once, then `run()`; `close()` (or `with`) flushes the records."""

    def __init__(self, target: Target, config: LoadConfig, records: Path | str) -> None:
        if not target.tenants:
            raise ValueError("give at least one tenant's API key")
        if config.rate <= 0 or config.seconds <= 0 or config.concurrency < 1:
            raise ValueError("rate and seconds must be positive, concurrency at least 1")
        self.target, self.config = target, config
        self.records = Records(records)
        self.pool = Pool(len(target.tenants))
        self.labels = [t.tenant or f"#{n}" for n, t in enumerate(target.tenants)]
        self.tag = os.urandom(4).hex()  # worker references of this run: lw-<tag>-<n>
        self._workers = itertools.count()
        self._seeds = random.Random(config.seed)
        self._lock = threading.Lock()
        self._phase = "setup"
        self.clock = Clock()
        self.ops: dict[str, Callable[[Caller, random.Random, Outcome], object]] = {
            "check": self._check,
            "clip": self._clip,
            "consent": self._consent,
            "withdrawal": self._withdrawal,
        }

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> LoadDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Before the load ---------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        """Each tenant's workers with a consent and clips; raises if any call failed."""
        self._phase, self.clock = "setup", Clock()
        callers: list[Caller] = []
        local = threading.local()
        outcomes: list[Outcome] = []

        def worker_with_clips(tenant: int) -> None:
            if not hasattr(local, "caller"):
                local.rng = random.Random(self._seed())
                local.caller = self._caller(local.rng)
                with self._lock:
                    callers.append(local.caller)
            consent = Outcome("consent", self.clock())
            made = self._consent(local.caller, local.rng, consent, tenant=tenant, new_worker=True)
            outcomes.append(consent)
            for _ in range(self.config.clips_per_worker if made else 0):
                clip = Outcome("clip", self.clock())
                self._clip(local.caller, local.rng, clip, tenant=tenant, consent=made)
                outcomes.append(clip)

        jobs = [t for t in range(len(self.target.tenants)) for _ in range(self.config.workers)]
        try:
            with ThreadPoolExecutor(max(1, min(self.config.concurrency, 16))) as threads:
                list(threads.map(worker_with_clips, jobs))
        finally:
            for caller in callers:
                caller.close()
            self.records.flush()
        failed = [o for o in outcomes if not o.ok]
        if failed:
            reasons = Counter(o.error for o in failed)
            raise RuntimeError(f"{len(failed)} setup calls failed: {dict(reasons)}")
        return {"seconds": round(self.clock(), 3), "calls": len(outcomes), **self.pool.sizes()}

    # The load ----------------------------------------------------------------------------

    def run(self, faults: Sequence[Fault] = ()) -> dict[str, Any]:
        """The load for `config.seconds`, with faults run at their seconds; its figures."""
        config = self.config
        self._phase = "load"
        # Connections are made before the clock starts: an httpx client costs milliseconds.
        callers = [self._caller(random.Random(self._seed())) for _ in range(config.concurrency)]
        self.clock = Clock()
        for caller in callers:
            caller.clock = self.clock
        jobs: queue.SimpleQueue[tuple[str, float] | None] = queue.SimpleQueue()
        outcomes: list[Outcome] = []
        dropped: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        fault_log: list[dict[str, Any]] = []
        threads = [
            threading.Thread(
                target=self._serve,
                args=(caller, jobs, outcomes, dropped, skipped),
                name=f"load-{n}",
                daemon=True,
            )
            for n, caller in enumerate(callers)
        ]
        injectors = [
            threading.Thread(
                target=self._inject, args=(at, name, action, fault_log), name=f"fault-{name}"
            )
            for at, name, action in sorted(faults, key=lambda f: f[0])
        ]
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        for thread in threads + injectors:
            thread.start()
        rng = random.Random(self._seed())
        kinds, weights = list(KINDS), config.mix.weights()
        planned, offered = 0.0, 0
        while True:
            planned += rng.expovariate(config.rate)
            if planned >= config.seconds:
                break
            ahead = planned - self.clock()
            if ahead > 0:
                time.sleep(ahead)
            jobs.put((rng.choices(kinds, weights)[0], planned))
            offered += 1
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()
        elapsed = self.clock()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        for thread in injectors:
            thread.join()
        self.records.flush()
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        figures = report(outcomes, config.seconds, dropped)
        figures.update(
            {
                "rate_target": config.rate,
                "offered": offered,
                "elapsed": round(elapsed, 3),
                "skipped": dict(skipped),
                "faults": sorted(fault_log, key=lambda f: f["began"]),
                "driver_cpu": {
                    "seconds": round(cpu, 2),
                    "cores": round(cpu / elapsed, 3) if elapsed else 0.0,
                },
                "pool": self.pool.sizes(),
                "records": str(self.records.folder),
                "config": _config(config),
            }
        )
        return figures

    def _serve(
        self,
        caller: Caller,
        jobs: queue.SimpleQueue[tuple[str, float] | None],
        outcomes: list[Outcome],
        dropped: Counter[str],
        skipped: Counter[str],
    ) -> None:
        rng = caller.rng
        try:
            while (job := jobs.get()) is not None:
                kind, planned = job
                if self.clock() - planned > self.config.late_limit:
                    with self._lock:
                        dropped[kind] += 1
                    continue
                outcome = Outcome(kind, planned)
                try:
                    self.ops[kind](caller, rng, outcome)
                except Exception as exc:  # a bug of the driver: counted, never silent
                    outcome.error = f"driver: {type(exc).__name__}: {exc}"
                outcome.ended = self.clock()
                if not outcome.attempts and outcome.error is None:
                    with self._lock:
                        skipped[kind] += 1  # nothing in the pool to work on
                    continue
                outcomes.append(outcome)
        finally:
            caller.close()

    def _inject(
        self, at: float, name: str, action: Callable[[], object], log: list[dict[str, Any]]
    ) -> None:
        ahead = at - self.clock()
        if ahead > 0:
            time.sleep(ahead)
        began = self.clock()
        error = None
        try:
            action()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        log.append(
            {
                "at": at,
                "name": name,
                "began": round(began, 3),
                "ended": round(self.clock(), 3),
                "error": error,
            }
        )

    def _seed(self) -> int:
        with self._lock:
            return self._seeds.getrandbits(64)

    def _caller(self, rng: random.Random) -> Caller:
        return Caller(self.target.url, self.config.retry, self.config.timeout, self.clock, rng)

    # Operations --------------------------------------------------------------------------

    def _key(self, tenant: int) -> str:
        return self.target.tenants[tenant].api_key

    def _tenant(self, rng: random.Random) -> int:
        return rng.randrange(len(self.target.tenants))

    def _ack(self, kind: str, tenant: int, **fields: Any) -> None:
        self.records.acked(
            {
                "kind": kind,
                "tenant": self.labels[tenant],
                "phase": self._phase,
                "at": self.clock.wall(self.clock()),
                **fields,
            }
        )

    def _answer(
        self,
        outcome: Outcome,
        response: httpx.Response | None,
        op: str,
        tenant: int,
        **context: Any,
    ) -> dict[str, Any] | None:
        """The JSON of a 2xx answer; otherwise None, the outcome's error set, and an
        operation that may have taken effect written down as unsettled."""
        if response is None:
            self._ack("unsettled", tenant, op=op, error=outcome.error, **context)
            return None
        if response.is_success:
            outcome.ok = True
            answer: dict[str, Any] = response.json()
            return answer
        outcome.error = f"{response.status_code} {_title(response)}"
        return None

    def _check(self, caller: Caller, rng: random.Random, outcome: Outcome) -> None:
        tenant = self._tenant(rng)
        item = self.pool.item(tenant, rng)
        if item is None:
            return
        purpose = rng.choice(PURPOSES)
        body = json.dumps({"item": item, "purpose": purpose, "recipient": "platform"})
        response = caller.call(
            outcome,
            self._key(tenant),
            "POST",
            "/v1/checks",
            body.encode(),
            idempotent=self.config.check_keys,
        )
        answer = self._answer(outcome, response, "check", tenant, item=item, purpose=purpose)
        if answer is not None:
            self.records.check(
                {
                    "tenant": self.labels[tenant],
                    "item": item,
                    "purpose": purpose,
                    "decision": answer["decision"],
                    "reasons": answer["reasons"],
                    "log_index": answer["log_index"],
                    "sent": self.clock.wall(outcome.started),
                    "at": self.clock.wall(self.clock()),
                }
            )

    def _clip(
        self,
        caller: Caller,
        rng: random.Random,
        outcome: Outcome,
        *,
        tenant: int | None = None,
        consent: ConsentState | None = None,
    ) -> None:
        tenant = self._tenant(rng) if tenant is None else tenant
        consent = consent or self.pool.open_consent(tenant, rng)
        if consent is None:
            return
        upload = rng.random() < self.config.upload_share
        content = noise_png(self.config.image_side) if upload else os.urandom(32)
        sha256 = hashlib.sha256(content).hexdigest()
        body = {
            "sha256": sha256,
            "worker": consent.worker,
            "consent": consent.id,
            "data_categories": CATEGORIES,
            "captured_at": _now_rfc3339(),
        }
        key = self._key(tenant)
        response = caller.call(outcome, key, "POST", "/v1/clips", json.dumps(body).encode())
        if response is not None and response.status_code == 409 and not self.pool.is_open(consent):
            outcome.ok = True  # the consent was withdrawn meanwhile: refused, rightly
            return
        answer = self._answer(outcome, response, "clip", tenant, consent=consent.id, sha256=sha256)
        if answer is None:
            return
        self._ack(
            "clip",
            tenant,
            id=answer["id"],
            consent=consent.id,
            sha256=sha256,
            delete_after=answer["delete_after"],
            log_index=answer["log_index"],
            created=answer.get("created", True),
        )
        self.pool.add_item(tenant, answer["id"])
        if not upload:
            return
        path = f"/v1/clips/{answer['id']}/content"
        response = caller.call(outcome, key, "PUT", path, content, "application/octet-stream")
        if response is not None and response.status_code == 410:
            return  # erased meanwhile (its consent withdrawn and swept): rightly refused
        outcome.ok = False
        stored = self._answer(outcome, response, "content", tenant, item=answer["id"])
        if stored is None:
            return
        self._ack("content", tenant, item=answer["id"], size=stored["content_size"])
        if rng.random() >= self.config.redaction_share:
            return
        body = {"item": answer["id"], "mode": "faces", "fill": "solid"}
        response = caller.call(outcome, key, "POST", "/v1/redactions", json.dumps(body).encode())
        if response is not None and response.status_code == 410:
            return  # erased meanwhile
        outcome.ok = False
        job = self._answer(outcome, response, "redaction", tenant, item=answer["id"])
        if job is not None:
            self._ack(
                "redaction", tenant, id=job["id"], item=answer["id"], log_index=job["log_index"]
            )

    def _consent(
        self,
        caller: Caller,
        rng: random.Random,
        outcome: Outcome,
        *,
        tenant: int | None = None,
        new_worker: bool | None = None,
    ) -> ConsentState | None:
        tenant = self._tenant(rng) if tenant is None else tenant
        worker = None if new_worker else self.pool.worker(tenant, rng)
        if worker is None or (new_worker is None and rng.random() < 0.5):
            worker, new_worker = f"lw-{self.tag}-{next(self._workers)}", True
        short = rng.random() < self.config.short_share
        retention = self.config.short_retention if short else self.config.retention
        body = {"worker": worker, "retention": retention, **TERMS}
        response = caller.call(
            outcome, self._key(tenant), "POST", "/v1/consents", json.dumps(body).encode()
        )
        answer = self._answer(outcome, response, "consent", tenant)
        if answer is None:
            return None
        self._ack(
            "consent",
            tenant,
            id=answer["id"],
            worker=answer["worker"],
            purposes=answer["purposes_in_force"],
            retention=retention,
            log_index=answer["log_index"],
        )
        state = ConsentState(answer["id"], tenant, worker, short)
        self.pool.add_consent(state, bool(new_worker))
        return state

    def _withdrawal(self, caller: Caller, rng: random.Random, outcome: Outcome) -> None:
        tenant = self._tenant(rng)
        complete = rng.random() < self.config.complete_share
        consent = self.pool.take_for_withdrawal(tenant, rng, complete)
        if consent is None:
            return
        body = {} if complete else {"purposes": [rng.choice(PURPOSES)]}
        path = f"/v1/consents/{consent.id}/withdraw"
        response = caller.call(outcome, self._key(tenant), "POST", path, json.dumps(body).encode())
        answer = self._answer(outcome, response, "withdrawal", tenant, consent=consent.id)
        if answer is None:
            return
        self._ack(
            "withdrawal",
            tenant,
            id=answer["id"],
            consent=consent.id,
            purposes=answer["purposes"],
            complete=not answer["purposes_in_force"],
            log_index=answer["log_index"],
        )


def noise_png(side: int) -> bytes:
    """A small PNG of random pixels: real media for the redactor, new content every time."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _title(response: httpx.Response) -> str:
    try:
        return str(response.json().get("title", ""))
    except ValueError:
        return ""


def _config(config: LoadConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(config).items()}


# The command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--api-key", action="append", default=[], help="a platform key; once per tenant"
    )
    parser.add_argument(
        "--create-tenants",
        type=int,
        default=0,
        help="make this many tenants with `custody tenants create` (CUSTODY_* from the "
        "environment: the service's database)",
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="operations per second")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=40, help="per tenant, before the load")
    parser.add_argument("--clips-per-worker", type=int, default=3)
    parser.add_argument("--short-retention", default="PT45S")
    parser.add_argument("--short-share", type=float, default=0.3)
    parser.add_argument("--upload-share", type=float, default=0.25)
    parser.add_argument(
        "--redaction-share", type=float, default=0.1, help="of uploads, also redacted"
    )
    parser.add_argument("--retry-budget", type=float, default=30.0)
    parser.add_argument(
        "--no-check-keys", action="store_true", help="checks without an Idempotency-Key"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--records", type=Path, help="folder for acked.jsonl and checks.jsonl (default: new)"
    )
    parser.add_argument(
        "--audit",
        type=float,
        metavar="WAIT",
        help="audit afterwards (CUSTODY_* from the environment), first waiting up to WAIT "
        "seconds for due deletions",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    tenants = [TenantKey(key) for key in args.api_key]
    if args.create_tenants:
        tenants += create_tenants(os.environ, args.create_tenants)
    if not tenants:
        parser.error("give --api-key (once per tenant) or --create-tenants N")
    folder = args.records or Path(f"load-records-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    config = LoadConfig(
        seconds=args.seconds,
        rate=args.rate,
        concurrency=args.concurrency,
        workers=args.workers,
        clips_per_worker=args.clips_per_worker,
        short_retention=args.short_retention,
        short_share=args.short_share,
        upload_share=args.upload_share,
        redaction_share=args.redaction_share,
        retry=RetryPolicy(budget=args.retry_budget),
        check_keys=not args.no_check_keys,
        seed=args.seed,
    )
    with LoadDriver(Target(args.url, tuple(tenants)), config, folder) as driver:
        setup = driver.prepare()
        figures = driver.run()
    figures["setup"] = setup
    if args.audit is not None:
        from loadtest.audit import audit

        result = audit(os.environ, folder, wait=args.audit)
        figures["audit"] = {"problems": result.problems, "figures": result.figures}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(summary(figures))
    failed = figures["errors"] or (args.audit is not None and figures["audit"]["problems"])
    return 1 if failed else 0


def summary(figures: Mapping[str, Any]) -> str:
    """A few lines for a person: the rate, latencies, errors, per kind."""
    lat = figures["latency_ms"]
    lines = [
        f"{figures['completed']} operations in {figures['seconds']:.0f} s: "
        f"{figures['rate']}/s (asked {figures['rate_target']}/s); "
        f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
        f"errors {figures['errors']}, retries {figures['retries']}, dropped {figures['dropped']}",
        f"driver CPU: {figures['driver_cpu']['seconds']} s "
        f"({figures['driver_cpu']['cores']:.2f} of a core)",
    ]
    for kind, row in figures["kinds"].items():
        k = row["latency_ms"]
        lines.append(
            f"  {kind:<10} {row['completed']:>7} ok {row['errors']:>4} errors "
            f"{row['retries']:>4} retries  p50 {k['p50']:>7} ms  p99 {k['p99']:>7} ms"
        )
    if figures["errors_by_reason"]:
        lines.append(f"errors: {figures['errors_by_reason']}")
    for fault in figures.get("faults", []):
        lines.append(
            f"fault {fault['name']} at {fault['began']} s, done {fault['ended']} s"
            + (f": {fault['error']}" if fault["error"] else "")
        )
    if "audit" in figures:
        problems = figures["audit"]["problems"]
        lines.append("audit: " + ("passed" if not problems else f"{len(problems)} problems"))
        lines += [f"  {p}" for p in problems[:50]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""What the load works on: each tenant's consents and items, shared by the caller threads.

A consent accepts new clips until a complete withdrawal of it is sent, and is withdrawn at
most once by the load (completely or one purpose), so that every withdrawal the service
acknowledges has a plain meaning for the checks that follow it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

PURPOSES = ("motion_imitation", "benchmarking")


@dataclass(eq=False)  # compared by identity
class ConsentState:
    id: str
    tenant: int
    worker: str  # the platform's worker reference (kept in memory only)
    short: bool  # a retention term short enough to fall due during the run


@dataclass
class TenantPool:
    consents: list[ConsentState] = field(default_factory=list)
    open: list[ConsentState] = field(default_factory=list)  # clips may still be registered
    withdrawable: list[ConsentState] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)


class Pool:
    def __init__(self, tenants: int) -> None:
        self.tenants = [TenantPool() for _ in range(tenants)]
        self._lock = threading.Lock()

    def add_consent(self, consent: ConsentState, new_worker: bool) -> None:
        pool = self.tenants[consent.tenant]
        with self._lock:
            pool.consents.append(consent)
            pool.open.append(consent)
            pool.withdrawable.append(consent)
            if new_worker:
                pool.workers.append(consent.worker)

    def add_item(self, tenant: int, item: str) -> None:
        with self._lock:
            self.tenants[tenant].items.append(item)

    def open_consent(self, tenant: int, rng: random.Random) -> ConsentState | None:
        pool = self.tenants[tenant]
        with self._lock:
            return rng.choice(pool.open) if pool.open else None

    def is_open(self, consent: ConsentState) -> bool:
        with self._lock:
            return consent in self.tenants[consent.tenant].open

    def take_for_withdrawal(
        self, tenant: int, rng: random.Random, complete: bool
    ) -> ConsentState | None:
        """A consent no withdrawal was sent for; closed to new clips if `complete`."""
        pool = self.tenants[tenant]
        with self._lock:
            if not pool.withdrawable:
                return None
            consent = pool.withdrawable.pop(rng.randrange(len(pool.withdrawable)))
            if complete and consent in pool.open:
                pool.open.remove(consent)
            return consent

    def item(self, tenant: int, rng: random.Random) -> str | None:
        items = self.tenants[tenant].items  # appended only: a read needs no lock
        return items[rng.randrange(len(items))] if items else None

    def worker(self, tenant: int, rng: random.Random) -> str | None:
        workers = self.tenants[tenant].workers
        return workers[rng.randrange(len(workers))] if workers else None

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {
                "consents": sum(len(t.consents) for t in self.tenants),
                "open_consents": sum(len(t.open) for t in self.tenants),
                "items": sum(len(t.items) for t in self.tenants),
                "workers": sum(len(t.workers) for t in self.tenants),
            }

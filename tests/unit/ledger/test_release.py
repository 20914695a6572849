"""Releasing stored bytes: only to a use the check allows, and never a byte of a damaged
object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ledger.errors import VaultError
from ledger.items.items import StoredContent
from ledger.models import UseDecision
from tests.support import factories


class Reads:
    """A stored object's bytes, counting how often they were asked for and how far read."""

    def __init__(self, chunks: list[bytes], damaged: bool = False) -> None:
        self.chunks, self.damaged = chunks, damaged
        self.opened, self.served = 0, 0

    def __call__(self) -> Iterator[bytes]:
        self.opened += 1
        return self._read()

    def _read(self) -> Iterator[bytes]:
        if self.damaged:
            raise VaultError("object failed its integrity check")
        for chunk in self.chunks:
            self.served += 1
            yield chunk


@pytest.fixture
def clip(container, tenant):  # type: ignore[no-untyped-def]
    return factories.clip(
        container, tenant.tenant_id, factories.consent(container, tenant.tenant_id)
    )


def _decisions(container, item_id):  # type: ignore[no-untyped-def]
    with container.db.session() as session:
        rows = session.execute(
            select(UseDecision.purpose, UseDecision.decision)
            .where(UseDecision.item_id == item_id)
            .order_by(UseDecision.log_index)
        )
        return [tuple(row) for row in rows]


def test_an_allowed_use_gets_the_bytes_with_the_first_already_read(container, tenant, clip) -> None:  # type: ignore[no-untyped-def]
    reads = Reads([b"one", b"two", b"three"])
    released = container.checks.release(
        StoredContent(clip, reads), "motion_imitation", "platform", tenant.api_key.key_id
    )
    assert released.item is clip and released.decision.decision == "allow"
    assert released.decision.log_index > 0
    assert (reads.opened, reads.served) == (1, 1)
    assert released.content is not None and list(released.content) == [b"one", b"two", b"three"]
    assert _decisions(container, clip.id) == [("motion_imitation", "allow")]


def test_a_denied_use_gets_the_reasons_and_nothing_is_read(container, tenant, clip) -> None:  # type: ignore[no-untyped-def]
    reads = Reads([b"secret"])
    released = container.checks.release(
        StoredContent(clip, reads), "benchmarking", "platform", tenant.api_key.key_id
    )
    assert released.content is None and reads.opened == 0
    assert released.decision.decision == "deny"
    assert released.decision.reasons == ["purpose_not_covered"]
    assert _decisions(container, clip.id) == [("benchmarking", "deny")]


def test_a_damaged_object_fails_before_any_byte_is_released(container, clip) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VaultError):
        container.checks.release(
            StoredContent(clip, Reads([b"x"], damaged=True)), "motion_imitation", "platform", None
        )
    assert _decisions(container, clip.id) == [("motion_imitation", "allow")]  # still logged

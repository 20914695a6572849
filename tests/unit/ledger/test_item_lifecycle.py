"""An item's lifecycle: active, erasing once claimed for erasure, erased once forgotten."""

from __future__ import annotations

from sqlalchemy import event

from ledger.items.items import ItemService, ItemStatus
from ledger.models import Item
from tests.support import factories


def test_the_statuses_are_the_strings_stored() -> None:
    assert [s.value for s in ItemStatus] == ["active", "erasing", "erased"]
    assert ItemStatus.ERASING == "erasing" and f"{ItemStatus.ERASED}" == "erased"


def _row(container, item_id):  # type: ignore[no-untyped-def]
    with container.db.session() as session:
        return session.get(Item, item_id)


def test_claimed_items_are_erasing_and_checks_deny_them(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    consent = factories.consent(container, tenant_id)
    claimed, kept = (factories.clip(container, tenant_id, consent) for _ in range(2))
    assert claimed.status == ItemStatus.ACTIVE
    with container.db.write() as session, session.begin():
        ItemService.mark_erasing(session, [claimed.id])
    row = _row(container, claimed.id)
    assert row.status == ItemStatus.ERASING
    assert row.sha256 == claimed.sha256 and row.salt == claimed.salt  # not erased yet
    assert _row(container, kept.id).status == ItemStatus.ACTIVE
    decision = container.checks.check(tenant_id, claimed.id, "motion_imitation", "platform", None)
    assert decision.reasons == ["erased"]


def test_forgotten_items_are_erased_without_their_hash_and_salt(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    consent = factories.consent(container, tenant_id)
    clip = factories.clip(container, tenant_id, consent)
    label = factories.derived(container, tenant_id, [clip])
    kept = factories.clip(container, tenant_id, consent)
    with container.db.write() as session, session.begin():
        ItemService.mark_erasing(session, [clip.id, label.id])
        ItemService.forget(session, [clip.id, label.id])
    for item in (clip, label):
        row = _row(container, item.id)
        assert row.status == ItemStatus.ERASED
        assert row.sha256 is None and row.salt is None
        assert row.commitment == item.commitment  # what the log holds of it stays
    row = _row(container, kept.id)
    assert row.status == ItemStatus.ACTIVE and row.sha256 == kept.sha256


def test_many_items_change_in_chunks_of_ids(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    clip = factories.clip(container, tenant_id, factories.consent(container, tenant_id))
    ids = [clip.id] + [f"itm_absent{n:08d}" for n in range(1999)]
    updates: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE ITEMS"):
            updates.append(statement)

    event.listen(container.db.engine, "before_cursor_execute", count)
    try:
        with container.db.write() as session, session.begin():
            ItemService.forget(session, ids)
    finally:
        event.remove(container.db.engine, "before_cursor_execute", count)
    assert len(updates) == 3  # 2,000 ids, at most 900 to a statement
    assert _row(container, clip.id).status == ItemStatus.ERASED

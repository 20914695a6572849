"""The year-long soak of the retention scheduler (loadtest/soak.py), small: a few hundred
clips through a year of passes on a fake clock, with racing scheduler processes and a
process dying mid-pass, on each database; and its checker catching what it is there for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.container import build
from ledger.clock import FakeClock
from ledger.ids import new_id
from ledger.items.items import object_name
from ledger.log.appender import LogWriter
from ledger.models import Item, Log
from loadtest.soak import Config, check, soak
from retention.erasure import ErasureReason
from retention.models import Erasure, ErasureItem

SMALL = Config(
    clips=300,
    workers=60,
    step=timedelta(days=7),
    beyond=0.1,
    open_ended=0.05,
    withdraw=0.1,
    races=3,
    crashes=2,
)


def test_a_year_of_sweeps_erases_each_item_on_time_and_once(settings):
    outcome = soak(settings, SMALL)
    found, figures = outcome.findings, outcome.figures

    assert outcome.problems() == []
    assert found.items == figures["items"] > SMALL.clips
    assert 0 < found.due == found.erased < found.items and found.kept == found.items - found.due
    assert found.clips_erased < SMALL.clips  # some terms run past the year, some never end
    assert (found.late, found.duplicates, found.missing) == (0, 0, 0)
    assert SMALL.step.total_seconds() / 2 < found.max_lateness_s < SMALL.step.total_seconds() + 60
    assert found.certificates == found.erasures > 0 and found.keys_destroyed > 0
    assert figures["withdrawals"] > 0
    assert figures["races"] == figures["race_skips"] == 3
    assert figures["crashes"] == 2 and figures["erasures_left_by_crashes"] >= 2

    # The checker sees a second tombstone, an object left behind, and a pass that should
    # have erased something and did not.
    container = build(settings, clock=FakeClock(outcome.passes[-1]), migrate=False)
    try:
        with container.db.session() as session:
            item, tenant_id, erasure, due = session.execute(
                select(Item.id, Item.tenant_id, Erasure.id, Item.delete_after)
                .join(ErasureItem, ErasureItem.item_id == Item.id)
                .join(Erasure, Erasure.id == ErasureItem.erasure_id)
                .where(Item.kind == "clip", Erasure.reason == ErasureReason.RETENTION_ENDED)
                .order_by(Item.id)
                .limit(1)
            ).one()
            log_id = session.scalar(select(Log.id).where(Log.tenant_id == tenant_id))
        assert log_id is not None and due not in outcome.passes

        def again(writer: LogWriter) -> None:
            writer.append(
                log_id,
                "items.erased",
                {
                    "erasure": new_id("ers"),
                    "reason": ErasureReason.RETENTION_ENDED,
                    "request": None,
                    "items": [item],
                    "objects_deleted": 0,
                    "key_destroyed": False,
                },
            )

        container.appender.run([log_id], again)
        (settings.vault_folder / object_name(tenant_id, item)).write_bytes(b"left behind")
        broken = check(container, [*outcome.passes, due])
    finally:
        container.close()
    assert broken.duplicates == 1 and broken.objects_left == 1 and broken.late >= 1
    assert broken.erasures_unfinished == 1  # the second tombstone names no erasure row
    assert {p.split("=")[0] for p in broken.problems()} == {
        "late",
        "duplicates",
        "erasures_unfinished",
        "objects_left",
    }

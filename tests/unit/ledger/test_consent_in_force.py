"""The consent in force: the latest amendment, its purposes, and a consent's family."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.consent.consents import (
    consent_family,
    consent_in_force,
    latest_amendment,
    purposes_in_force,
)
from ledger.errors import NotFound
from ledger.models import Consent
from tests.support import factories


def test_a_consent_never_amended_is_in_force_itself() -> None:
    assert latest_amendment("con_a", {}.get) == "con_a"
    assert latest_amendment("con_a", {"con_a": None}.get) == "con_a"


def test_the_latest_amendment_is_the_end_of_the_chain() -> None:
    chain = {"con_a": "con_b", "con_b": "con_c", "con_c": None}
    assert latest_amendment("con_a", chain.get) == "con_c"
    assert latest_amendment("con_b", chain.get) == "con_c"
    assert latest_amendment("con_c", chain.get) == "con_c"


def test_a_successor_the_caller_does_not_know_ends_the_chain_at_it() -> None:
    # The retention sweep's map holds only consents no longer active: the active
    # amendment at the end of a chain is not in it.
    chain = {"con_a": "con_b", "con_b": "con_c"}
    assert latest_amendment("con_a", chain.get) == "con_c"


def test_a_chain_that_comes_back_on_itself_ends_before_it_repeats() -> None:
    looped = {"con_a": "con_b", "con_b": "con_c", "con_c": "con_a"}
    assert latest_amendment("con_a", looped.get) == "con_c"
    assert latest_amendment("con_b", looped.get) == "con_a"
    assert latest_amendment("con_a", {"con_a": "con_a"}.get) == "con_a"
    tail = {"con_a": "con_b", "con_b": "con_c", "con_c": "con_b"}
    assert latest_amendment("con_a", tail.get) == "con_c"


def test_each_successor_is_asked_for_once() -> None:
    chain = {"con_a": "con_b", "con_b": "con_c", "con_c": "con_a"}
    asked: list[str] = []

    def successor(consent_id: str) -> str | None:
        asked.append(consent_id)
        return chain.get(consent_id)

    latest_amendment("con_a", successor)
    assert asked == ["con_a", "con_b", "con_c"]


def _consent(status: str, purposes: list[str], withdrawn: list[str]) -> Consent:
    terms: dict[str, Any] = {"purposes": purposes}
    return Consent(id="con_x", status=status, terms=terms, withdrawn_purposes=withdrawn)


def test_the_purposes_in_force_are_those_of_an_active_consent_not_withdrawn() -> None:
    given = ["benchmarking", "model_validation", "motion_imitation"]
    assert purposes_in_force(_consent("active", given, [])) == given
    partly = _consent("active", given, ["model_validation"])
    assert purposes_in_force(partly) == ["benchmarking", "motion_imitation"]


def test_nothing_of_a_superseded_or_withdrawn_consent_is_in_force() -> None:
    assert purposes_in_force(_consent("superseded", ["motion_imitation"], [])) == []
    assert (
        purposes_in_force(_consent("withdrawn", ["motion_imitation"], ["motion_imitation"])) == []
    )


def test_the_consent_in_force_is_the_latest_amendment_row(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    first = factories.consent(container, tenant_id)
    second = factories.amendment(container, tenant_id, first)
    third = factories.amendment(container, tenant_id, second, purposes=["benchmarking"])
    with container.db.session() as session:
        assert consent_in_force(session, first.id).id == third.id
        assert consent_in_force(session, second.id).id == third.id
        in_force = consent_in_force(session, third.id)
        assert in_force.id == third.id and in_force.terms["purposes"] == ["benchmarking"]


def test_an_amendment_that_is_not_there_ends_the_chain_before_it(container, tenant) -> None:  # type: ignore[no-untyped-def]
    first = factories.consent(container, tenant.tenant_id)
    with container.db.write() as session, session.begin():
        row = session.get(Consent, first.id)
        assert row is not None
        row.superseded_by = "con_neverrecorded"
    with container.db.session() as session:
        assert consent_in_force(session, first.id).id == first.id
        with pytest.raises(NotFound):
            consent_in_force(session, "con_neverrecorded")


def test_a_consent_family_is_every_amendment_before_and_after_it(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    first = factories.consent(container, tenant_id)
    second = factories.amendment(container, tenant_id, first)
    third = factories.amendment(container, tenant_id, second)
    unrelated = factories.consent(container, tenant_id)
    family = {first.id, second.id, third.id}
    with container.db.session() as session:
        for member in family:
            assert consent_family(session, first.worker_id, member) == family
        assert consent_family(session, first.worker_id, unrelated.id) == {unrelated.id}
        assert consent_family(session, "wkr_someoneelse", first.id) == set()


def test_a_check_weighs_the_latest_amendment_from_its_cache(container, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant_id = tenant.tenant_id
    first = factories.consent(container, tenant_id)
    clip = factories.clip(container, tenant_id, first)
    checks = container.checks
    before = checks.check(tenant_id, clip.id, "motion_imitation", "platform", None)
    assert before.decision == "allow" and before.consents == [first.id]
    second = factories.amendment(container, tenant_id, first, purposes=["benchmarking"])
    after = checks.check(tenant_id, clip.id, "motion_imitation", "platform", None)
    assert after.consents == [second.id] and after.reasons == ["purpose_not_covered"]
    again = checks.check(tenant_id, clip.id, "benchmarking", "platform", None)
    assert again.decision == "allow" and again.consents == [second.id]

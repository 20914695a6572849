"""A seeded scenario for the reports and the export: one tenant's worker with consents,
clips, a label, uses, a withdrawal, an erasure with its certificate and an open request;
another worker, and another tenant, whose data must never appear."""

from __future__ import annotations

from tests.support.platform import Api


def withdraw(api: Api, consent: str, purposes: list[str]) -> None:
    response = api.post(f"/v1/consents/{consent}/withdraw", {"purposes": purposes})
    assert response.status_code == 200, response.json


def seed(api, client, other, container, clock):  # type: ignore[no-untyped-def]
    """Worker w-123 with two consents, clips, a label, uses, a withdrawal, an erased clip
    with its certificate and an open erasure request; worker w-999 and another tenant's
    worker, also called w-123, with data of their own."""
    first = api.consent(purposes=["motion_imitation", "benchmarking"], retention="P90D")
    clips = [api.clip(first)["id"] for _ in range(3)]
    clock.advance(days=2)
    second = api.consent(purposes=["action_recognition"], retention="P30D", jurisdiction="PH")
    clips.append(api.clip(second)["id"])
    label = api.derive([clips[0]])["id"]
    first_use = clock.now()
    for _ in range(3):
        api.check(clips[0])
    clock.advance(days=1)
    api.check(clips[0])
    api.check(label, purpose="benchmarking")
    api.check(clips[3], purpose="action_recognition")
    denied = api.check(clips[1], purpose="commercial_reuse")
    assert denied["decision"] == "deny"
    clock.advance(days=1)
    withdraw(api, first, ["benchmarking"])
    erased = api.post(
        "/v1/erasure-requests", {"worker": "w-123", "scope": "item", "item": clips[2]}
    )
    assert erased.status_code == 202
    clock.advance(seconds=5)
    container.retention.sweep()
    clock.advance(seconds=5)
    container.retention.sweep()
    pending = api.post(
        "/v1/erasure-requests", {"worker": "w-123", "scope": "item", "item": clips[1]}
    )
    assert pending.status_code == 202

    other_worker = api.consent(worker="w-999")
    other_clip = api.clip(other_worker, worker="w-999")["id"]
    api.check(other_clip)
    stranger = Api(client, other, clock)
    stranger_consent = stranger.consent()
    stranger_clip = stranger.clip(stranger_consent)["id"]
    stranger.check(stranger_clip)
    clock.advance(seconds=2)  # the next checkpoint may be signed
    certificate = api.get(f"/v1/erasures/{erased.json['erasures'][0]['id']}").json
    assert certificate["certificate"] is not None
    return {
        "consents": [first, second],
        "clips": clips,
        "label": label,
        "first_use": first_use,
        "erasure": certificate["id"],
        "erased_request": erased.json["id"],
        "pending_request": pending.json["id"],
        "pending_deadline": pending.json["deadline"],
        "foreign": [other_worker, other_clip, stranger_consent, stranger_clip],
    }

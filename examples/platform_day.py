"""A platform's day with Custody, through the Python client.

Two workers agree to be recorded; their clips are registered and uploaded, and labelled;
a training run gets a signed manifest of what it may use; one worker withdraws; the
manifest's status then names the withdrawn items. The manifest and a consent receipt are
verified here, against the published keys and the log, without trusting the service.

    export CUSTODY_URL=http://127.0.0.1:8000
    export CUSTODY_API_KEY=cust_...        # a platform (or admin) key
    export CUSTODY_LOG=log_...             # the tenant's log, from `custody tenants create`
    python examples/platform_day.py
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

from custody_client import Custody, CustodyError

TERMS = {
    "purposes": ["motion_imitation", "benchmarking"],
    "data_categories": ["body_motion", "face"],
    "recipients": "platform_only",
    "retention": "P90D",
    "jurisdiction": "NG",
    "collection_method": "in_app",
    "policy_url": "https://platform.example/terms",
    "policy_version": "2026-04",
}
WORKERS = ("worker-0017", "worker-0042")  # the platform's own references


def record(custody: Custody, worker: str, consent: str) -> list[str]:
    """One recording and its label: their item ids."""
    video = os.urandom(64 * 1024)  # stands in for the MP4 the app recorded
    clip = custody.clips.register(
        content=video,
        worker=worker,
        consent=consent,
        data_categories=["body_motion", "face"],
        captured_at=datetime.now(UTC),
        device="pixel-7",
    )
    custody.clips.upload(clip["id"], video)
    labels = json.dumps({"clip": clip["id"], "pose": "squat", "reps": 12}).encode()
    label = custody.derivations.record(
        parents=[clip["id"]],
        kind="label",
        content=labels,
        activity={"type": "annotation", "agent": "labeler-7"},
    )
    return [clip["id"], label["id"]]


def day(custody: Custody) -> None:
    consents = {w: custody.consents.give(worker=w, **TERMS) for w in WORKERS}
    first = consents[WORKERS[0]]
    claims = custody.verifier.consent(first, on_log=False)
    print(f"consent {first['id']}: receipt signed for {claims['subject']}")

    items = {w: record(custody, w, consents[w]["id"]) for w in WORKERS}
    every = [item for ids in items.values() for item in ids]
    print(f"recorded {len(every)} items (a clip and its label per worker)")

    issued = custody.manifests.create(every, "motion_imitation", name="pose model, run 14")
    manifest = custody.manifests.signed(issued)  # signed once a checkpoint covers it
    print(
        f"manifest {manifest['id']}: {manifest['allowed']} allowed, "
        f"{manifest['refused']} refused, log index {manifest['log_index']}"
    )
    custody.verifier.manifest(manifest)
    print("manifest verified: signature, its log entry, checkpoint consistent with the log")
    custody.verifier.consent(first, wait=10)
    print(f"receipt of {first['id']} verified on the log")

    leaving = WORKERS[1]
    withdrawal = custody.consents.withdraw(consents[leaving]["id"])
    custody.verifier.withdrawal(withdrawal, wait=10)
    print(f"{leaving} withdrew: withdrawal receipt {withdrawal['id']} verified on the log")

    status = custody.manifests.status(manifest["id"])
    print(f"manifest {status['id']}: tainted={status['tainted']} since {status['tainted_since']}")
    for affected in status["affected"]:
        print(f"  {affected['item']}: {affected['state']} since {affected['since']}")


def main() -> int:
    try:
        url, key = os.environ["CUSTODY_URL"], os.environ["CUSTODY_API_KEY"]
    except KeyError as missing:
        print(f"set {missing.args[0]} (see the top of this file)", file=sys.stderr)
        return 2
    with Custody(url, key, log_id=os.environ.get("CUSTODY_LOG")) as custody:
        try:
            day(custody)
        except CustodyError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

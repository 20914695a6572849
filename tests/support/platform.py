"""A platform's calls over HTTP, with its key: the helper the functional tests share."""

from __future__ import annotations

import hashlib
import os

from ledger.clock import format_ts
from tests.support.http import MINIMAL, auth


class Api:
    """A platform's calls, with its key."""

    def __init__(self, client, tenant, clock):  # type: ignore[no-untyped-def]
        self.client, self.tenant, self.clock = client, tenant, clock
        self.headers = auth(tenant.api_key.token)

    def post(self, path, body):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers)

    def consent(self, **changes):  # type: ignore[no-untyped-def]
        response = self.post("/v1/consents", {**MINIMAL, **changes})
        assert response.status_code == 201, response.json
        return response.json["id"]

    def clip(self, consent, content=None, expect=201, **changes):  # type: ignore[no-untyped-def]
        content = content if content is not None else os.urandom(64)
        body = {
            "sha256": hashlib.sha256(content).hexdigest(),
            "worker": "w-123",
            "consent": consent,
            "data_categories": ["body_motion", "face"],
            "captured_at": format_ts(self.clock.now()),
            **changes,
        }
        response = self.post("/v1/clips", body)
        assert response.status_code == expect, response.json
        return response.json

    def derive(self, parents, content=None, kind="label", expect=201, **changes):  # type: ignore[no-untyped-def]
        body = {
            "parents": parents,
            "kind": kind,
            "sha256": hashlib.sha256(content or os.urandom(32)).hexdigest(),
            "activity": {"type": "annotation", "agent": "labeler-7"},
            **changes,
        }
        response = self.post("/v1/derivations", body)
        assert response.status_code == expect, response.json
        return response.json

    def check(self, item, purpose="motion_imitation", recipient="platform"):  # type: ignore[no-untyped-def]
        response = self.post(
            "/v1/checks", {"item": item, "purpose": purpose, "recipient": recipient}
        )
        assert response.status_code == 200, response.json
        return response.json

    def size(self) -> int:
        return self.get(f"/v1/logs/{self.tenant.log_id}").json["tree_size"]

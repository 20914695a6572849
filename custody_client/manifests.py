"""Training-set manifests: a signed statement of which items a training run may use."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from custody_client.errors import CustodyError
from custody_client.pages import Page, page
from custody_client.resource import Resource, given, seg
from custody_client.types import Manifest, ManifestStatus, ManifestSummary


class Manifests(Resource):
    def create(
        self,
        items: Sequence[str],
        purpose: str,
        recipient: str = "platform",
        *,
        name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Manifest:
        """Check every item (ids or content SHA-256) for one purpose and recipient and get a
        signed manifest of those allowed, with the refused ones and their reasons."""
        body = given(items=list(items), purpose=purpose, recipient=recipient, name=name)
        answer = self._t.json("POST", "/v1/manifests", body=body, idempotency_key=idempotency_key)
        return cast(Manifest, answer)

    def get(self, manifest: str) -> Manifest:
        return cast(Manifest, self._t.json("GET", f"/v1/manifests/{seg(manifest)}"))

    def signed(self, manifest: str | Manifest, *, wait: float = 10.0) -> Manifest:
        """The manifest with its signed form: the service signs it once a checkpoint covers
        its entry (a second or two after issuing); asks again for up to `wait` seconds."""
        current = manifest if not isinstance(manifest, str) else self.get(manifest)
        until = time.monotonic() + wait
        while current["manifest"] is None and not current["erased_items"]:
            if time.monotonic() >= until:
                raise CustodyError(f"manifest {current['id']} is not signed yet; ask again later")
            time.sleep(0.5)
            current = self.get(current["id"])
        return current

    def list(self, *, after: str | None = None, limit: int | None = None) -> Page[ManifestSummary]:
        answer = self._t.json("GET", "/v1/manifests", params={"after": after, "limit": limit})
        return page(answer, "manifests")

    def status(self, manifest: str) -> ManifestStatus:
        """Whether anything in the manifest has since been withdrawn, erased, expired or is
        no longer covered, and since when."""
        path = f"/v1/manifests/{seg(manifest)}/status"
        return cast(ManifestStatus, self._t.json("GET", path))

"""The last verified checkpoint of each log: what a later checkpoint must be consistent with.

In memory by default; given a path, kept in a JSON file (written atomically) so that a
platform's next run still refuses a log that went backwards or forked since this one.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature verified against the key document."""

    log: str
    origin: str
    size: int
    root: bytes
    note: str


class CheckpointMemory:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._seen: dict[str, VerifiedCheckpoint] = {}
        if self.path is not None and self.path.exists():
            for log, saved in json.loads(self.path.read_text()).items():
                root = base64.b64decode(saved["root_hash"])
                self._seen[log] = VerifiedCheckpoint(
                    log, saved["origin"], int(saved["tree_size"]), root, saved["note"]
                )

    def get(self, log: str) -> VerifiedCheckpoint | None:
        with self._lock:
            return self._seen.get(log)

    def put(self, checkpoint: VerifiedCheckpoint) -> None:
        with self._lock:
            self._seen[checkpoint.log] = checkpoint
            if self.path is not None:
                self._save()

    def _save(self) -> None:
        assert self.path is not None
        document = {
            log: {
                "origin": c.origin,
                "tree_size": c.size,
                "root_hash": base64.b64encode(c.root).decode(),
                "note": c.note,
            }
            for log, c in self._seen.items()
        }
        handle = tempfile.NamedTemporaryFile(
            "w", dir=self.path.parent, prefix=f".{self.path.name}.", delete=False
        )
        try:
            with handle:
                json.dump(document, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, self.path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise

"""What a load run leaves behind for the audit: one JSON object a line, in two files.

`acked.jsonl` holds every write the service acknowledged (a 2xx answer): its kind, the ids
the answer named, the tenant (its id, or `#n` for the n-th key when the id is not known), the
log index, and the driver's wall-clock time of the answer (`at`, seconds since the epoch).
Operations that ended without an answer that settles them are there too, as `unsettled`:
the service may or may not have carried them out, and the audit allows for that.

`checks.jsonl` holds every use check answered: item, purpose, decision, reasons, log index,
`sent` (when its first attempt left) and `at` (when the answer came).

No API key, worker reference or content is written: ids, pseudonyms and hashes only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

ACKED = "acked.jsonl"
CHECKS = "checks.jsonl"


class Records:
    """The two files of a run, appended from many threads."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._acked: TextIO = open(self.folder / ACKED, "a", encoding="utf-8")
        self._checks: TextIO = open(self.folder / CHECKS, "a", encoding="utf-8")

    def acked(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._acked.write(line)

    def check(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._checks.write(line)

    def flush(self) -> None:
        with self._lock:
            self._acked.flush()
            self._checks.flush()

    def close(self) -> None:
        with self._lock:
            self._acked.close()
            self._checks.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one file; a last line cut short (a killed driver) is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                if line.endswith("\n"):
                    raise

"""Request bodies that can be sent again: a retry must send the same bytes from the start.

Bytes and files named by path can always be sent again; an open binary file can when it
seeks (it is put back where it was); a plain iterator of chunks is sent once, so a request
streaming one is not retried after it started.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 16
Content = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | Iterable[bytes]


class Body:
    """One request body, opened afresh for every attempt."""

    def __init__(self, content: Content) -> None:
        self._content = content
        self._start: int | None = None
        self._sent = False
        if isinstance(content, io.IOBase) and content.seekable():
            self._start = content.tell()

    @property
    def rewindable(self) -> bool:
        content = self._content
        one_shot = not isinstance(content, (bytes, bytearray, memoryview, str, os.PathLike))
        return not (one_shot and self._start is None and self._sent)

    def open(self) -> tuple[Iterable[bytes] | bytes, int | None]:
        """The content for one attempt and its length when known (else it is chunked)."""
        content = self._content
        self._sent = True
        if isinstance(content, (bytes, bytearray, memoryview)):
            return bytes(content), len(content)
        if isinstance(content, (str, os.PathLike)):
            path = Path(content)
            return _read_path(path), path.stat().st_size
        if isinstance(content, io.IOBase):
            size = None
            if self._start is not None:
                content.seek(self._start)
                size = content.seek(0, os.SEEK_END) - self._start
                content.seek(self._start)
            return _read_file(content), size  # type: ignore[arg-type]
        return iter(content), None


def _read_path(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from _read_file(handle)


def _read_file(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def sha256_of(content: bytes | str | os.PathLike[str] | BinaryIO) -> str:
    """SHA-256 (hex) of bytes, of a file named by path, or of an open binary file read from
    where it stands to its end (it is put back)."""
    digest = hashlib.sha256()
    if isinstance(content, (bytes, bytearray, memoryview)):
        digest.update(content)
        return digest.hexdigest()
    if isinstance(content, (str, os.PathLike)):
        with Path(content).open("rb") as handle:
            for chunk in _read_file(handle):
                digest.update(chunk)
        return digest.hexdigest()
    start = content.tell()
    for chunk in _read_file(content):
        digest.update(chunk)
    content.seek(start)
    return digest.hexdigest()

"""Receiving a file (clip bytes, a report, an export) in chunks, checked against the
`Repr-Digest` the service sends. A file named by path appears only when complete and
matching: the bytes go to a temporary file beside it, renamed into place at the end."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import httpx

from custody_client.errors import ConnectionFailed, VerificationError

_SHA256 = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")
Destination = str | os.PathLike[str] | BinaryIO | None


@dataclass(frozen=True)
class Download:
    """What was received. `content` is the bytes when no destination was given."""

    size: int
    sha256: str  # hex, of the bytes received (and equal to the service's Repr-Digest)
    content: bytes | None = None
    path: Path | None = None
    log_index: int | None = None  # the log entry recording this release or report
    report_id: str | None = None


def receive(response: httpx.Response, to: Destination) -> Download:
    expected = _expected_digest(response)
    index = response.headers.get("X-Custody-Log-Index") or response.headers.get("Custody-Log-Index")
    report = response.headers.get("Custody-Report-Id")
    if to is None:
        buffer = io.BytesIO()
        size, digest = _copy(response, buffer, expected)
        return Download(size, digest, buffer.getvalue(), None, _int(index), report)
    if isinstance(to, (str, os.PathLike)):
        path = Path(to)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
        try:
            with handle:
                size, digest = _copy(response, handle.file, expected)
                handle.flush()
                os.fsync(handle.file.fileno())
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return Download(size, digest, None, path, _int(index), report)
    size, digest = _copy(response, to, expected)
    return Download(size, digest, None, None, _int(index), report)


def _copy(response: httpx.Response, out: IO[bytes], expected: bytes | None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in response.iter_bytes(1 << 16):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    except httpx.TransportError as exc:
        raise ConnectionFailed(f"the download broke off after {size} bytes") from exc
    if expected is not None and digest.digest() != expected:
        raise VerificationError("the bytes received do not match the service's Repr-Digest")
    return size, digest.hexdigest()


def _expected_digest(response: httpx.Response) -> bytes | None:
    found = _SHA256.search(response.headers.get("Repr-Digest", ""))
    return base64.b64decode(found[1]) if found else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None

"""Random identifiers: a short type prefix and 80 random bits, lowercase base32."""

from __future__ import annotations

import base64
import secrets


def random_token(nbytes: int = 10) -> str:
    return base64.b32encode(secrets.token_bytes(nbytes)).decode().rstrip("=").lower()


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_token()}"

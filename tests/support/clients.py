"""Helpers for the client's tests: a consent's fields, and signing a checkpoint now."""

from __future__ import annotations

from typing import Any

from ledger.log.appender import checkpoint_due
from tests.support.http import MINIMAL

CONSENT: dict[str, Any] = dict(MINIMAL)


def sign_checkpoint(container: Any) -> None:
    """Let two seconds pass and sign a checkpoint over everything appended so far."""
    container.clock.advance(seconds=2)
    checkpoint_due(container.appender)

"""Typed configuration, read from CUSTODY_* environment variables in one place."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import isodate
import limits


class ConfigError(ValueError):
    pass


def _rate_limit(raw: str | None) -> str:
    """CUSTODY_RATE_LIMIT: a `limits` expression, or `off`."""
    raw = (raw or "").strip()
    return "" if raw.lower() == "off" else raw or "6000 per minute"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("custody-data")
    database_url: str = ""
    origin: str = "custody.local"
    keys_dir: Path | None = None
    max_body_bytes: int = 1024 * 1024
    max_clip_bytes: int = 16 * 1024**3
    key_overlap: timedelta = field(default=timedelta(days=7))
    checkpoint_seconds: float = 1.0
    log_level: str = "INFO"
    master_key: str = field(default="", repr=False)  # base64 of 32 bytes; else a key file
    vault_dir: Path | None = None
    s3_bucket: str = ""  # set: the vault is on S3-compatible storage, not in vault_dir
    s3_endpoint_url: str = ""
    s3_prefix: str = ""
    s3_region: str = ""
    erasure_deadline: str = "P1M"  # ISO 8601 duration: GDPR's one month
    confirm_copies_days: float = 7.0  # platforms confirm deleting their copies within
    sweep_seconds: float = 60.0
    redaction_lease_seconds: float = 300.0  # a runner that goes silent this long lost its job
    public_url: str = ""  # where workers reach this service; else the request's own address
    worker_session_seconds: float = 3600.0
    secure_cookies: bool = True  # browsers keep Secure cookies over http on 127.0.0.1 too
    rate_limit_storage: str = "memory://"  # per process; redis://... shares it across several
    rate_limit: str = "6000 per minute"  # per API key or worker token; "off" turns it off

    def __post_init__(self) -> None:
        try:
            deadline = isodate.parse_duration(self.erasure_deadline)
        except (isodate.ISO8601Error, ValueError):
            deadline = None
        if deadline is None or isinstance(deadline, timedelta) and deadline <= timedelta(0):
            raise ConfigError("CUSTODY_ERASURE_DEADLINE must be an ISO 8601 duration, e.g. P1M")
        if min(self.sweep_seconds, self.confirm_copies_days, self.redaction_lease_seconds) <= 0:
            raise ConfigError(
                "CUSTODY_SWEEP_SECONDS, CUSTODY_CONFIRM_COPIES_DAYS and "
                "CUSTODY_REDACTION_LEASE_SECONDS must be > 0"
            )
        if self.rate_limit:
            try:
                limits.parse(self.rate_limit)
            except ValueError:
                raise ConfigError(
                    "CUSTODY_RATE_LIMIT must read like '6000 per minute' or '100/second'"
                ) from None
        if self.worker_session_seconds < 60:
            raise ConfigError("CUSTODY_WORKER_SESSION_SECONDS must be at least 60")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ConfigError(
                "CUSTODY_PUBLIC_URL must be an http(s) URL, e.g. https://custody.example"
            )
        if self.master_key:
            try:
                key = base64.b64decode(self.master_key, validate=True)
            except ValueError:
                key = b""
            if len(key) != 32:
                raise ConfigError("CUSTODY_MASTER_KEY must be 32 bytes, base64-encoded")
        if not re.fullmatch(r"[A-Za-z0-9.\-:]{1,100}(/[A-Za-z0-9.\-_]+)*", self.origin):
            raise ConfigError("CUSTODY_ORIGIN must look like a host name, e.g. custody.example.org")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'custody.db').resolve()}"

    @property
    def vault_folder(self) -> Path:
        return self.vault_dir or self.data_dir / "vault"

    @property
    def key_folder(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"CUSTODY_{name}")
            return value if value else None

        def number(name: str, default: float) -> float:
            raw = get(name)
            try:
                return float(raw) if raw is not None else default
            except ValueError:
                raise ConfigError(f"CUSTODY_{name} must be a number, not {raw!r}") from None

        return cls(
            data_dir=Path(get("DATA_DIR") or "custody-data"),
            database_url=get("DATABASE_URL") or "",
            origin=get("ORIGIN") or "custody.local",
            keys_dir=Path(k) if (k := get("KEYS_DIR")) else None,
            max_body_bytes=int(number("MAX_BODY_BYTES", 1024 * 1024)),
            max_clip_bytes=int(number("MAX_CLIP_BYTES", 16 * 1024**3)),
            key_overlap=timedelta(days=number("KEY_OVERLAP_DAYS", 7)),
            checkpoint_seconds=number("CHECKPOINT_SECONDS", 1.0),
            log_level=get("LOG_LEVEL") or "INFO",
            master_key=get("MASTER_KEY") or "",
            vault_dir=Path(v) if (v := get("VAULT_DIR")) else None,
            s3_bucket=get("S3_BUCKET") or "",
            s3_endpoint_url=get("S3_ENDPOINT_URL") or "",
            s3_prefix=get("S3_PREFIX") or "",
            s3_region=get("S3_REGION") or "",
            erasure_deadline=get("ERASURE_DEADLINE") or "P1M",
            confirm_copies_days=number("CONFIRM_COPIES_DAYS", 7.0),
            sweep_seconds=number("SWEEP_SECONDS", 60.0),
            redaction_lease_seconds=number("REDACTION_LEASE_SECONDS", 300.0),
            public_url=(get("PUBLIC_URL") or "").rstrip("/"),
            worker_session_seconds=number("WORKER_SESSION_SECONDS", 3600.0),
            secure_cookies=(get("SECURE_COOKIES") or "true").lower() not in ("0", "false", "no"),
            rate_limit_storage=get("RATE_LIMIT_STORAGE") or "memory://",
            rate_limit=_rate_limit(get("RATE_LIMIT")),
        )

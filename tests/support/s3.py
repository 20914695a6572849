"""A real S3-compatible HTTP server for tests: moto in server mode, in its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3

CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def moto_server() -> Iterator[str]:
    """Start moto's server on a free port; yield its endpoint URL; stop it afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)


def vault_settings(tmp_path: Any, db_url: str, request: Any, monkeypatch: Any) -> Any:
    """Settings for the retention tests: SQLite keeps the vault in a local folder,
    PostgreSQL keeps it on the real S3 server (a bucket per test)."""
    from dataclasses import replace

    from api.settings import Settings

    local = Settings(data_dir=tmp_path / "data", database_url=db_url)
    if not db_url.startswith("postgresql"):
        return local
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=bucket)
    return replace(local, s3_bucket=bucket, s3_endpoint_url=endpoint, s3_prefix="vault")

"""The vault on S3-compatible object storage (boto3), for several service processes.

Objects are written by multipart upload in parts of `PART` bytes, so memory stays bounded
whatever the clip's size, and appear only when the upload completes: an upload that fails,
or whose content does not hash as registered, is aborted and leaves nothing behind.
Unreachable or failing storage is a VaultError, never a half-written object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ledger.errors import VaultError

PART = 8 * 1024 * 1024  # S3 parts are at least 5 MiB, except the last
READ = 256 * 1024


class S3Backend:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=15
            ),
        )

    def _key(self, name: str) -> str:
        return self.prefix + name

    def put(self, name: str, chunks: Iterator[bytes]) -> None:
        key = self._key(name)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= PART:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=key
                        )["UploadId"]
                    parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
                return
            if buffer or not parts:
                parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                except (BotoCoreError, ClientError):
                    pass  # the bucket's lifecycle rule for stale uploads is the backstop
            if isinstance(exc, BotoCoreError | ClientError):
                raise VaultError(f"object storage failed writing {name}: {exc}") from exc
            raise

    def _part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        done = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": done["ETag"]}

    def get(self, name: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise VaultError(f"object {name} is not in the vault") from None
            raise VaultError(f"object storage failed reading {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise VaultError(f"object storage failed reading {name}: {exc}") from exc
        try:
            yield from body.iter_chunks(READ)
        except (BotoCoreError, ClientError) as exc:
            raise VaultError(f"object storage failed reading {name}: {exc}") from exc
        finally:
            body.close()

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except (BotoCoreError, ClientError) as exc:
            raise VaultError(f"object storage failed deleting {name}: {exc}") from exc

    def delete_many(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = [{"Key": self._key(name)} for name in names[start : start + 1000]]
            try:
                done = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (BotoCoreError, ClientError) as exc:
                raise VaultError(
                    f"object storage failed deleting {len(batch)} objects: {exc}"
                ) from exc
            failed = done.get("Errors") or []
            if failed:
                first = failed[0]
                raise VaultError(
                    f"object storage kept {len(failed)} objects, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise VaultError(f"object storage failed: {exc}") from exc
        except BotoCoreError as exc:
            raise VaultError(f"object storage failed: {exc}") from exc
        return True

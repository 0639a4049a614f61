"""Spec store in an S3 bucket (AWS, or MinIO / LocalStack / moto through ``endpoint_url``).

Credentials come from the standard AWS chain (env, ``AWS_PROFILE``, instance role, …);
basecamp never stores them. Every botocore failure is turned into a ``SpecStoreError``
whose message names the bucket and prefix and says what to check, because the daemon
shows it to the user as is.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from daemon.core.errors import SpecStoreError
from daemon.spec_store.base import (
    InvalidSpecKey,
    SpecObjectMissing,
    SpecStore,
    StoredObject,
    validate_key,
)

log = logging.getLogger(__name__)

_CREDENTIALS_HINT = "check credentials (AWS_PROFILE / AWS_ACCESS_KEY_ID)"
_REJECTED_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}
_ACCESS_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "301"}


class S3SpecStore(SpecStore):
    """Objects under ``s3://bucket/prefix/``; keys are relative to the prefix.

    ``client`` is the boto3 S3 client, public so a benchmark can count requests with a
    ``before-send`` event hook. It is thread-safe and its connection pool is sized for
    the sync engine's reader threads.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "workflows",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        page_size: int = 1000,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_pool_connections: int = 32,
    ) -> None:
        """``page_size`` is ListObjectsV2's MaxKeys (S3 caps it at 1000); ``max_attempts``
        counts the first try, retries use botocore's "standard" mode (transient errors only).
        """
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.page_size = page_size
        self.description = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._key_prefix = self.prefix + "/" if self.prefix else ""
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
            # S3-compatible servers rarely have wildcard DNS for virtual-hosted buckets.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        try:
            session = boto3.session.Session(region_name=region or None)
            self.client: BaseClient = session.client(
                "s3", endpoint_url=endpoint_url or None, config=config
            )
        except ProfileNotFound as exc:
            where = f"cannot open spec store {self.description}"
            raise SpecStoreError(f"{where}: {exc}: fix AWS_PROFILE") from exc
        except (BotoCoreError, ValueError) as exc:
            where = f"cannot open spec store {self.description}"
            hint = "check [storage] endpoint_url and region"
            raise SpecStoreError(f"{where}: {exc}: {hint}") from exc

    def list(self) -> list[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self._key_prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        objects: list[StoredObject] = []
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    obj = self._stored(item)
                    if obj is not None:
                        objects.append(obj)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "list") from exc
        objects.sort(key=lambda obj: obj.key)
        return objects

    def read(self, key: str) -> bytes:
        full_key = self._full_key(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise SpecObjectMissing(f"{key} is not in spec store {self.description}") from exc
            raise self._error(exc, f"read {key} from") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"read {key} from") from exc

    def write(self, key: str, data: bytes) -> StoredObject:
        """PutObject; ``last_modified`` is the local clock (S3 does not return it on PUT)."""
        full_key = self._full_key(key)
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=full_key, Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"write {key} to") from exc
        return StoredObject(
            key=key,
            size=len(data),
            version=response["ETag"].strip('"'),
            last_modified=datetime.now(timezone.utc),
        )

    def delete(self, key: str) -> None:
        full_key = self._full_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"delete {key} from") from exc

    def _full_key(self, key: str) -> str:
        return self._key_prefix + validate_key(key)

    def _stored(self, item: dict[str, Any]) -> StoredObject | None:
        """The listed object, or None for folder markers and keys basecamp cannot address."""
        key = item["Key"][len(self._key_prefix) :]
        if not key or key.endswith("/"):
            return None
        try:
            validate_key(key)
        except InvalidSpecKey as exc:
            log.warning("spec store %s: skipping an object: %s", self.description, exc)
            return None
        return StoredObject(
            key=key,
            size=item["Size"],
            version=item["ETag"].strip('"'),
            last_modified=item["LastModified"].astimezone(timezone.utc),
        )

    def _error(self, exc: BotoCoreError | ClientError, doing: str) -> SpecStoreError:
        """A ``SpecStoreError`` that says what failed and what the user should check."""
        where = f"cannot {doing} spec store {self.description}"
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            detail = exc.response.get("Error", {}).get("Message") or code
            if code == "NoSuchBucket":
                hint = f"bucket {self.bucket!r} does not exist: create it or fix [storage] bucket"
            elif code in _REJECTED_CREDENTIALS:
                hint = f"the credentials were rejected ({code}): {_CREDENTIALS_HINT}"
            elif code in _ACCESS_DENIED:
                hint = f"access denied ({detail}): {_CREDENTIALS_HINT} and the IAM/bucket policy"
            elif code in _WRONG_REGION:
                hint = f"the bucket is in another region ({detail}): set [storage] region"
            else:
                hint = f"{code}: {detail}"
            return SpecStoreError(f"{where}: {hint}")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
            return SpecStoreError(f"{where}: {exc}: {_CREDENTIALS_HINT}")
        endpoint = self.client.meta.endpoint_url
        if isinstance(exc, BotoConnectionError):
            return SpecStoreError(
                f"{where}: cannot reach endpoint {endpoint} ({exc}): "
                "check [storage] endpoint_url and the network"
            )
        if isinstance(exc, ReadTimeoutError):
            return SpecStoreError(f"{where}: {endpoint} did not answer in time: check the network")
        return SpecStoreError(f"{where}: {exc}")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

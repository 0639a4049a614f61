"""Spec store backends behind one small interface (``SpecStore``).

``open_spec_store`` builds the backend the ``[storage]`` config section asks for;
``spec_store_for`` does the same for the daemon and ``basecamp config check``, creating
the embedded default folder first. The sync engine sees only ``SpecStore``.
``MemorySpecStore`` is for tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from daemon.core.errors import ConfigError
from daemon.core.paths import default_spec_dir
from daemon.core.states import SourceType
from daemon.spec_store.base import (
    InvalidSpecKey,
    SpecObjectMissing,
    SpecStore,
    StoredObject,
    validate_key,
)
from daemon.spec_store.local import LocalSpecStore
from daemon.spec_store.memory import MemorySpecStore
from daemon.spec_store.s3 import S3SpecStore

__all__ = [
    "InvalidSpecKey",
    "LocalSpecStore",
    "MemorySpecStore",
    "S3SpecStore",
    "SpecObjectMissing",
    "SpecStore",
    "StorageConfigLike",
    "StoredObject",
    "open_spec_store",
    "spec_store_for",
    "validate_key",
]


class StorageConfigLike(Protocol):
    """What ``open_spec_store`` reads from the ``[storage]`` config section (read-only)."""

    @property
    def type(self) -> str: ...
    @property
    def path(self) -> str | os.PathLike[str] | None: ...
    @property
    def bucket(self) -> str | None: ...
    @property
    def prefix(self) -> str: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...


def open_spec_store(storage: StorageConfigLike) -> SpecStore:
    """The spec store ``[storage]`` describes; an empty local ``path`` means the default."""
    if storage.type == "local":
        return LocalSpecStore(storage.path or default_spec_dir())
    if storage.type == "s3":
        if not storage.bucket:
            raise ConfigError("[storage] bucket is required when type = \"s3\"")
        return S3SpecStore(
            storage.bucket,
            storage.prefix,
            endpoint_url=storage.endpoint_url or None,
            region=storage.region or None,
        )
    raise ConfigError(f"[storage] type must be \"local\" or \"s3\", not {storage.type!r}")


def spec_store_for(storage: StorageConfigLike) -> SpecStore:
    """The spec store ``[storage]`` describes, for its users (the daemon, ``config check``).

    The embedded default folder (an empty or default local ``path``) is created with its
    ``code/`` and ``manual/`` subfolders on first use, so a fresh install works without
    setup; a configured folder that is missing stays an error: it is probably a typo.
    """
    if storage.type == "local":
        default = default_spec_dir().absolute()
        root = Path(storage.path or default).absolute()
        if root == default:
            for source in SourceType:
                (root / source).mkdir(parents=True, exist_ok=True)
    return open_spec_store(storage)

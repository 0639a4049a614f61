"""In-memory spec store for tests of the sync algorithm.

Failures are injected by setting attributes (``fail_list``, ``fail_read``, ``fail_write``)
and the ``list_calls`` / ``read_calls`` counters show how much work a sync did, e.g. that
an unchanged object was not read again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from daemon.core.errors import SpecStoreError
from daemon.spec_store.base import (
    SpecObjectMissing,
    SpecStore,
    StoredObject,
    validate_key,
)

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


class MemorySpecStore(SpecStore):
    """A dict of key → bytes with S3-like semantics and a deterministic clock.

    Every write gets the next version number ("1", "2", …) and a ``last_modified`` one
    second after the previous write, so tests do not depend on the wall clock.
    """

    def __init__(
        self, objects: Mapping[str, bytes] | None = None, description: str = "memory://specs"
    ) -> None:
        self.description = description
        self.fail_list = False
        """When true, ``list()`` raises ``SpecStoreError``."""
        self.fail_read: set[str] = set()
        """Keys whose ``read()`` raises ``SpecStoreError``."""
        self.fail_write: set[str] = set()
        """Keys whose ``write()`` and ``delete()`` raise ``SpecStoreError``."""
        self.list_calls = 0
        self.read_calls = 0
        self._lock = threading.Lock()
        self._data: dict[str, bytes] = {}
        self._meta: dict[str, StoredObject] = {}
        self._writes = 0
        for key, data in (objects or {}).items():
            self.write(key, data)

    def list(self) -> list[StoredObject]:
        with self._lock:
            self.list_calls += 1
            if self.fail_list:
                raise SpecStoreError(f"listing {self.description} failed (injected)")
            return [self._meta[key] for key in sorted(self._meta)]

    def read(self, key: str) -> bytes:
        validate_key(key)
        with self._lock:
            self.read_calls += 1
            if key in self.fail_read:
                raise SpecStoreError(f"reading {key} from {self.description} failed (injected)")
            try:
                return self._data[key]
            except KeyError:
                raise SpecObjectMissing(f"{key} is not in {self.description}") from None

    def write(self, key: str, data: bytes) -> StoredObject:
        validate_key(key)
        with self._lock:
            if key in self.fail_write:
                raise SpecStoreError(f"writing {key} to {self.description} failed (injected)")
            self._writes += 1
            obj = StoredObject(
                key=key,
                size=len(data),
                version=str(self._writes),
                last_modified=_EPOCH + timedelta(seconds=self._writes),
            )
            self._data[key] = bytes(data)
            self._meta[key] = obj
            return obj

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            if key in self.fail_write:
                raise SpecStoreError(f"deleting {key} from {self.description} failed (injected)")
            self._data.pop(key, None)
            self._meta.pop(key, None)

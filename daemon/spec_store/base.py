"""The interface every spec store backend implements, and the key rules they share.

A spec store is a flat namespace of keys ("code/team/a.yaml") under one root. The sync
engine concludes deletions from ``list()``, so a backend either returns the complete
listing or raises ``SpecStoreError``: a partial listing would look like deleted specs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from daemon.core.errors import SpecStoreError, UserError


class SpecObjectMissing(SpecStoreError):
    """The key is not in the store (e.g. deleted between ``list()`` and ``read()``)."""


class InvalidSpecKey(UserError, ValueError):
    """A key that could escape the store root or is not portable between backends.

    Not a ``SpecStoreError``: retrying cannot fix it, the caller built a wrong key.
    """


@dataclass(frozen=True)
class StoredObject:
    """One object in the store as listed: enough to tell whether it changed."""

    key: str
    """Relative to the store root, "/"-separated, e.g. ``code/team/a.yaml``."""
    size: int
    version: str
    """Opaque; changes when the content changes (S3 ETag, or ``mtime_ns-size`` locally)."""
    last_modified: datetime
    """Timezone-aware, UTC."""


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise ``InvalidSpecKey``.

    Rejected: empty keys, absolute paths, backslashes, NUL, empty / "." / ".." segments
    and names that are not valid UTF-8 (S3 keys are UTF-8; local file names may not be).
    """
    if not key:
        raise InvalidSpecKey("spec store key is empty")
    if key.startswith("/"):
        raise InvalidSpecKey(f"spec store key {key!r} is absolute; keys are relative to the root")
    if "\\" in key or "\x00" in key:
        raise InvalidSpecKey(f"spec store key {key!r} contains a backslash or NUL")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidSpecKey(f"spec store key {key!r} has an empty, '.' or '..' segment")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSpecKey(f"spec store key {key!r} is not valid UTF-8") from None
    return key


class SpecStore(ABC):
    """A folder of spec files: listed completely, read, written and deleted by key.

    Implementations are safe to call from several threads at once (the sync engine
    reads objects from a thread pool).
    """

    description: str
    """Where the store is, for messages: ``s3://bucket/workflows`` or a folder path."""

    @abstractmethod
    def list(self) -> list[StoredObject]:
        """Every object under the root, sorted by key; complete or ``SpecStoreError``."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The object's content; ``SpecObjectMissing`` if it is gone."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> StoredObject:
        """Create or replace the object (readers see the old or the new content, whole)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (as in S3)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

"""Spec store on a local folder: the embedded default, or a shared mount.

Keys map to paths under the root. Symlinks are followed only while they stay inside the
root, so a link cannot make basecamp read or write files elsewhere on the machine.
Dotfiles and editor backups (``name~``) are not specs and are never listed; that also
hides the ``.name.xxxx.tmp`` files a concurrent ``write()`` leaves for a moment.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

from daemon.core.errors import SpecStoreError
from daemon.spec_store.base import (
    InvalidSpecKey,
    SpecObjectMissing,
    SpecStore,
    StoredObject,
    validate_key,
)

log = logging.getLogger(__name__)


class LocalSpecStore(SpecStore):
    """A folder whose files (recursively) are the store's objects."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.description = str(self.root)

    def list(self) -> list[StoredObject]:
        real_root = self._real_root()
        objects: list[StoredObject] = []
        self._scan(str(self.root), "", real_root, real_root, frozenset({real_root}), objects)
        objects.sort(key=lambda obj: obj.key)
        return objects

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            if not _is_within(os.path.realpath(path), self._real_root()):
                raise SpecObjectMissing(f"{key} in spec store {self.root} leads outside the root")
            with open(path, "rb") as file:
                return file.read()
        except FileNotFoundError:
            self._real_root()  # a vanished root is reported as such, not as a missing key
            raise SpecObjectMissing(f"{key} is not in spec store {self.root}") from None
        except OSError as exc:
            raise self._error(f"read {key} from", exc) from exc

    def write(self, key: str, data: bytes) -> StoredObject:
        """Write through a temp file in the target folder and ``os.replace`` it into place.

        The mtime is stamped explicitly and always moves forward, so the version changes
        on every write even where the filesystem clock is coarser than two quick writes.
        """
        path = self._path(key)
        real_root = self._real_root()  # never recreate a root that is unmounted or mistyped
        parent, name = os.path.split(path)
        try:
            os.makedirs(parent, exist_ok=True)
            if not _is_within(os.path.realpath(parent), real_root):
                raise self._error(f"write {key} to", "its folder leads outside the root")
            try:
                previous_mtime_ns = os.stat(path).st_mtime_ns
            except FileNotFoundError:
                previous_mtime_ns = 0
            mtime_ns = max(time.time_ns(), previous_mtime_ns + 1)
            tmp = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")
            # os.open with 0o666 (not mkstemp's 0o600) so the umask decides, as for any file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
                os.replace(tmp, path)
            except BaseException:
                _remove_quietly(tmp)
                raise
            return _stored(key, os.stat(path))
        except OSError as exc:
            raise self._error(f"write {key} to", exc) from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        real_root = self._real_root()
        try:
            if not _is_within(os.path.realpath(os.path.dirname(path)), real_root):
                raise self._error(f"delete {key} from", "its folder leads outside the root")
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error(f"delete {key} from", exc) from exc

    def _error(self, doing: str, reason: OSError | str) -> SpecStoreError:
        if isinstance(reason, OSError):
            reason = reason.strerror or str(reason)
        return SpecStoreError(f"cannot {doing} spec store {self.root}: {reason}")

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *validate_key(key).split("/"))

    def _real_root(self) -> str:
        """The root with symlinks resolved; raises if it is not an existing folder."""
        try:
            mode = os.stat(self.root).st_mode
        except FileNotFoundError:
            raise SpecStoreError(
                f"spec store folder {self.root} does not exist: "
                "create it or fix [storage] path in the config"
            ) from None
        except OSError as exc:
            raise self._error("access", exc) from exc
        if not stat.S_ISDIR(mode):
            raise self._error("use", "it is not a folder: fix [storage] path in the config")
        return os.path.realpath(self.root)

    def _scan(
        self,
        path: str,
        key_prefix: str,
        real_path: str,
        real_root: str,
        ancestors: frozenset[str],
        out: list[StoredObject],
    ) -> None:
        """Append the files under ``path`` to ``out``; any error but a vanished entry raises.

        ``ancestors`` holds the real paths of the folders being scanned, so a symlink back
        to one of them is skipped instead of recursing forever.
        """
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except FileNotFoundError:
            return  # removed while we listed: its files are really gone
        except OSError as exc:
            raise self._error(f"list {path} in", exc) from exc
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith("~"):
                continue
            key = key_prefix + entry.name
            try:
                if entry.is_symlink():
                    entry_real = os.path.realpath(entry.path)
                    if not _is_within(entry_real, real_root):
                        log.warning("spec store %s: skipping %s: leads outside", self.root, key)
                        continue
                else:
                    entry_real = os.path.join(real_path, entry.name)
                if entry.is_dir():
                    if entry_real in ancestors:
                        log.warning("spec store %s: skipping %s, a symlink loop", self.root, key)
                        continue
                    inner = ancestors | {entry_real}
                    self._scan(entry.path, key + "/", entry_real, real_root, inner, out)
                elif entry.is_file():
                    validate_key(key)
                    out.append(_stored(key, entry.stat()))
            except FileNotFoundError:
                continue
            except InvalidSpecKey as exc:
                log.warning("spec store %s: skipping a file: %s", self.root, exc)
            except OSError as exc:
                raise self._error(f"list {key} in", exc) from exc


def _stored(key: str, st: os.stat_result) -> StoredObject:
    return StoredObject(
        key=key,
        size=st.st_size,
        version=f"{st.st_mtime_ns}-{st.st_size}",
        last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc),
    )


def _is_within(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        log.warning("could not remove temporary file %s", path)

"""Fetching one changed spec file and turning it into a ``FileState``."""

from __future__ import annotations

from daemon.spec_store import SpecStore, StoredObject
from daemon.spec_sync.resolve import FileState, source_of
from daemon.specs import SpecInvalid, parse_spec


def fetch_and_parse(source: SpecStore, obj: StoredObject, max_bytes: int) -> FileState:
    """Read and parse ``obj``; an oversized file is rejected from its listing size,
    without downloading it. Store errors propagate (the caller keeps the old version)."""
    state = FileState(
        path=obj.key,
        source_type=source_of(obj.key) or "",
        version=obj.version,
        size=obj.size,
        last_modified=obj.last_modified,
        dataset_name=None,
        parse_error=None,
    )
    if obj.size > max_bytes:
        state.parse_error = (
            f"{obj.key}: the file is {obj.size:,} bytes, over the {max_bytes:,}-byte limit "
            f"([storage] max_spec_bytes). Shrink the spec or raise the limit."
        )
        return state
    data = source.read(obj.key)
    state.content = _text(data)
    try:
        parsed = parse_spec(data, obj.key, max_bytes)
    except SpecInvalid as exc:
        state.dataset_name = exc.name
        state.parse_error = str(exc)
        state.error_line = exc.issues[0].line if exc.issues else None
        return state
    state.dataset_name = parsed.spec.name
    state.spec = parsed.spec.to_json()
    state.warnings = [
        f"{obj.key}:{w.line}: {w.message}" if w.line else f"{obj.key}: {w.message}"
        for w in parsed.warnings
    ]
    return state


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None

"""Task logs as text, whatever shape the server sends.

Airflow 2 (``Accept: text/plain``) sends plain text; asked for JSON it sends
``{"content": "<text>"}``. Airflow 3 sends ``{"content": [...]}`` of structured
messages (or of strings) for JSON and NDJSON (one structured message per line) for
text. All of them end up as lines like ``[2025-01-01T00:00:00Z] INFO - message``.
"""

from __future__ import annotations

import json
from typing import Any


def render_message(message: Any) -> str:
    """One structured log message (``event``, ``timestamp``, ``level``, ...) → a line."""
    if not isinstance(message, dict):
        return str(message)
    parts = []
    if message.get("timestamp"):
        parts.append(f"[{message['timestamp']}]")
    if message.get("logger"):
        parts.append(f"{{{message['logger']}}}")
    if message.get("level"):
        parts.append(f"{str(message['level']).upper()} -")
    parts.append(str(message.get("event", "")))
    line = " ".join(parts)
    for detail in message.get("error_detail") or []:
        if isinstance(detail, dict):  # the exception of a failed task: the useful bit
            line += f"\n{detail.get('exc_type', 'Error')}: {detail.get('exc_value', '')}"
    return line


def _render_ndjson(text: str) -> str | None:
    """NDJSON of structured messages → text; None if ``text`` is not NDJSON."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        lines.append(render_message(message))
    return "\n".join(lines) if lines else None


def render_log(body: str, content_type: str) -> str:
    """The response body of the log endpoint → plain text."""
    stripped = body.lstrip()
    if "json" in content_type or stripped.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and "content" in data:
            content = data["content"]
            if isinstance(content, list):
                return "\n".join(render_message(item) for item in content)
            return str(content)
        if isinstance(data, dict) and "event" in data:
            return render_message(data)
        ndjson = _render_ndjson(body)
        if ndjson is not None:
            return ndjson
    return body


def tail(text: str, max_bytes: int) -> str:
    """The last ``max_bytes`` bytes of ``text`` (UTF-8), cut at a line start when one
    is near, so the first line shown is whole."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    cut = data[len(data) - max_bytes:]
    newline = cut.find(b"\n")
    if 0 <= newline < len(cut) // 4:
        cut = cut[newline + 1:]
    return cut.decode("utf-8", errors="ignore")

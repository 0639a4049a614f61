"""Task logs as text, whatever shape the server sends.

Airflow 2 (``Accept: text/plain``) sends plain text; asked for JSON it sends
``{"content": "<text>"}``. Airflow 3 sends ``{"content": [...]}`` of structured
messages (or of strings) for JSON and NDJSON (one structured message per line) for
text. All of them end up as lines like ``[2025-01-01T00:00:00Z] INFO - message``.

Following a running task: a JSON answer carries a ``continuation_token`` (Airflow 3: in
the body, None once the try's log is complete; NDJSON: the ``Airflow-Continuation-Token``
header; Airflow 2: always, in the body). Asked again with ``?token=``, Airflow sends only
what came after. Airflow 2's JSON ``content`` is the ``str()`` of a Python list of
``(host, text)`` tuples, read back with ``ast.literal_eval`` (literals only, no code).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogChunk:
    """One answer of the log endpoint: its text, and where the log continues."""

    text: str
    continuation_token: str | None = None
    """Ask with ``token=`` for what comes after; None: complete, or no token sent."""
    joined_lines: bool = False
    """The text is whole lines joined with newlines (structured messages), so a chunk
    after it starts a new line; raw text (Airflow 2) continues where it stopped."""

    def after(self, previous: str) -> str:
        """``previous`` (the log so far) with this chunk appended."""
        if not previous or not self.text:
            return previous + self.text
        if self.joined_lines and not previous.endswith("\n"):
            return f"{previous}\n{self.text}"
        return previous + self.text


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
            return _v1_content(str(content))
        if isinstance(data, dict) and "event" in data:
            return render_message(data)
        ndjson = _render_ndjson(body)
        if ndjson is not None:
            return ndjson
    return body


def _v1_content(content: str) -> str:
    """Airflow 2's JSON ``content``: ``"[('host', 'text'), ...]"`` → the texts; any other
    string as it is."""
    if not content.startswith("[("):
        return content
    try:
        parsed = ast.literal_eval(content)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return content
    if not isinstance(parsed, list) or not all(
            isinstance(item, tuple) and len(item) == 2 for item in parsed):
        return content
    return "".join(str(text) for _host, text in parsed)


def render_log_chunk(body: str, content_type: str, header_token: str | None = None) -> LogChunk:
    """The response body of the log endpoint → its text and continuation token."""
    data: Any = None
    if "json" in content_type or body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    if isinstance(data, dict) and "content" in data:
        token = data.get("continuation_token") or header_token
        content = data["content"]
        if isinstance(content, list):
            return LogChunk("\n".join(render_message(item) for item in content), token, True)
        return LogChunk(_v1_content(str(content)), token)
    text = render_log(body, content_type)
    return LogChunk(text, header_token, joined_lines=text != body)  # rendered NDJSON


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

"""Untrusted text (from specs, Airflow, logs) made safe for a terminal: no escape sequence
from a log or a task's question reaches it. The dashboard wraps the result in a Rich
``Text`` (never markup); the CLI prints it."""

from __future__ import annotations

import re

# ANSI CSI / OSC sequences (colours in Airflow logs), then any other control character.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` without ANSI sequences, other control characters shown as ``\ufffd``
    (tabs and newlines kept)."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub("\ufffd", _ANSI.sub("", text))

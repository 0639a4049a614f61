"""Messages shared by the dashboard's app, tabs and screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class StoreChanged(Message):
    """The store changed since the last look. ``tables`` names what changed
    (``workflows``, ``runs``, ``tasks``, ``clusters``, ``events``, ``actions``,
    ``task_logs``, ``daemon``); the app posts it to the active screen."""

    tables: frozenset[str]

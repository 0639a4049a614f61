"""Command palette entries (ctrl+p): every tab, view and action of the main screen.

Actions are left out in read-only mode, like their keys.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, action on the main screen, queues an action)
COMMANDS: tuple[tuple[str, str, str, bool], ...] = (
    ("Workflows tab", "Show the workflows", "show_tab('workflows')", False),
    ("Runs tab", "Show running and recent runs", "show_tab('runs')", False),
    ("Clusters tab", "Show cluster health and data age", "show_tab('clusters')", False),
    ("Events tab", "Show the event log", "show_tab('events')", False),
    ("Filter", "Filter the table as you type", "filter", False),
    ("Sort", "Cycle the sort column of the table", "sort", False),
    ("Code specs only", "Workflows: show code specs", "source('code')", False),
    ("Manual specs only", "Workflows: show manual specs", "source('manual')", False),
    ("All specs", "Workflows: show code and manual specs", "source('all')", False),
    ("Failed only", "Toggle showing only failed rows", "failed", False),
    ("Running runs", "Runs tab: the running runs (as the summary counts them)", "summary('running')", False),
    ("Failed in 24 h", "Runs tab: the failed runs", "summary('failed')", False),
    ("Waiting for input", "Runs tab: runs whose task waits for a person", "summary('waiting')", False),
    ("Paused workflows", "Workflows tab: the paused workflows", "summary('paused')", False),
    ("Clusters down", "Clusters tab: the clusters that fail their health check", "summary('down')", False),
    ("Grid", "The selected workflow's recent runs × tasks", "grid", False),
    ("Open logs", "Open the selected run (or the workflow's last run) with its task logs", "logs", False),
    ("Pause / unpause", "Pause or unpause the selected workflow", "pause", True),
    ("Trigger run", "Trigger a run of the selected workflow", "trigger", True),
    ("Stop run", "Stop the selected run", "stop", True),
    ("Backfill", "Backfill the selected workflow over a date range", "backfill", True),
    ("Sync now", "Ask the daemon to sync specs and runs now", "sync", True),
    ("Help", "Show the keys", "app.help", False),
)


class BasecampCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Any]]:
        app: Any = self.app
        main = app.main
        found = []
        for title, help_text, action, acts in COMMANDS:
            if acts and app.read_only:
                continue
            target = app if action.startswith("app.") else main
            found.append((title, help_text,
                          partial(target.run_action, action.removeprefix("app."))))
        return found

    async def discover(self) -> Hits:
        for title, help_text, command in self._commands():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, help=help_text)

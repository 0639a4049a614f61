"""The dashboard: a Textual app over the store (SPEC §7).

The app owns the store watcher (``live.py``) and hands what it finds to the main screen;
when another screen is on top it also posts :class:`StoreChanged` to that screen. It
remembers the actions this session queued (``track_action``) and notifies their outcome.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from basecamp_tui.commands import BasecampCommands
from basecamp_tui.live import StoreFailed, StoreLoaded, Watcher
from basecamp_tui.messages import StoreChanged
from basecamp_tui.requests import ActionRequests
from basecamp_tui.tabs.screen import ActionsMainScreen, MainScreen
from daemon.core import paths
from daemon.core.config import UI_KEY_DEFAULTS, Config
from daemon.core.states import ActionState
from daemon.core.timefmt import utcnow
from daemon.read.actions import ActionRow
from daemon.read.changes import StoreReader
from daemon.read.wakeup import ChangeListener

FAILED_STATES = (ActionState.FAILED, ActionState.REJECTED)


@dataclass
class _Batch:
    """Actions queued together (one per selected row), reported together."""

    label: str
    waiting: set[int]
    outcomes: list[ActionRow] = field(default_factory=list)


log = logging.getLogger(__name__)


def remembered_theme() -> str:
    try:
        data = json.loads(paths.ui_state_file().read_text())
    except (OSError, ValueError):
        return ""
    return data.get("theme", "") if isinstance(data, dict) else ""


def remember_theme(name: str) -> None:
    """Keep the theme chosen in the palette for the next start (a small state file beside
    the config: the config file itself is the user's, comments and all)."""
    path = paths.ui_state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"theme": name}))
    except OSError as exc:  # a read-only home: the choice lasts this session
        log.warning("cannot remember the theme in %s: %s", path, exc)


class BasecampApp(App):
    TITLE = "basecamp"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {BasecampCommands}
    BINDINGS = [
        Binding(UI_KEY_DEFAULTS["help"], "help", "Help", id="help", tooltip="Keys and what they do"),
        Binding(UI_KEY_DEFAULTS["quit"], "quit", "Quit", id="quit", tooltip="Quit the dashboard"),
        # Ctrl-C quits as in a shell (and ends `basecamp demo` with everything it started).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, config: Config, *, read_only: bool = False,
                 clock: Callable[[], datetime] | None = None, poll_seconds: float | None = None) -> None:
        super().__init__()
        self.config = config
        self.read_only = bool(read_only or config.ui.read_only)
        self.clock: Callable[[], datetime] = clock or utcnow
        self.requests: ActionRequests | None = None
        self.tracked: set[int] = set()
        self.batches: list[_Batch] = []
        self.open_actions: dict[int, ActionRow] = {}
        self._finished: dict[int, ActionRow] = {}
        self.first_load_done = False
        reader = StoreReader(self.clock, config.daemon.stale_after_seconds)
        self.watcher = Watcher(self, reader, **({"interval": poll_seconds} if poll_seconds else {}),
                               listener=ChangeListener(config.database.url))
        self.set_keymap(dict(config.ui.keys))

    def get_default_screen(self) -> Screen:
        return MainScreen() if self.read_only else ActionsMainScreen()

    @property
    def main(self) -> MainScreen:
        return self.screen_stack[0]  # type: ignore[return-value]

    def on_mount(self) -> None:
        self._apply_theme()
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.read_only:
            self.sub_title = "read-only"
        else:
            self.requests = ActionRequests(self)
        self.run_worker(self.watcher.run, thread=True, exclusive=True, group="watch",
                        exit_on_error=False, name="store watcher")

    def on_unmount(self) -> None:
        self.watcher.stop()

    # --- the theme ---------------------------------------------------------------------

    def _apply_theme(self) -> None:
        """The theme last chosen in the dashboard, else ``[ui] theme``, else Textual's."""
        wanted = remembered_theme() or self.config.ui.theme
        if not wanted:
            return
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.notify(f"Unknown theme {wanted!r} ([ui] theme); known: "
                        f"{', '.join(sorted(self.available_themes))}", severity="warning",
                        markup=False)

    def _remember_theme(self, theme: Theme) -> None:
        remember_theme(theme.name)

    # --- following the store -------------------------------------------------------------

    def on_store_loaded(self, message: StoreLoaded) -> None:
        changes = message.changes
        for action in changes.actions:
            if action.open:
                self.open_actions[action.id] = action
            else:
                self.open_actions.pop(action.id, None)
                self._finished[action.id] = action
                if action.id in self.tracked:
                    self._notify_outcome(action)
                self._batch_progress(action.id)
        if len(self._finished) > 500:
            for old in sorted(self._finished)[:-200]:
                del self._finished[old]
        self.main.apply(changes, self.open_actions)
        if changes.first:
            # The model is long-lived: keep the collector from rescanning it (GC pauses
            # of 100+ ms on a 10,000-workflow store otherwise land on filter keystrokes).
            gc.collect()
            gc.freeze()
        self.first_load_done = True
        if self.screen is not self.main and changes.tables:
            self.screen.post_message(StoreChanged(changes.tables))

    def on_store_failed(self, message: StoreFailed) -> None:
        self.notify(f"Cannot read the store: {message.error}", severity="error", markup=False)

    def track_action(self, action_id: int) -> None:
        """Notify this action's outcome when the daemon has carried it out."""
        finished = self._finished.get(action_id)
        if finished is not None:
            self._notify_outcome(finished)
            return
        self.tracked.add(action_id)
        self.watcher.poke()

    def track_batch(self, action_ids: list[int], label: str) -> None:
        """One notification when all these actions are carried out: the counts, and the
        failures named (an action on many rows)."""
        batch = _Batch(label, set(action_ids))
        self.batches.append(batch)
        for action_id in action_ids:
            self._batch_progress(action_id)
        self.watcher.poke()

    def _batch_progress(self, action_id: int) -> None:
        finished = self._finished.get(action_id)
        if finished is None:
            return
        for batch in list(self.batches):
            if action_id in batch.waiting:
                batch.waiting.discard(action_id)
                batch.outcomes.append(finished)
                if not batch.waiting:
                    self.batches.remove(batch)
                    self._notify_batch(batch)

    def _notify_batch(self, batch: _Batch) -> None:
        failed = [a for a in batch.outcomes if a.state in FAILED_STATES]
        lines = [f"{batch.label}: {len(batch.outcomes) - len(failed)} done"
                 + (f", {len(failed)} failed" if failed else "")]
        lines += [f"{a.target}: {a.message or a.error or a.state}" for a in failed[:5]]
        if len(failed) > 5:
            lines.append(f"… and {len(failed) - 5} more (Events tab)")
        self.notify("\n".join(lines), title="Actions carried out",
                    severity="error" if failed else "information", markup=False,
                    timeout=10 if failed else 5)

    def _notify_outcome(self, action: ActionRow) -> None:
        self.tracked.discard(action.id)
        message = action.message or action.error or action.state
        self.notify(f"{action.kind} {action.target}: {message}", title=f"Action {action.state}",
                    severity="error" if action.state in FAILED_STATES else "information",
                    markup=False, timeout=8 if action.state in FAILED_STATES else 5)

    # --- keys ----------------------------------------------------------------------------

    def action_help(self) -> None:
        from basecamp_tui.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

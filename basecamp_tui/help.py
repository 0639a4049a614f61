"""The help screen: the keys in effect (after ``[ui.keys]`` remaps), from the bindings."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

NAVIGATION = (
    ("enter", "Open the selected workflow or run"),
    ("escape", "Back / clear the filter"),
    ("↑ ↓ pgup pgdn", "Move in the table"),
    ("1 2 3 4", "Workflows, Runs, Clusters, Events tab"),
    ("tab", "Move focus"),
    ("ctrl+p", "Command palette"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._text(), markup=False)

    def _text(self) -> Text:
        app: Any = self.app
        main = app.main
        text = Text("basecamp keys", style="bold")
        if app.read_only:
            text.append("  (read-only: actions are off)", style="dim")
        text.append("\n\n")
        rows: list[tuple[str, str]] = []
        for active in main.active_bindings.values():
            binding = active.binding
            if active.node in (main, app) and binding.id and not binding.id.startswith("tab_"):
                rows.append((app.get_key_display(binding), binding.tooltip or binding.description))
        rows += list(NAVIGATION)
        for key, what in rows:
            text.append(f"  {key:<16}", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nKeys can be remapped in [ui.keys] of the config file.", style="dim")
        return text

    def on_click(self) -> None:
        self.dismiss()

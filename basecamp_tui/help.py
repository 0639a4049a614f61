"""The help screen: every key of the dashboard, grouped by where it works.

The keys are read from the bindings themselves (the app's, the main screen's, the
tables', the grid's and the detail screens'), with the ``[ui.keys]`` remaps applied as
``App.set_keymap`` applies them: by binding id. Which tab a main-screen key works on is
the screen's own answer (``MainScreen.applies``); in read-only mode the keys that queue
actions are left out, as the screens leave them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from basecamp_tui.keys import bound_keys
from basecamp_tui.screens import grid, run_detail, workflow_detail
from basecamp_tui.tabs.base import LiveTable
from basecamp_tui.tabs.screen import TABS, VIEW_BINDINGS, MainScreen


@dataclass(frozen=True)
class Place:
    """Where some keys work: a title and the bindings of the classes that hold them."""

    title: str
    bindings: Sequence[BindingType]
    actions: Iterable[str] = ()
    """Ids of the keys that queue actions (left out in read-only mode)."""


DETAILS = (
    Place("Tables (every tab)", LiveTable.BINDINGS),
    Place("Grid (g; also a tab of the workflow detail)",
          [*grid.GridView.BINDINGS, *grid.GridPanel.BINDINGS, *grid.GridScreen.BINDINGS],
          grid.ACTION_KEYS),
    Place("Workflow detail (enter on a workflow)", workflow_detail.WorkflowDetailScreen.BINDINGS,
          workflow_detail.ACTION_KEYS),
    Place("Run detail (l, or enter on a run)", run_detail.RunDetailScreen.BINDINGS,
          run_detail.ACTION_KEYS),
)
"""The places besides the app and the main screen, in the order the help lists them."""


def key_rows(app: Any, bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """(keys, what they do) per action, keys after the remaps, in binding order."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        shown, _what = rows.setdefault(binding.action, ([], binding.tooltip or binding.description))
        for display in bound_keys(app, binding):
            if display not in shown:
                shown.append(display)
    return [(" ".join(keys), what) for keys, what in rows.values()]


def main_screen_places(main: MainScreen) -> list[tuple[str, list[Binding]]]:
    """The main screen's keys: those that work on every tab (view keys, then the actions),
    then each tab's own."""
    view = {binding.action for binding in Binding.make_bindings(VIEW_BINDINGS)}
    every, actions = "All tabs", "Actions (carried out by the daemon)"
    places: dict[str, list[Binding]] = {every: [], actions: []}
    places.update((f"{label} tab", []) for _tab, label in TABS)
    textual = {binding.action for binding in Binding.make_bindings(Screen.BINDINGS)}
    for binding in Binding.make_bindings(type(main).BINDINGS):
        if binding.action in textual:
            continue
        name, parameters = parse(binding.action)[1:]
        tabs = [label for tab, label in TABS if main.applies(name, parameters, tab)]
        if len(tabs) == len(TABS):
            places[every if binding.action in view else actions].append(binding)
        else:
            for label in tabs:
                places[f"{label} tab"].append(binding)
    return list(places.items())


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._text(), markup=False)

    def _places(self) -> list[tuple[str, list[Binding]]]:
        """Every place with its bindings (read-only: without the action keys)."""
        app: Any = self.app
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette",
                          tooltip="Every action and tab by name")
        places = [("Everywhere", [*Binding.make_bindings(type(app).BINDINGS), palette])]
        places += main_screen_places(app.main)
        for place in DETAILS:
            hidden = set(place.actions) if app.read_only else set()
            places.append((place.title, [binding for binding in Binding.make_bindings(place.bindings)
                                         if binding.id not in hidden]))
        return [(title, bindings) for title, bindings in places if bindings]

    def _text(self) -> Text:
        app: Any = self.app
        text = Text("basecamp keys", style="bold")
        if app.read_only:
            text.append("  (read-only: actions are off)", style="dim")
        text.append("\n")
        for title, bindings in self._places():
            text.append(f"\n{title}\n", style="bold")
            for keys, what in key_rows(app, bindings):
                text.append(f"  {keys:<16}", style="bold cyan")
                text.append(f"{what}\n")
        text.append("\nKeys can be remapped in [ui.keys] of the config file (binding ids as in "
                    "the README).", style="dim")
        return text

    def on_click(self) -> None:
        self.dismiss()


"""The trigger form: one field per spec parameter, validated before anything is queued.

A paused workflow is said to be paused, and the form offers "force" (SPEC §2: running a
paused workflow is refused unless forced).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from basecamp_tui.forms.dialogs import DIALOG_CSS
from basecamp_tui.forms.params import ParameterFields
from daemon.specs import DatasetSpec


@dataclass(frozen=True)
class TriggerRequest:
    """What the user asked for: parameters as typed (strings) and whether to force."""

    parameters: dict[str, str] = field(default_factory=dict)
    force: bool = False


def paused_problem(name: str) -> str:
    return (f"Workflow is paused. Unpause it first (basecamp workflow unpause {name}), "
            "or tick Force to run it anyway.")


class TriggerForm(ModalScreen[TriggerRequest | None]):
    """Dismisses with a ``TriggerRequest`` once the values pass validation, or None."""

    DEFAULT_CSS = "TriggerForm { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Run", id="form.submit"),
    ]

    def __init__(self, spec: DatasetSpec, *, paused: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.paused = paused

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text.assemble("Trigger a run of ", (self.spec.name, "bold")),
                         classes="dialog-title")
            if self.paused:
                yield Static(Text("This workflow is paused.", style="bold yellow"),
                             id="paused-note")
                yield Checkbox("Force: run it although it is paused", id="force")
            yield ParameterFields(self.spec, id="fields")
            yield Static("", classes="field-error -empty", id="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run", variant="primary", id="submit")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        (inputs.first() if inputs else self.query_one("#submit", Button)).focus()

    @property
    def fields(self) -> ParameterFields:
        return self.query_one("#fields", ParameterFields)

    def _force(self) -> bool:
        return self.paused and self.query_one("#force", Checkbox).value

    def problem(self) -> str | None:
        problem = self.fields.problem()
        if problem is None and self.paused and not self._force():
            problem = paused_problem(self.spec.name)
        return problem

    def action_submit(self) -> None:
        problem = self.problem()
        error = self.query_one("#form-error", Static)
        error.update(Text(problem or ""))
        error.set_class(problem is None, "-empty")
        if problem is None:
            self.dismiss(TriggerRequest(self.fields.values(), self._force()))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.action_cancel()

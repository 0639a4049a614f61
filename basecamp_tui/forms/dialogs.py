"""Confirmation dialogs: a yes/no question, and stop-with-reason.

The question is a ``rich.text.Text`` built by the caller from plain strings, so a dataset
or run id is shown literally.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from basecamp_tui.text import literal

DIALOG_CSS = """
.dialog {
    width: 72;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $primary 80%;
    background: $surface;
    padding: 0 1;
}
.dialog .dialog-title { text-style: bold; margin-bottom: 1; width: 100%; }
.dialog .dialog-buttons { height: auto; align-horizontal: right; margin-top: 1; }
.dialog .dialog-buttons Button { margin-left: 1; min-width: 10; }
.dialog .field-label { margin-top: 1; }
.dialog .field-error { color: $error; height: auto; }
.dialog .field-error.-empty { display: none; }
"""


class ConfirmDialog(ModalScreen[bool]):
    """Ask ``question``; dismisses with True (y / enter on Yes) or False (n / escape)."""

    DEFAULT_CSS = "ConfirmDialog { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: Text, *, detail: Text | None = None,
                 confirm_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", id="question")
            if self.detail is not None:
                yield Static(self.detail, id="detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="primary", id="yes")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class StopDialog(ModalScreen[str | None]):
    """Confirm stopping a run, with an optional reason; dismisses with the reason
    (possibly empty) or None when cancelled."""

    DEFAULT_CSS = "StopDialog { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="stop.cancel")]

    def __init__(self, run_id: str, *, status: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status

    def compose(self) -> ComposeResult:
        question = Text.assemble("Stop ", literal(self.run_id, "bold"), "?")
        if self.status:
            question.append(f"  ({self.status})", style="dim")
        with Vertical(classes="dialog"):
            yield Static(question, classes="dialog-title", id="question")
            yield Static(Text("The run is marked failed in Airflow; running tasks are "
                              "stopped.", style="dim"))
            yield Label("Reason (optional, recorded on the action)", classes="field-label")
            yield Input(placeholder="why are you stopping it?", id="reason", max_length=500)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop run", variant="error", id="stop")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "stop":
            self.dismiss(self.query_one("#reason", Input).value.strip())
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MarkDialog(ModalScreen[str | None]):
    """Mark runs (or a task) success or failed: dismisses with the state, or None."""

    DEFAULT_CSS = "MarkDialog { align: center middle; }\n" + DIALOG_CSS
    BINDINGS = [
        Binding("s", "choose('success')", "Success", id="mark.success"),
        Binding("f", "choose('failed')", "Failed", id="mark.failed"),
        Binding("escape", "choose(None)", "Cancel", id="mark.cancel"),
    ]

    def __init__(self, what: Text, effect: str) -> None:
        super().__init__()
        self.what = what
        self.effect = effect

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text.assemble("Mark ", self.what, " as…"), classes="dialog-title",
                         id="question")
            yield Static(Text(self.effect, style="dim"), id="detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Success (s)", variant="success", id="success")
                yield Button("Failed (f)", variant="error", id="failed")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, state: str | None) -> None:
        self.dismiss(state)

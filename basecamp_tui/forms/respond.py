"""The answer to a task that waits for a person (Airflow ≥ 3.1 human-in-the-loop): its
question, the options it offers and its form's parameters. Everything in it comes from
the DAG (untrusted) and is shown literally."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from basecamp_tui.forms.dialogs import DIALOG_CSS
from basecamp_tui.text import default_text, literal
from daemon.read.hitl import InputRequest


@dataclass(frozen=True)
class RespondRequest:
    options: list[str]
    params: dict[str, str] = field(default_factory=dict)
    """The form's values as shown (defaults included), empty ones left out; as typed:
    the daemon types them by the parameter's schema."""


class RespondDialog(ModalScreen[RespondRequest | None]):
    """One option (``enter`` on it), or several and ``Send`` when the task takes
    several; ``escape`` cancels."""

    DEFAULT_CSS = "RespondDialog { align: center middle; }\n" + DIALOG_CSS + """
    RespondDialog #respond-body { max-height: 8; height: auto; }
    RespondDialog #respond-options { height: auto; max-height: 8; }
    RespondDialog .dialog-field { height: 3; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="respond.cancel")]

    def __init__(self, run_id: str, request: InputRequest) -> None:
        super().__init__()
        self.run_id = run_id
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(classes="dialog"):
            yield Static(Text.assemble("Answer ", literal(request.label, "bold"), " of ",
                                       literal(self.run_id)), classes="dialog-title")
            yield Static(literal(request.subject, "bold"), id="respond-subject")
            if request.body:
                with VerticalScroll(id="respond-body"):
                    yield Static(literal(request.body))
            for index, (name, spec) in enumerate(request.params.items()):
                described = spec if isinstance(spec, dict) else {"value": spec}
                label = Text.assemble(literal(name, "bold"))
                if described.get("description"):
                    label.append_text(Text.assemble("  ", literal(described["description"], "dim")))
                yield Label(label, classes="field-label")
                value = described.get("value")
                yield Input(value="" if value is None else default_text(value),
                            id=f"param-{index}", name=name,
                            classes="dialog-field")
            if request.multiple:
                yield Label(Text("Choose one or more (space), then Send", style="dim"),
                            classes="field-label")
                yield SelectionList[str](*((literal(o), o, o in request.defaults)
                                           for o in request.options), id="respond-options")
            else:
                yield Label(Text("Choose (enter)", style="dim"), classes="field-label")
                yield OptionList(*(Option(literal(o), id=str(i))
                                   for i, o in enumerate(request.options)), id="respond-options")
            yield Static("", id="respond-error", classes="field-error -empty")
            with Horizontal(classes="dialog-buttons"):
                if request.multiple:
                    yield Button("Send", variant="primary", id="send")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#respond-options").focus()

    def _params(self) -> dict[str, str]:
        return {field_input.name or "": field_input.value for field_input in self.query(Input)
                if field_input.value != ""}

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(RespondRequest([self.request.options[int(event.option.id or 0)]],
                                    self._params()))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        chosen = list(self.query_one("#respond-options", SelectionList).selected)
        if not chosen:
            error = self.query_one("#respond-error", Static)
            error.update("Choose at least one option.")
            error.remove_class("-empty")
            return
        self.dismiss(RespondRequest(chosen, self._params()))

    def action_cancel(self) -> None:
        self.dismiss(None)


def request_params(request: RespondRequest, task_id: str, map_index: int) -> dict[str, Any]:
    """The respond action's parameters for the answer in the dialog."""
    return {"task_id": task_id, "map_index": map_index, "options": request.options,
            "params": request.params}

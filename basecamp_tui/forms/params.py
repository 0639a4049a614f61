"""Input fields generated from a spec's parameters, validated as the user types.

Messages come from ``daemon.specs.params`` (the same strict rules the daemon applies), so
the form says exactly what the CLI and the daemon would say.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from basecamp_tui.text import default_text
from daemon.core.errors import UserError
from daemon.specs import DatasetSpec, Parameter, validate_parameters

TYPE_HINTS = {
    "string": "text",
    "int": "whole number, e.g. 42",
    "float": "number, e.g. 0.5",
    "bool": "true / false",
    "date": "YYYY-MM-DD",
}


def placeholder(parameter: Parameter) -> str:
    hint = TYPE_HINTS.get(parameter.type, parameter.type)
    if parameter.default is not None:
        return f"{hint} (default {default_text(parameter.default)})"
    return hint if parameter.required else f"{hint} (optional)"


def field_problem(spec: DatasetSpec, parameter: Parameter, value: str) -> str | None:
    """The daemon's message for one field's value, or None when it is acceptable."""
    if value == "":
        return None
    alone = replace(spec, parameters=(replace(parameter, required=False),))
    try:
        validate_parameters(alone, {parameter.name: value})
    except UserError as exc:
        return str(exc)
    return None


class ParameterFields(Vertical):
    """One labelled ``Input`` per declared parameter (type and required-ness in the
    label, the type's format as placeholder) and an error line under each."""

    DEFAULT_CSS = """
    ParameterFields { height: auto; }
    ParameterFields Input { margin: 0; }
    """

    def __init__(self, spec: DatasetSpec, *, backfill: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec
        self.backfill = backfill
        """In a backfill the parameters that take the logical date are filled per run:
        they are shown, not asked for."""

    def _asked(self) -> list[tuple[int, Parameter]]:
        return [(index, parameter) for index, parameter in enumerate(self.spec.parameters)
                if not (self.backfill and parameter.takes_logical_date)]

    def compose(self) -> ComposeResult:
        if not self.spec.parameters:
            yield Static(Text("This workflow takes no parameters.", style="dim"),
                         classes="field-label")
            return
        for index, parameter in enumerate(self.spec.parameters):
            label = Text.assemble((parameter.name, "bold"), f"  {parameter.type}  ")
            if self.backfill and parameter.takes_logical_date:
                label.append("each run's logical date", style="green")
                yield Static(label, classes="field-label")
                continue
            label.append("required" if parameter.required else "optional",
                         style="yellow" if parameter.required else "dim")
            if parameter.description:
                label.append(f"  {parameter.description}", style="dim")
            yield Static(label, classes="field-label")
            yield Input(placeholder=placeholder(parameter), id=f"param-{index}")
            yield Static("", classes="field-error -empty", id=f"param-{index}-error")

    def values(self) -> dict[str, str]:
        """The parameters given (empty fields are left out, so defaults apply)."""
        result: dict[str, str] = {}
        for index, parameter in self._asked():
            value = self.query_one(f"#param-{index}", Input).value
            if parameter.type != "string":
                value = value.strip()
            if value != "":
                result[parameter.name] = value
        return result

    def set_value(self, name: str, value: str) -> None:
        """Fill the field of parameter ``name`` (tests, and prefilled forms)."""
        for index, parameter in enumerate(self.spec.parameters):
            if parameter.name == name:
                self.query_one(f"#param-{index}", Input).value = value
                return
        raise KeyError(name)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self._check(int(event.input.id.removeprefix("param-")))

    def _check(self, index: int) -> str | None:
        parameter = self.spec.parameters[index]
        value = self.query_one(f"#param-{index}", Input).value
        if parameter.type != "string":
            value = value.strip()
        problem = field_problem(self.spec, parameter, value)
        error = self.query_one(f"#param-{index}-error", Static)
        error.update(Text(problem or ""))
        error.set_class(problem is None, "-empty")
        return problem

    def problem(self) -> str | None:
        """The first problem of the whole set (a field's type, then a missing required
        parameter), or None when the daemon would accept these values."""
        for index, _parameter in self._asked():
            problem = self._check(index)
            if problem:
                return problem
        try:
            validate_parameters(self.spec, self.values(), backfill=self.backfill)
        except UserError as exc:
            return str(exc)
        return None

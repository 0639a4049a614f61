"""The forms on their own: inline validation with the daemon's messages, and results."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from basecamp_tui.forms import (
    BackfillForm,
    BackfillRequest,
    ConfirmDialog,
    StopDialog,
    TriggerForm,
    TriggerRequest,
)
from daemon.specs import DatasetSpec, parse_spec
from tests.tui.detail_data import (
    CLICKS,
    CLICKS_YAML,
    SPEND,
    SPEND_YAML,
    build_store,
    plain,
    settle,
)
from tests.waiting import pilot_until

pytestmark = pytest.mark.anyio
NO_RESULT = object()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def clicks_spec() -> DatasetSpec:
    return parse_spec(CLICKS_YAML.encode(), "clicks.yaml").spec


class FormHarness(App[None]):
    """Pushes one form and keeps what it was dismissed with."""

    def __init__(self, form: ModalScreen[Any]) -> None:
        super().__init__()
        self.form = form
        self.result: Any = NO_RESULT

    def compose(self) -> ComposeResult:
        yield Static("under the form")

    def on_mount(self) -> None:
        self.push_screen(self.form, self._done)

    def _done(self, result: Any) -> None:
        self.result = result


def error_of(form: ModalScreen[Any], selector: str) -> str:
    widget = form.query_one(selector, Static)
    return "" if widget.has_class("-empty") else plain(widget)


# -- trigger --------------------------------------------------------------------------


async def test_trigger_form_offers_each_declared_parameter_with_its_type() -> None:
    app = FormHarness(TriggerForm(clicks_spec()))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        inputs = list(app.form.query(Input))
        assert [i.placeholder for i in inputs] == [
            "YYYY-MM-DD", "whole number, e.g. 42 (default 100)", "true / false (default false)"]
        labels = [plain(s) for s in app.form.query(".field-label")]
        assert labels[0].startswith("execution_date  date  required")
        assert "day to [b]load[/b]" in labels[0]


async def test_trigger_form_int_field_rejects_text_inline() -> None:
    app = FormHarness(TriggerForm(clicks_spec()))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        form = app.form
        form.query_one("#param-1", Input).focus()
        await pilot.press(*"abc")
        await pilot.pause()
        assert error_of(form, "#param-1-error") == "Parameter 'limit' must be an int, got 'abc'"
        form.query_one("#param-0", Input).value = "2024-05-01"
        await pilot.click("#submit")
        await pilot.pause()
        assert app.result is NO_RESULT  # still open
        assert error_of(form, "#form-error") == "Parameter 'limit' must be an int, got 'abc'"
        form.query_one("#param-1", Input).value = "12"
        await pilot.pause()
        assert error_of(form, "#param-1-error") == ""
        assert form.problem() is None
        form.query_one("#param-1", Input).focus()
        await pilot.press("enter")  # (a second click this soon would count as a double click)
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result == TriggerRequest({"execution_date": "2024-05-01", "limit": "12"})


async def test_trigger_form_date_and_bool_fields() -> None:
    app = FormHarness(TriggerForm(clicks_spec()))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        form = app.form
        form.query_one("#param-0", Input).value = "2024-13-01"
        form.query_one("#param-2", Input).value = "maybe"
        await pilot.pause()
        assert error_of(form, "#param-0-error") == (
            "Parameter 'execution_date' must be a date (YYYY-MM-DD), got '2024-13-01'")
        assert error_of(form, "#param-2-error") == (
            "Parameter 'full_refresh' must be a bool (true/false/1/0/yes/no), got 'maybe'")


async def test_trigger_form_missing_required_parameter() -> None:
    app = FormHarness(TriggerForm(clicks_spec()))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.form.query_one("#param-1", Input).focus()
        await pilot.press("5", "enter")
        await pilot.pause()
        assert app.result is NO_RESULT
        assert error_of(app.form, "#form-error") == "Missing required parameter: execution_date"


async def test_trigger_form_without_parameters_and_cancel() -> None:
    spec = parse_spec(SPEND_YAML.encode(), "spend.yaml").spec
    app = FormHarness(TriggerForm(spec))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "This workflow takes no parameters." in plain(app.form.query_one(".field-label"))
        await pilot.press("escape")
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result is None


async def test_trigger_form_paused_requires_force() -> None:
    app = FormHarness(TriggerForm(clicks_spec(), paused=True))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        form = app.form
        form.query_one("#param-0", Input).value = "2024-05-01"
        form.action_submit()
        await pilot.pause()
        assert error_of(form, "#form-error").startswith("Workflow is paused. Unpause it first")
        form.query_one("#force", Checkbox).value = True
        form.action_submit()
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result == TriggerRequest({"execution_date": "2024-05-01"}, force=True)


# -- confirm and stop -----------------------------------------------------------------


@pytest.mark.parametrize(("keys", "expected"), [(("y",), True), (("n",), False),
                                                (("escape",), False), (("enter",), True)])
async def test_confirm_dialog(keys: tuple[str, ...], expected: bool) -> None:
    from rich.text import Text

    app = FormHarness(ConfirmDialog(Text("Pause [b]x[/b]?")))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert plain(app.form.query_one("#question", Static)) == "Pause [b]x[/b]?"
        await pilot.press(*keys)
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result is expected


async def test_stop_dialog_reason_and_cancel() -> None:
    app = FormHarness(StopDialog("ds/run_[1]", status="RUNNING"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert plain(app.form.query_one("#question", Static)) == "Stop ds/run_[1]?  (RUNNING)"
        await pilot.press(*"  late data ")
        await pilot.click("#stop")
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result == "late data"
    app = FormHarness(StopDialog("ds/run"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result is None


# -- backfill (validates against the store) -------------------------------------------


async def test_backfill_form_live_preview_and_errors(store: Any) -> None:
    build_store()
    spec = parse_spec(SPEND_YAML.encode(), "spend.yaml").spec
    from datetime import date

    app = FormHarness(BackfillForm(SPEND, "code", spec, today=date(2024, 5, 2)))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        preview = lambda: plain(form.query_one("#preview", Static))  # noqa: E731
        assert preview().startswith("7 runs one after another, logical dates (UTC):")
        assert "… 3 more …" in preview()
        form.query_one("#end", Input).value = "2024-04-01"
        await settle(pilot)
        assert preview() == "Backfill start 2024-04-25 is after end 2024-04-01"
        form.query_one("#start", Input).value = "2020-01-01"
        form.query_one("#end", Input).value = "2024-01-01"
        await settle(pilot)
        assert "limit is 1000" in preview()
        form.query_one("#start", Input).value = "2024-02-30"
        await settle(pilot)
        assert preview().startswith("Backfill dates must be YYYY-MM-DD")
        form.action_submit()
        await settle(pilot)
        assert app.result is NO_RESULT
        assert error_of(form, "#form-error").startswith("Backfill dates must be YYYY-MM-DD")


async def test_backfill_form_dry_run_lists_every_date_and_submit(store: Any) -> None:
    build_store()
    spec = parse_spec(SPEND_YAML.encode(), "spend.yaml").spec
    from datetime import date

    app = FormHarness(BackfillForm(SPEND, None, spec, today=date(2024, 5, 2)))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        await pilot.click("#dry-run")
        await settle(pilot)
        text = plain(form.query_one("#preview", Static))
        assert text.count("06:00 UTC") == 7 and "more" not in text
        assert app.result is NO_RESULT
        await pilot.click("#parallel")
        await pilot.click("#submit")
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result == BackfillRequest("2024-04-25", "2024-05-01", parallel=True)
        assert app.result.action_params() == {"start": "2024-04-25", "end": "2024-05-01",
                                              "parallel": True, "dry_run": False,
                                              "parameters": {}}


async def test_backfill_form_parameter_errors(store: Any) -> None:
    build_store()
    from datetime import date

    app = FormHarness(BackfillForm(CLICKS, "code", clicks_spec(), today=date(2024, 5, 2)))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        text = plain(form.query_one("#preview", Static))
        # execution_date takes each run's logical date: shown, not asked for
        assert text.startswith("7 runs") and "Missing" not in text
        labels = [plain(label) for label in form.query(".field-label").results(Static)]
        assert labels[0] == "execution_date  date  each run's logical date"
        assert not form.query("#param-0")
        form.query_one("#fields").set_value("limit", "x1")
        await settle(pilot)
        assert error_of(form, "#param-1-error") == "Parameter 'limit' must be an int, got 'x1'"
        form.action_submit()
        await settle(pilot)
        assert app.result is NO_RESULT
        form.query_one("#fields").set_value("limit", "12")
        await settle(pilot)
        form.action_submit()
        await pilot_until(pilot, lambda: app.result is not NO_RESULT)
        assert app.result.parameters == {"limit": "12"}

"""The backfill form: date range, parallel or sequential, parameters, and a live preview
of the logical dates the daemon would create (computed by the same validation the daemon
runs, in a thread worker; nothing is queued until "Backfill" is pressed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from basecamp_tui.forms.dialogs import DIALOG_CSS
from basecamp_tui.forms.params import ParameterFields
from daemon.actions import MAX_BACKFILL_RUNS, backfill_dates, validate_request
from daemon.core.errors import BasecampError
from daemon.core.timefmt import fire_time
from daemon.specs import DatasetSpec

PREVIEW_HEAD = 3


@dataclass(frozen=True)
class BackfillRequest:
    """A validated backfill: the params the daemon expects, minus ``dry_run``."""

    start: str
    end: str
    parallel: bool = False
    parameters: dict[str, str] = field(default_factory=dict)

    def action_params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "parallel": self.parallel,
                "dry_run": False, "parameters": dict(self.parameters)}


@dataclass
class PreviewReady(Message):
    """The logical dates (UTC) of a proposed backfill, or why it would be refused."""

    seq: int
    request: BackfillRequest
    dates: list[datetime]
    error: str | None
    intent: str
    """"live" (typing), "dry_run" (the button) or "submit"."""


def preview_text(dates: list[datetime], zone: str, *, full: bool, parallel: bool) -> Text:
    tz = ZoneInfo(zone)
    noun = "run" if len(dates) == 1 else "runs"
    mode = "in parallel" if parallel else "one after another"
    text = Text.assemble((f"{len(dates)} {noun}", "bold"), f" {mode}, logical dates ({zone}):")
    shown = dates if full or len(dates) <= PREVIEW_HEAD + 1 else dates[:PREVIEW_HEAD]
    for when in shown:
        text.append(f"\n  {fire_time(when, tz)}")
    if len(shown) < len(dates):
        text.append(f"\n  … {len(dates) - len(shown) - 1} more …", style="dim")
        text.append(f"\n  {fire_time(dates[-1], tz)}")
    return text


class BackfillForm(ModalScreen[BackfillRequest | None]):
    """Dismisses with a ``BackfillRequest`` the daemon's validation accepted, or None."""

    DEFAULT_CSS = "BackfillForm { align: center middle; }\n" + DIALOG_CSS + """
    BackfillForm .dates { height: auto; }
    BackfillForm .dates Label { padding: 1 1 0 0; }
    BackfillForm .dates Input { width: 16; }
    BackfillForm #preview { margin-top: 1; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Backfill", id="form.submit"),
        Binding("ctrl+d", "dry_run", "Dry run", id="form.dry_run"),
    ]

    def __init__(self, dataset: str, source_type: str | None, spec: DatasetSpec,
                 *, today: date) -> None:
        super().__init__()
        self.dataset = dataset
        self.source_type = source_type
        self.spec = spec
        self.today = today
        self._seq = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text.assemble("Backfill ", (self.dataset, "bold")),
                         classes="dialog-title")
            with Horizontal(classes="dates"):
                yield Label("Start")
                yield Input((self.today - timedelta(days=7)).isoformat(), id="start",
                            placeholder="YYYY-MM-DD", max_length=10)
                yield Label(" End")
                yield Input((self.today - timedelta(days=1)).isoformat(), id="end",
                            placeholder="YYYY-MM-DD", max_length=10)
            yield Checkbox("Parallel: start all runs at once", id="parallel")
            yield ParameterFields(self.spec, backfill=True, id="fields")
            yield Static("", id="preview")
            yield Static("", classes="field-error -empty", id="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Dry run", id="dry-run")
                yield Button("Backfill", variant="primary", id="submit")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#start", Input).focus()
        self._preview("live")

    def request(self) -> BackfillRequest:
        return BackfillRequest(
            start=self.query_one("#start", Input).value.strip(),
            end=self.query_one("#end", Input).value.strip(),
            parallel=self.query_one("#parallel", Checkbox).value,
            parameters=self.query_one("#fields", ParameterFields).values(),
        )

    def _preview(self, intent: str) -> None:
        self._seq += 1
        self._validate(self._seq, self.request(), intent)

    @work(thread=True, exclusive=True, group="backfill-preview", exit_on_error=False)
    def _validate(self, seq: int, request: BackfillRequest, intent: str) -> None:
        params = {"start": request.start, "end": request.end,
                  "parameters": request.parameters}
        try:
            checked = validate_request("backfill", self.dataset, self.source_type, params)
        except BasecampError as exc:
            # still show the dates when only the parameters are wrong
            self.post_message(PreviewReady(seq, request, self._dates(request), str(exc), intent))
        else:
            self.post_message(PreviewReady(seq, request, checked.logical_dates, None, intent))

    def _dates(self, request: BackfillRequest) -> list[datetime]:
        try:
            start, end = date.fromisoformat(request.start), date.fromisoformat(request.end)
        except ValueError:
            return []
        if start > end:
            return []
        dates = backfill_dates(self.spec.schedule.cron, self.spec.schedule.timezone, start, end)
        return dates if len(dates) <= MAX_BACKFILL_RUNS else []

    def on_preview_ready(self, message: PreviewReady) -> None:
        if message.seq != self._seq:
            return  # an older request; a newer preview is on its way
        preview = self.query_one("#preview", Static)
        text = Text()
        if message.dates:
            text = preview_text(message.dates, self.spec.schedule.timezone,
                                full=message.intent == "dry_run" and message.error is None,
                                parallel=message.request.parallel)
        if message.error is not None:
            if text:
                text.append("\n")
            text.append(message.error, style="red")
        preview.update(text)
        problem = message.error
        if problem is None:
            problem = self.query_one("#fields", ParameterFields).problem()
        error = self.query_one("#form-error", Static)
        show = message.intent == "submit" and problem is not None
        error.update(Text(problem if show and problem else ""))
        error.set_class(not show, "-empty")
        if message.intent == "dry_run" and problem is None:
            count = len(message.dates)
            self.notify(f"Dry run: {count} run{'s' if count != 1 else ''} would be created; "
                        "nothing was queued.", markup=False)
        if message.intent == "submit" and problem is None:
            self.dismiss(message.request)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._preview("live")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._preview("live")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {"submit": self.action_submit, "dry-run": self.action_dry_run}
        actions.get(event.button.id or "", self.action_cancel)()

    def action_submit(self) -> None:
        self._preview("submit")

    def action_dry_run(self) -> None:
        self._preview("dry_run")

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Queueing actions from the dashboard (SPEC §4): check against the store, confirm, enqueue.

``ActionRequests`` is what the main screen and the detail screens call on a selected row.
Store reads and ``enqueue`` run in thread workers; dialogs run on the UI thread. A request
the store can refuse is checked before the dialog opens (so an overridden row says why at
once), and ``enqueue`` checks it again. Rejections are error notifications carrying the
SPEC §2 message, shown literally (``markup=False``); success calls ``app.track_action``.

The app must provide ``read_only``, ``config``, ``clock`` and ``track_action(action_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import App
from textual.screen import Screen

from basecamp_tui.forms import (
    BackfillForm,
    ConfirmDialog,
    MarkDialog,
    StopDialog,
    TriggerForm,
)
from basecamp_tui.forms.backfill import BackfillRequest
from basecamp_tui.forms.respond import RespondDialog, RespondRequest, request_params
from basecamp_tui.forms.trigger import TriggerRequest
from daemon.actions import checked_run, checked_target, enqueue, wait_for
from daemon.core.errors import BasecampError, UserError
from daemon.core.states import ActionState, WorkflowStatus
from daemon.read.hitl import hitl_unsupported
from daemon.read.runs import input_requests, log_fetch_open

log = logging.getLogger(__name__)

PREVIEW_SECONDS = 30.0
"""How long the clear waits for Airflow's preview through the daemon."""
READ_ONLY_MESSAGE = "read-only: actions are disabled (started with --read-only)"


class ActionRequests:
    """The dashboard's action keys, as methods. Each returns at once; the work happens in
    thread workers of ``app`` (group ``"actions"``)."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app

    # -- the keys ---------------------------------------------------------------------

    def toggle_pause(self, dataset: str, source_type: str | None = None) -> None:
        """``p``: confirm "Pause X?" or "Unpause X?" (from the row's state), then queue."""
        self._start(self._prepare_pause, dataset, source_type)

    def trigger(self, dataset: str, source_type: str | None = None) -> None:
        """``t``: the parameter form of the spec; a paused workflow offers "force"."""
        self._start(self._prepare_trigger, dataset, source_type)

    def stop(self, run_id: str) -> None:
        """``s``: confirm with an optional reason, then queue a stop of ``DATASET/RUN_ID``."""
        self._start(self._prepare_stop, run_id)

    def backfill(self, dataset: str, source_type: str | None = None) -> None:
        """``b``: the backfill form (dates, parallel, parameters, dry-run preview)."""
        self._start(self._prepare_backfill, dataset, source_type)

    def fetch_log(self, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> None:
        """``l``: ask the daemon for the log tail of one task try (no confirmation)."""
        if try_number < 1:
            self._notify_error(f"{task_id} has not started yet: there is no log to fetch.")
            return
        params = {"task_id": task_id, "try_number": int(try_number), "map_index": int(map_index)}
        label = f"log of {task_id} (try {try_number})"
        self._start(self._enqueue, "fetch_log", run_id, None, params, None, label)

    def follow_log(self, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> None:
        """The log pane following a running task: ask the daemon for the new part of the
        log (``follow``: it continues from Airflow's token), unless a fetch of this task is
        still open. Quiet: no notification, no outcome tracked, nothing in read-only."""
        if getattr(self.app, "read_only", False) or try_number < 1:
            return
        params = {"task_id": task_id, "try_number": int(try_number), "map_index": int(map_index),
                  "follow": True}
        self.app.run_worker(partial(self._follow, run_id, params), thread=True,
                            group="follow-log", exclusive=True, exit_on_error=False,
                            name="action:follow_log")

    def _follow(self, run_id: str, params: dict[str, Any]) -> None:
        try:
            if not log_fetch_open(run_id, params["task_id"], params["map_index"]):
                enqueue("fetch_log", run_id, params=params)
        except Exception:  # the next tick tries again; the pane says when it last fetched
            log.warning("could not queue a log follow-up fetch for %s", run_id, exc_info=True)

    def clear(self, run_ids: list[str], task_ids: list[str] | None = None) -> None:
        """``c``: ask the daemon for Airflow's own preview of the clear (its dry run), show
        which task instances it clears, then queue one clear per run."""
        self._start(self._prepare_clear, list(run_ids), task_ids)

    def mark(self, run_ids: list[str], task_id: str | None = None, map_index: int = -1) -> None:
        """``M``: success or failed, for the runs (or one task of one run: one mapped
        instance of it when ``map_index`` is given)."""
        self._start(self._prepare_mark, list(run_ids), task_id, map_index)

    def respond(self, run_id: str, task_id: str | None = None) -> None:
        """``i``: the question of the run's task waiting for input (the selected task's,
        else the first), answered in a dialog, then queued."""
        self._start(self._prepare_respond, run_id, task_id)

    def pause_many(self, datasets: list[str]) -> None:
        """``p`` on several workflows: one question, one action each. All paused:
        unpause them; otherwise pause them."""
        self._start(self._prepare_pause_many, list(datasets))

    def stop_many(self, run_ids: list[str]) -> None:
        """``s`` on several runs: one question (and reason), one stop each."""
        self._start(self._prepare_stop_many, list(run_ids))

    def sync_now(self) -> None:
        """``r``: queue a spec sync and a run sync."""
        if self._refused():
            return
        self._start(self._enqueue, "sync_specs", "*", None, None, None, "spec sync")
        self._start(self._enqueue, "sync_runs", "*", None, None, None, "run sync")

    # -- steps run in thread workers --------------------------------------------------

    def _prepare_pause(self, dataset: str, source_type: str | None) -> None:
        row = checked_target("pause", dataset, source_type)
        kind = "unpause" if row.is_paused or row.status == WorkflowStatus.PAUSED else "pause"
        question = Text.assemble(f"{kind.capitalize()} ", (dataset, "bold"), "?")
        detail = Text(f"{row.source_type} spec, now {row.status}", style="dim")

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(self._enqueue, kind, dataset, source_type, None, None,
                            f"{kind} {dataset}")

        self._ask(ConfirmDialog(question, detail=detail,
                                confirm_label=kind.capitalize()), answered)

    def _prepare_trigger(self, dataset: str, source_type: str | None) -> None:
        row = checked_target("run", dataset, source_type, force=True)
        assert row.spec is not None  # checked: the workflow has a valid spec
        paused = bool(row.is_paused) or row.status == WorkflowStatus.PAUSED
        form = TriggerForm(row.spec, paused=paused)

        def submitted(request: TriggerRequest | None) -> None:
            if request is not None:
                params = {"parameters": dict(request.parameters), "force": request.force}
                self.submit_run(dataset, source_type, params)

        self._ask(form, submitted)

    def _prepare_backfill(self, dataset: str, source_type: str | None) -> None:
        row = checked_target("backfill", dataset, source_type)
        assert row.spec is not None  # checked: the workflow has a valid spec
        form = BackfillForm(dataset, source_type, row.spec, today=self.app.clock().date())

        def submitted(request: BackfillRequest | None) -> None:
            if request is not None:
                self._start(self._enqueue, "backfill", dataset, source_type,
                            request.action_params(), None,
                            f"backfill {dataset} {request.start}..{request.end}")

        self._ask(form, submitted)

    def _prepare_stop(self, run_id: str) -> None:
        run = checked_run("stop", run_id)
        if not run.active:
            raise UserError(f"Run {run.public_id} already finished ({run.status}): "
                            "there is nothing to stop.")
        public_id = run.public_id

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._start(self._enqueue, "stop", public_id, None, None, reason,
                            f"stop {public_id}")

        self._ask(StopDialog(public_id, status=run.status), answered)

    def _prepare_clear(self, run_ids: list[str], task_ids: list[str] | None) -> None:
        runs = [checked_run("clear", run_id) for run_id in run_ids]
        params = {"task_ids": task_ids or [], "failed_only": not task_ids, "downstream": True}
        previews = {}
        for run in runs:
            action = enqueue("clear", run.public_id, params={**params, "dry_run": True})
            outcome = wait_for(action.id, PREVIEW_SECONDS)
            if outcome.state != ActionState.DONE:
                raise UserError(f"No preview of the clear from the daemon for {run.public_id}: "
                                + (outcome.message or "is the daemon running? (basecamp daemon)"))
            previews[run.public_id] = (outcome.result or {}).get("task_instances") or []
        to_clear = {run_id: tasks for run_id, tasks in previews.items() if tasks}
        if not to_clear:
            what = "the named tasks" if task_ids else "no failed task"
            self.app.call_from_thread(self._notify_error, f"Nothing to clear: {what} in "
                                      f"{len(runs)} run(s) (Airflow's answer).")
            return
        clusters = {run.cluster for run in runs if run.public_id in to_clear}
        count = sum(len(tasks) for tasks in to_clear.values())
        question = Text(f"Clear {count} task instance(s) in {len(to_clear)} run(s)"
                        f"{f' on {len(clusters)} clusters' if len(clusters) > 1 else ''}?")
        detail = Text(style="dim")
        for run_id, tasks in list(to_clear.items())[:8]:
            detail.append(f"{run_id}: {', '.join(tasks)}\n")
        if len(to_clear) > 8:
            detail.append(f"… and {len(to_clear) - 8} more runs\n")
        detail.append("Airflow runs them again (its own preview).")

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(self._enqueue_many, "clear", list(to_clear),
                            {**params, "dry_run": False}, None, "clear")

        self._ask(ConfirmDialog(question, detail=detail, confirm_label="Clear"), answered)

    def _prepare_mark(self, run_ids: list[str], task_id: str | None, map_index: int) -> None:
        runs = [checked_run("mark", run_id) for run_id in run_ids]
        task = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        what = Text(f"task {task} of {runs[0].public_id}" if task_id and len(runs) == 1
                    else runs[0].public_id if len(runs) == 1 else f"{len(runs)} runs")
        effect = ("Airflow sets the task's state; downstream tasks follow their trigger rules."
                  if task_id else "Airflow sets the run's state; tasks still running end on "
                  "their own.")

        def chosen(state: str | None) -> None:
            if state:
                self._start(self._enqueue_many, "mark", [run.public_id for run in runs],
                            {"state": state, "task_id": task_id, "map_index": map_index}, None,
                            f"mark {state}")

        self._ask(MarkDialog(what, effect), chosen)

    def _prepare_respond(self, run_id: str, task_id: str | None) -> None:
        run = checked_run("respond", run_id)
        requests = input_requests(run)
        if not requests:
            raise UserError(hitl_unsupported(run.cluster)
                            or f"No task of {run.public_id} is waiting for input.")
        request = next((r for r in requests if r.task_id == task_id), requests[0])
        public_id = run.public_id

        def answered(answer: RespondRequest | None) -> None:
            if answer is not None:
                self._start(self._enqueue, "respond", public_id, None,
                            request_params(answer, request.task_id, request.map_index), None,
                            f"answer {request.label}: {', '.join(answer.options)}")

        self._ask(RespondDialog(public_id, request), answered)

    def _prepare_pause_many(self, datasets: list[str]) -> None:
        rows = [checked_target("pause", dataset) for dataset in datasets]
        paused = all(row.is_paused or row.status == WorkflowStatus.PAUSED for row in rows)
        kind = "unpause" if paused else "pause"
        question = Text(f"{kind.capitalize()} {len(rows)} workflows?")
        detail = Text(", ".join(row.dataset_name for row in rows[:12])
                      + (f" … and {len(rows) - 12} more" if len(rows) > 12 else ""), style="dim")

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(self._enqueue_many, kind, datasets, None, None, kind)

        self._ask(ConfirmDialog(question, detail=detail, confirm_label=kind.capitalize()),
                  answered)

    def _prepare_stop_many(self, run_ids: list[str]) -> None:
        runs = [run for run in (checked_run("stop", run_id) for run_id in run_ids) if run.active]
        if not runs:
            raise UserError("None of the selected runs is running: nothing to stop.")

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._start(self._enqueue_many, "stop", [run.public_id for run in runs], None,
                            reason, "stop")

        self._ask(StopDialog(f"{len(runs)} runs"), answered)

    def _enqueue_many(self, kind: str, targets: list[str], params: dict[str, Any] | None,
                      reason: str | None, label: str) -> None:
        """One action per target; a target the store refuses is reported with the rest."""
        ids, refused = [], []
        for target in targets:
            try:
                ids.append(enqueue(kind, target, params=params, reason=reason,
                                   max_spec_bytes=self.app.config.storage.max_spec_bytes).id)
            except BasecampError as exc:
                refused.append(f"{target}: {exc}")
        if refused:
            self.app.call_from_thread(self._notify_error, f"{label}: {len(refused)} refused\n"
                                      + "\n".join(refused[:5]))
        if ids:
            self.app.call_from_thread(self.app.track_batch, ids, f"{label} ×{len(ids)}")
            self.app.call_from_thread(self.app.notify, f"Queued: {label} ×{len(ids)}",
                                      markup=False)

    def submit_run(self, dataset: str, source_type: str | None, params: dict[str, Any]) -> None:
        """Queue a run with ``params`` (``{"parameters": {...}, "force": bool}``) as given;
        the trigger form calls this, and so can a command palette entry."""
        self._start(self._enqueue, "run", dataset, source_type, params, None, f"run {dataset}")

    def _enqueue(self, kind: str, target: str, source_type: str | None,
                 params: dict[str, Any] | None, reason: str | None, label: str) -> None:
        action = enqueue(kind, target, source_type=source_type, params=params, reason=reason,
                         max_spec_bytes=self.app.config.storage.max_spec_bytes)
        self.app.call_from_thread(self._queued, action.id, label)

    # -- plumbing ---------------------------------------------------------------------

    def _refused(self) -> bool:
        if getattr(self.app, "read_only", False):
            self.app.notify(READ_ONLY_MESSAGE, severity="warning", markup=False)
        return bool(getattr(self.app, "read_only", False))

    def _start(self, step: Callable[..., None], *args: Any) -> None:
        if self._refused():
            return
        self.app.run_worker(partial(self._guarded, step, *args), thread=True,
                            group="actions", exit_on_error=False,
                            name=f"action:{step.__name__}")

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except BasecampError as exc:
            self.app.call_from_thread(self._notify_error, str(exc))
        except Exception as exc:  # a bug: keep the dashboard up, say so, log it
            log.exception("action request failed")
            self.app.call_from_thread(self._notify_error, f"Could not queue the action: {exc!r}")

    def _ask(self, screen: Screen[Any], callback: Callable[[Any], None]) -> None:
        self.app.call_from_thread(self.app.push_screen, screen, callback)

    def _queued(self, action_id: int, label: str) -> None:
        self.app.track_action(action_id)
        self.app.notify(f"Queued: {label}", markup=False)

    def _notify_error(self, message: str) -> None:
        self.app.notify(message, severity="error", markup=False, timeout=10)


def requests_for(app: App[Any]) -> ActionRequests:
    """The app's ``ActionRequests``; a read-only app has none, so a stand-in that refuses
    every action (and says so) is returned."""
    requests = getattr(app, "requests", None)
    return requests if requests is not None else ActionRequests(app)

"""Queueing an action for the daemon and waiting for its outcome (SPEC §4, §8).

Exit codes: 0 done; 1 rejected or failed; 3 daemon not running, or the wait timed out
(the action stays queued and the daemon still carries it out).

``--no-wait`` queues even while no daemon runs: the action is carried out when a daemon
next starts (``basecamp daemon --once`` from cron is a supported way to run basecamp). A
command that waits refuses instead, queues nothing and exits 3.
"""

from __future__ import annotations

from typing import Any

import click

from basecamp_cli.options import globals_of
from basecamp_cli.output import print_json
from daemon.actions import (
    Action,
    enqueue_checked,
    outcome_json,
    validate_request,
    wait_for,
)
from daemon.core.config import Config
from daemon.core.errors import BasecampError, DaemonUnavailable
from daemon.core.states import OPEN_ACTION_STATES, ActionState
from daemon.read.status import daemon_status, require_daemon

DEFAULT_TIMEOUT_SECONDS = 120.0


class ActionFailed(BasecampError):
    """The daemon rejected the action or could not carry it out (exit 1)."""


def submit(ctx: click.Context, config: Config, kind: str, target: str, *,
           source_type: str | None = None, params: dict[str, Any] | None = None,
           reason: str | None = None, wait_default: float | None = DEFAULT_TIMEOUT_SECONDS,
           ) -> Action:
    """Validate, queue, and (unless --no-wait) wait for the outcome and print it."""
    options = globals_of(ctx)
    # The store's verdict first: a rejected request is reported even with the daemon down.
    checked = validate_request(kind, target, source_type, params,
                               max_spec_bytes=config.storage.max_spec_bytes)
    if options.no_wait:
        daemon = daemon_status(config.daemon.stale_after_seconds)
        action = enqueue_checked(checked, source_type=source_type, reason=reason)
        _print(options.format, action, f"Queued action {action.id}: {kind} {action.target}")
        if not daemon.running:
            click.echo(f"Note: {daemon.describe()}; the action runs when a daemon next "
                       "starts (`basecamp daemon`, or `basecamp daemon --once`).", err=True)
        return action
    require_daemon(config.daemon.stale_after_seconds)
    action = enqueue_checked(checked, source_type=source_type, reason=reason)
    timeout = options.timeout if options.timeout is not None else wait_default
    action = wait_for(action.id, timeout, on_update=_progress_printer(options.format))
    if action.state in OPEN_ACTION_STATES:
        if options.format == "json":
            print_json(outcome_json(action))
        raise DaemonUnavailable(
            f"Timed out after {timeout:g} s waiting for the daemon; action {action.id} is still "
            f"{action.state} and will be carried out. Follow it with: basecamp events --kind action"
        )
    _print(options.format, action, action.message or action.state)
    if action.state != ActionState.DONE:
        raise ActionFailed(action.message or action.state)
    return action


def _print(fmt: str, action: Action, text: str) -> None:
    if fmt == "json":
        print_json(outcome_json(action))
    elif action.state == ActionState.DONE or action.state in OPEN_ACTION_STATES:
        click.echo(text)


def _progress_printer(fmt: str) -> Any:
    """Backfill progress on stderr (``3/10 runs done``), each change once."""
    last: list[tuple[int, int]] = []

    def show(action: Action) -> None:
        if fmt == "json" or action.progress_total is None:
            return
        now = (action.progress_done or 0, action.progress_total)
        if not last or last[-1] != now:
            last.append(now)
            click.echo(f"{now[0]}/{now[1]} runs done", err=True)

    return show

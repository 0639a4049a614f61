"""``basecamp ui [--read-only]`` (and bare ``basecamp``): the dashboard."""

from __future__ import annotations

import click

from basecamp_cli.options import global_options
from basecamp_cli.store import open_for_cli


@click.command("ui")
@click.option("--read-only", is_flag=True, help="Look only: no key or command queues an action.")
@global_options
@click.pass_context
def ui_command(ctx: click.Context, read_only: bool) -> None:
    """The dashboard: workflows, runs, clusters and events, following the store live."""
    config = open_for_cli(ctx)
    # Textual is imported only here: the scriptable commands start without it.
    from basecamp_tui.app import BasecampApp

    BasecampApp(config, read_only=read_only).run()

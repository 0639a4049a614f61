"""The ``basecamp`` (alias ``dli``) command line: a thin layer over ``daemon``.

Errors basecamp expects are printed as one ``Error: …`` line on stderr with the exit
code of their class (1 invalid/rejected, 3 daemon, 4 not found); usage errors exit 2.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from basecamp_cli.config_check import config_group
from basecamp_cli.demo import demo_command
from basecamp_cli.inspect import clusters_command, events_command, specs_command
from basecamp_cli.options import global_options, globals_of
from basecamp_cli.ui import ui_command
from basecamp_cli.workflow import workflow
from daemon.core.config import Config, load_config
from daemon.core.errors import BasecampError
from daemon.core.logfmt import JsonFormatter, StderrHandler
from daemon.store.db import upgrade_store


def load(ctx: click.Context) -> Config:
    return load_config(globals_of(ctx).config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@global_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """basecamp: a terminal control room for dataset workflows on Apache Airflow.

    Without a command it opens the dashboard (basecamp ui)."""
    globals_of(ctx)
    if ctx.invoked_subcommand is None:
        ctx.invoke(ui_command, read_only=False)


@cli.command("daemon")
@click.option("--once", is_flag=True,
              help="One spec sync, one run sync and every pending action, then exit.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines on stderr: text, or one JSON object per line.")
@click.option(
    "--allow-mass-removal", is_flag=True,
    help="Apply a spec sync that removes more than max_delete_fraction of the workflows.",
)
@global_options
@click.pass_context
def daemon_command(ctx: click.Context, once: bool, log_format: str,
                   allow_mass_removal: bool) -> None:
    """Sync specs, runs and cluster health into the store and carry out queued actions
    (foreground; logs to stderr; SIGTERM stops, SIGHUP reloads the config)."""
    from daemon.runtime.daemon import Daemon

    config = load(ctx)
    configure_logging(globals_of(ctx).verbose, log_format)
    runner = Daemon(config, config_path=globals_of(ctx).config)
    if once:
        try:
            failures = runner.run_once(allow_mass_removal=allow_mass_removal)
        finally:
            runner.close()
        if failures:
            raise BasecampError("; ".join(failures))
        return
    code = runner.run_forever()
    logging.shutdown()
    sys.stderr.flush()
    # A sync still running in a pool thread would hold the interpreter's exit past
    # systemd's stop timeout; its transaction is rolled back, so nothing is lost.
    os._exit(code)


@cli.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@global_options
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations."""
    applied, version = upgrade_store(load(ctx).database.url)
    if applied:
        click.echo(f"Applied migrations {', '.join(map(str, applied))}; schema is at version {version}.")
    else:
        click.echo(f"Schema is up to date (version {version}).")


cli.add_command(workflow)
cli.add_command(demo_command)
cli.add_command(config_group)
cli.add_command(ui_command)
cli.add_command(specs_command)
cli.add_command(events_command)
cli.add_command(clusters_command)


def configure_logging(verbose: int, log_format: str = "text") -> None:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                        handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="basecamp", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BasecampError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

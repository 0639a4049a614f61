"""``basecamp demo``: real runs moving on a fresh machine, in one command.

It installs a private Apache Airflow 3 under the user cache directory on first use (with
progress), starts it on loopback with the DAG factory and a demo spec store, starts the
daemon on a demo store, queues a first run and opens the dashboard. Quitting the
dashboard, Ctrl-C or closing the terminal stops everything the demo started. The user's
own config and store are not read or changed.
"""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--reset", "start_over", is_flag=True,
              help="Start over: forget the demo's store, Airflow database and specs "
                   "(the installed Airflow is kept).")
@click.option("--read-only", is_flag=True, help="Open the dashboard without action keys.")
def demo_command(start_over: bool, read_only: bool) -> None:
    """A local Airflow 3, the daemon and the dashboard on a demo world of their own."""
    # Imported here: every other command (and the dashboard) starts without them.
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from basecamp_cli.demo.project import reset
    from basecamp_cli.demo.session import (
        DemoInterrupted,
        DemoSession,
        Interrupts,
        demo_paths,
    )

    where = demo_paths()
    if start_over:
        reset(where)
    where.state.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    session = DemoSession(where, progress=lambda _text: None)
    with Interrupts() as interrupts:
        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                step = progress.add_task("basecamp demo", total=None)
                session.progress = lambda text: progress.update(step, description=text)
                config = session.start()
            # Textual is imported only here: the scriptable commands start without it.
            from basecamp_tui.app import BasecampApp

            interrupts.app = BasecampApp(config, read_only=read_only)
            interrupts.app.run()
        except (KeyboardInterrupt, DemoInterrupted):
            console.print("Stopping the demo…")
        finally:
            interrupts.stopping = True
            session.progress = lambda text: console.print(f"{text}…")
            session.stop()
    console.print(f"The demo stopped; nothing it started is running. Its files are in "
                  f"{where.state} (`basecamp demo --reset` starts over).")

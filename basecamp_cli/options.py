"""Global options, accepted before or after the subcommand (like kubectl's flags).

Each option is declared on the root group and on every leaf command; whichever position
the user wrote it in sets the one ``Globals`` object of the invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import click


@dataclass
class Globals:
    config: str | None = None
    format: str = "table"
    no_wait: bool = False
    timeout: float | None = None
    verbose: int = 0


def globals_of(ctx: click.Context) -> Globals:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Globals()
    return root.obj


def _store(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False or value == 0:
            return
        target = globals_of(ctx)
        if attribute == "verbose":
            value = target.verbose + value
        setattr(target, attribute, value)

    return callback


GLOBAL_OPTIONS = (
    click.option(
        "--config", type=click.Path(dir_okay=False), default=None, expose_value=False,
        callback=_store("config"), is_eager=True,
        help="Config file (default: $BASECAMP_CONFIG, ./basecamp.toml, the user config dir).",
    ),
    click.option(
        "--format", type=click.Choice(["table", "json"]), default=None, expose_value=False,
        callback=_store("format"), help="Output format.",
    ),
    click.option(
        "--no-wait", is_flag=True, default=False, expose_value=False,
        callback=_store("no_wait"), help="Queue the action and return without waiting.",
    ),
    click.option(
        "--timeout", type=click.FloatRange(min=0), default=None, expose_value=False,
        callback=_store("timeout"), metavar="SECONDS", help="How long to wait for the daemon.",
    ),
    click.option(
        "-v", "--verbose", count=True, expose_value=False,
        callback=_store("verbose"), help="More log output (repeat for more).",
    ),
)


def global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(GLOBAL_OPTIONS):
        func = option(func)
    return func

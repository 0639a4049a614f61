"""Opening the configured store for a CLI command."""

from __future__ import annotations

import click

from basecamp_cli.options import globals_of
from daemon.config import Config, load_config
from daemon.store.db import open_store


def open_for_cli(ctx: click.Context) -> Config:
    """Load the config and open its store (a new store gets its schema at once, so the
    read commands work before the daemon has ever run)."""
    config = load_config(globals_of(ctx).config)
    open_store(config.database.url)
    return config

"""Opening the configured store for a CLI command (and the dashboard).

Readers never write outside the action queue: no migration (the daemon and ``basecamp db
upgrade`` own the schema) and no cluster rows (the daemon's config defines the clusters;
a laptop's config may hold nothing but ``[database]`` pointing at a shared store).
"""

from __future__ import annotations

import click

from basecamp_cli.options import globals_of
from daemon.core.config import Config, load_config
from daemon.store.db import open_for_reading


def open_for_cli(ctx: click.Context) -> Config:
    """Load the config and open its store for reading and queueing actions."""
    config = load_config(globals_of(ctx).config)
    open_for_reading(config.database.url)
    return config

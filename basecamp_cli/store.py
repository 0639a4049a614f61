"""Opening the configured store for a CLI command."""

from __future__ import annotations

import click

from basecamp_cli.options import globals_of
from daemon.store.clusters import upsert_clusters
from daemon.core.config import Config, load_config
from daemon.store.db import open_store


def open_for_cli(ctx: click.Context) -> Config:
    """Load the config and open its store (a new store gets its schema at once, so the
    read commands work before the daemon has ever run). Clusters are configuration, so
    their rows follow the config the command was given."""
    config = load_config(globals_of(ctx).config)
    open_store(config.database.url)
    upsert_clusters(config.clusters)
    return config

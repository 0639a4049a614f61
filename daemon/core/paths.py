"""Where basecamp keeps its files by default, in one place.

Functions rather than module constants: platformdirs reads ``XDG_DATA_HOME`` /
``XDG_CONFIG_HOME`` (and their platform equivalents) when called, so tests and
long-running processes see the environment as it is now, not as it was at import.
"""

from pathlib import Path

import platformdirs

APP_NAME = "basecamp"


def user_data_dir() -> Path:
    """The per-user data directory (default database and local spec store live here)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_config_dir() -> Path:
    """The per-user config directory (``config.toml`` is looked up here last)."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def default_database_url() -> str:
    """A SQLite URL for ``basecamp.db`` in the user data directory (absolute path)."""
    return "sqlite:///" + str((user_data_dir() / "basecamp.db").absolute())


def default_spec_dir() -> Path:
    """The root of the local spec store when ``[storage] path`` is not set."""
    return user_data_dir() / "specs"


def user_cache_dir() -> Path:
    """The per-user cache directory (the demo's Airflow environment and state)."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def ui_state_file() -> Path:
    """What the dashboard remembers between starts (the theme chosen in it)."""
    return user_config_dir() / "ui-state.json"

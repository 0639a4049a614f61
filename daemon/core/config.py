"""basecamp's configuration: one TOML file, validated strictly into frozen dataclasses.

Who reads it: the daemon (at start and on SIGHUP), the CLI and the dashboard (for the
database URL, to find the store). All of them call :func:`load_config`; nothing else
parses the file.

Which file, first match wins (:func:`find_config_file`):

1. the path given with ``--config`` (it must exist);
2. ``$BASECAMP_CONFIG`` (if set, it must exist);
3. ``./basecamp.toml`` in the current directory;
4. ``config.toml`` in the user config directory (``~/.config/basecamp/`` on Linux);
5. none: the embedded defaults (SQLite and a local spec store in the user data dir).

Unknown sections or keys, wrong types and invalid values raise :class:`ConfigError`
naming the file, the line and the key. Defaults are resolved here, so consumers get
concrete values (a database URL, an absolute spec directory). Secrets are never read:
the file holds only the *names* of environment variables or a command to run later.
"""

import dataclasses
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from daemon.core import paths
from daemon.core.errors import ConfigError
from daemon.core.toml_lines import LineLocator

ENV_VAR = "BASECAMP_CONFIG"
LOCAL_FILE_NAME = "basecamp.toml"
USER_FILE_NAME = "config.toml"


@dataclass(frozen=True)
class DatabaseConfig:
    """``[database]``: the store (SQLite by default, PostgreSQL when shared)."""

    url: str
    """Peewee database URL; sqlite:///ABS/PATH or postgresql://user@host/db."""


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: the spec store, a local directory or an S3 prefix."""

    type: str = "local"
    """Spec store backend: ``local`` (a directory) or ``s3``."""
    path: str = ""
    """local: the store root, absolute after loading (empty = user data dir/specs)."""
    bucket: str = ""
    prefix: str = "workflows"
    """s3: key prefix of the store root, without leading or trailing slashes."""
    endpoint_url: str = ""
    """s3: alternative endpoint (MinIO, LocalStack, moto); empty = AWS."""
    region: str = ""
    max_spec_bytes: int = 1048576
    """Spec files larger than this are reported as errors, not parsed."""


@dataclass(frozen=True)
class SyncConfig:
    """``[sync]``: the daemon's loop intervals and safety limits."""

    spec_interval_seconds: float = 60.0
    run_interval_seconds: float = 5.0
    busy_interval_seconds: float = 1.0
    """How often a cluster is synced while it has active runs (or any action is open):
    a task's end reaches the store within about this long."""
    health_interval_seconds: float = 30.0
    lookback_hours: float = 24.0
    """How far back the first run sync of a cluster imports runs."""
    stale_threshold_hours: float = 1.0
    """A PENDING/RUNNING run gone from Airflow this long becomes UNKNOWN."""
    max_delete_fraction: float = 0.5
    """A spec sync that would delete more than this share of specs is refused."""


@dataclass(frozen=True)
class ClusterConfig:
    """One ``[[clusters]]`` entry: a team's Airflow cluster and how to reach it."""

    name: str
    team: str
    url: str
    environment: str = "development"
    dag_name_prefix: str = ""
    api_version: str = "auto"
    auth: str = "jwt"
    username: str = ""
    password_env: str = ""
    """Name of the environment variable holding the password (jwt, basic)."""
    token_env: str = ""
    """Name of the environment variable holding a bearer token (token)."""
    token_command: str = ""
    """Shell command printing a bearer token (token); run by the client, not here."""
    verify_tls: bool = True
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class NotificationsConfig:
    """``[notifications]``: names of env vars holding webhook URLs."""

    slack_webhook_url_env: str = "BASECAMP_SLACK_WEBHOOK"
    webhook_url_env: str = ""
    cluster_unreachable_minutes: float = 10.0
    """Notify when a cluster has been unreachable for longer than this."""
    max_attempts: int = 8
    """Delivery attempts per notification (exponential backoff) before giving up."""
    slow_factor: float = 1.5
    """A run is slow (flagged, a ``run_slow`` event) past this many times its workflow's
    usual duration; greater than 1."""
    slow_percentile: int = 90
    """The usual duration: this percentile (1..100) of the recent successful runs."""
    slow_sample_runs: int = 20
    """How many of the latest successful runs the usual duration is taken from."""
    slow_min_runs: int = 5
    """Fewer successful runs than this: no usual duration yet, nothing is slow."""


@dataclass(frozen=True)
class DaemonConfig:
    """``[daemon]``: the runtime loop, its heartbeat and the action executor."""

    heartbeat_seconds: float = 5.0
    stale_after_seconds: float = 30.0
    """A heartbeat older than this means the daemon is not running."""
    action_workers: int = 4
    """Actions carried out at once (a long backfill never blocks a pause)."""
    log_tail_bytes: int = 65536
    """How much of a task log ``fetch_log`` keeps (the end of it)."""


# Dashboard key bindings that ``[ui.keys]`` may remap, with their default keys.
UI_KEY_DEFAULTS: dict[str, str] = {
    "pause": "p", "trigger": "t", "stop": "s", "backfill": "b", "logs": "l",
    "filter": "slash", "sort": "o", "code": "c", "manual": "m", "all": "a",
    "failed": "f", "sync": "r", "help": "question_mark", "quit": "q",
    "clear": "c", "mark": "M", "select": "space", "select_all": "ctrl+a", "respond": "i",
    "grid": "g", "web": "w",
    # The run detail's log pane: tries, search, start / end.
    "try_earlier": "left_square_bracket", "try_later": "right_square_bracket",
    "log_search": "slash", "log_next": "n", "log_previous": "N", "log_start": "g",
    "log_end": "G",
    # The grid's cell cursor (c, M and w there are clear, mark and web).
    "grid_open": "enter", "grid_older": "left", "grid_newer": "right", "grid_up": "up",
    "grid_down": "down", "grid_oldest": "home", "grid_newest": "end",
}


@dataclass(frozen=True)
class UiConfig:
    """``[ui]`` and ``[ui.keys]``: the dashboard."""

    read_only: bool = False
    theme: str = ""
    """A Textual theme name (ctrl+p → "theme"); empty: the one last chosen in the
    dashboard, else Textual's default."""
    keys: tuple[tuple[str, str], ...] = ()
    """Remapped keys as (binding id, Textual key name) pairs; see UI_KEY_DEFAULTS."""

    def key_for(self, binding: str) -> str:
        return dict(self.keys).get(binding, UI_KEY_DEFAULTS[binding])


@dataclass(frozen=True)
class Config:
    """The whole validated file, defaults resolved."""

    database: DatabaseConfig
    storage: StorageConfig
    sync: SyncConfig
    clusters: tuple[ClusterConfig, ...]
    notifications: NotificationsConfig
    source: Path | None
    """The file this was loaded from; None means the embedded defaults."""
    daemon: DaemonConfig = DaemonConfig()
    ui: UiConfig = UiConfig()

    @property
    def spec_dir(self) -> Path:
        """Root of the local spec store (meaningful when ``storage.type == "local"``)."""
        return Path(self.storage.path) if self.storage.path else paths.default_spec_dir()


_SECTIONS = ("database", "storage", "sync", "clusters", "notifications", "daemon", "ui")
_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("storage", "type"): ("local", "s3"),
    ("clusters", "environment"): ("development", "production"),
    ("clusters", "api_version"): ("auto", "v2", "v1"),
    ("clusters", "auth"): ("jwt", "basic", "token", "none"),
}
_POSITIVE = {("storage", "max_spec_bytes"), ("clusters", "timeout_seconds"),
             ("notifications", "cluster_unreachable_minutes"), ("notifications", "max_attempts"),
             ("notifications", "slow_sample_runs"), ("notifications", "slow_min_runs")} | {
    ("daemon", key) for key in ("heartbeat_seconds", "stale_after_seconds", "action_workers",
                                "log_tail_bytes")
} | {
    ("sync", key) for key in ("spec_interval_seconds", "run_interval_seconds",
                              "health_interval_seconds", "lookback_hours", "stale_threshold_hours")
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DAG_PREFIX = re.compile(r"[A-Za-z0-9_.-]*")
_DB_URL = re.compile(r"(sqlite|postgres)[a-z0-9+]*://", re.IGNORECASE)
_T = TypeVar("_T")


# --- finding and loading -------------------------------------------------------------


def find_config_file(explicit: str | None) -> Path | None:
    """Return the config file to use by the search order above, or None for defaults."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path.absolute()
    from_env = os.environ.get(ENV_VAR, "")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"${ENV_VAR} names a config file that does not exist: {path}")
        return path.absolute()
    for candidate in (Path.cwd() / LOCAL_FILE_NAME, paths.user_config_dir() / USER_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None = None) -> Config:
    """Find, read and validate the config file (or return the embedded defaults)."""
    source = find_config_file(explicit)
    if source is None:
        return parse_config("", None)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read config file: {exc}") from exc
    return parse_config(text, source)


def parse_config(text: str, source: Path | None) -> Config:
    """Validate TOML ``text`` into a :class:`Config`; ``source`` is used in messages
    and as the base of relative paths. Pure apart from reading the environment for
    the platform default directories."""
    return _Parser(text, source).parse()


# --- validation ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    section: str
    index: int | None = None

    @property
    def label(self) -> str:
        if self.index is None:
            return f"[{self.section}]"
        return f"[[{self.section}]] #{self.index + 1}"


def _describe(value: object) -> str:
    """Type and value of ``value`` for messages, e.g. ``string "abc"``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return 'string "' + shown.replace('"', '\\"') + '"'
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


_EXPECTED = {
    str: "a string", bool: "a boolean (true or false)", int: "an integer", float: "a number",
}


def _check_type(value: object, expected: type) -> object | None:
    """Return ``value`` converted to ``expected`` or None when the type is wrong."""
    if expected is bool or isinstance(value, bool):
        return value if isinstance(value, bool) and expected is bool else None
    if expected is float and isinstance(value, (int, float)):
        return float(value)
    return value if isinstance(value, expected) else None


class _Parser:
    def __init__(self, text: str, source: Path | None) -> None:
        self._text = text
        self._source = source
        self._name = str(source) if source is not None else "<config>"

    def _fail(self, where: _Where | None, key: str | None, message: str,
              keyed: bool = True) -> ConfigError:
        """An error at the line of ``key`` (or its section); ``keyed`` prefixes the
        message with ``[section] key:``."""
        locator = LineLocator(self._text)  # built only when there is an error
        if where is None:
            line = locator.line_of((key,), None) if key else None
        else:
            line = locator.line_of((where.section, key) if key else (where.section,), where.index)
            if keyed:
                message = f"{where.label} {key}: {message}"
        return ConfigError(f"{self._name}:{line}: {message}" if line else
                           f"{self._name}: {message}")

    def parse(self) -> Config:
        try:
            data = tomllib.loads(self._text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            where = f"{self._name}:{match.group(1)}" if match else self._name
            raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
        for key, value in data.items():
            if key not in _SECTIONS:
                what = f"section [{key}]" if isinstance(value, dict) else f"top-level key '{key}'"
                raise self._fail(None, key, f"unknown {what} (known sections: "
                                 f"{', '.join(_SECTIONS)})")
            if key != "clusters" and not isinstance(value, dict):
                raise self._fail(None, key, f"[{key}]: expected a table, got {_describe(value)}")
        clusters = data.get("clusters", [])
        if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
            raise self._fail(None, "clusters", "clusters: expected an array of tables "
                             f"([[clusters]]), got {_describe(clusters)}")
        # Fixed section order: which error is reported first does not depend on the file.
        database = self._resolve_database(self._section(
            DatabaseConfig, data.get("database", {}), _Where("database"), defaults={"url": ""}))
        storage = self._resolve_storage(
            self._section(StorageConfig, data.get("storage", {}), _Where("storage")))
        sync = self._section(SyncConfig, data.get("sync", {}), _Where("sync"))
        if not 0 < sync.max_delete_fraction <= 1:
            raise self._fail(_Where("sync"), "max_delete_fraction", "must be greater than 0 "
                             f"and at most 1, got {sync.max_delete_fraction:g}")
        parsed = tuple(self._section(ClusterConfig, table, _Where("clusters", i))
                       for i, table in enumerate(clusters))
        self._check_clusters(parsed)
        notifications = self._section(NotificationsConfig, data.get("notifications", {}),
                                      _Where("notifications"))
        self._check_slow(notifications)
        daemon = self._section(DaemonConfig, data.get("daemon", {}), _Where("daemon"))
        return Config(database=database, storage=storage, sync=sync, clusters=parsed,
                      notifications=notifications, source=self._source, daemon=daemon,
                      ui=self._ui(dict(data.get("ui", {}))))

    def _ui(self, table: dict[str, Any]) -> UiConfig:
        keys = table.pop("keys", {})
        if not isinstance(keys, dict):
            raise self._fail(_Where("ui"), "keys", f"expected a table ([ui.keys]), got {_describe(keys)}")
        base = self._section(UiConfig, table, _Where("ui"))
        where = _Where("ui.keys")
        for binding, key in keys.items():
            if binding not in UI_KEY_DEFAULTS:
                raise self._fail(where, binding, f"[ui.keys] unknown binding '{binding}' (known: "
                                 f"{', '.join(UI_KEY_DEFAULTS)})", keyed=False)
            if not isinstance(key, str) or not key.strip():
                raise self._fail(where, binding, f"expected a key name such as \"ctrl+p\", got {_describe(key)}")
        return dataclasses.replace(base, keys=tuple(sorted(keys.items())))

    def _section(self, cls: type[_T], table: Mapping[str, Any], where: _Where,
                 defaults: Mapping[str, Any] | None = None) -> _T:
        """Type-check ``table`` against the fields of dataclass ``cls`` and build it."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values: dict[str, Any] = dict(defaults or {})
        for key, value in table.items():
            if key not in fields:
                raise self._fail(where, key, f"{where.label} unknown key '{key}' "
                                 f"(known keys: {', '.join(fields)})", keyed=False)
            checked = _check_type(value, hints[key])
            if checked is None:
                raise self._fail(where, key, f"expected {_EXPECTED[hints[key]]}, "
                                 f"got {_describe(value)}")
            values[key] = checked
        for name, field in fields.items():
            if name not in values and field.default is dataclasses.MISSING:
                raise self._fail(where, None, f"{where.label} missing required key '{name}'",
                                 keyed=False)
        for key, value in values.items():
            self._check_value(where, key, value)
        return cls(**values)

    def _check_value(self, where: _Where, key: str, value: Any) -> None:
        """Checks that depend on one key only: enums, positive numbers, env names."""
        allowed = _ENUMS.get((where.section, key))
        if allowed is not None and value not in allowed:
            raise self._fail(where, key, f"must be one of {', '.join(allowed)}, "
                             f"got {_describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self._fail(where, key, f"must be a finite number, got {value}")
        if (where.section, key) in _POSITIVE and value <= 0:
            raise self._fail(where, key, f"must be greater than 0, got {value:g}")
        if key.endswith("_env") and value and not _ENV_NAME.fullmatch(value):
            # Never echo the value: a common mistake is pasting the secret itself here.
            raise self._fail(where, key, "must be the name of an environment variable "
                             "(letters, digits, _), not its value")

    def _check_slow(self, notifications: NotificationsConfig) -> None:
        where = _Where("notifications")
        if notifications.slow_factor <= 1:
            raise self._fail(where, "slow_factor", "must be greater than 1 (a run slower "
                             f"than usual), got {notifications.slow_factor:g}")
        if not 1 <= notifications.slow_percentile <= 100:
            raise self._fail(where, "slow_percentile", "must be from 1 to 100, "
                             f"got {notifications.slow_percentile}")
        if notifications.slow_min_runs > notifications.slow_sample_runs:
            raise self._fail(where, "slow_min_runs", "must be at most slow_sample_runs "
                             f"({notifications.slow_sample_runs}), "
                             f"got {notifications.slow_min_runs}")

    def _resolve_database(self, database: DatabaseConfig) -> DatabaseConfig:
        if not database.url:
            return DatabaseConfig(url=paths.default_database_url())
        if not _DB_URL.match(database.url):
            raise self._fail(_Where("database"), "url",
                             "expected a sqlite:/// or postgresql:// URL")
        return database

    def _resolve_storage(self, storage: StorageConfig) -> StorageConfig:
        prefix = storage.prefix.strip("/")
        if storage.type == "s3":
            if not storage.bucket:
                raise self._fail(_Where("storage"), "bucket", 'required when type = "s3"')
            return dataclasses.replace(storage, prefix=prefix)
        if not storage.path:
            path = paths.default_spec_dir().absolute()
        else:
            # Relative to the config file, not to wherever the daemon was started from.
            base = self._source.parent if self._source is not None else Path.cwd()
            path = (base / Path(storage.path).expanduser()).absolute()
        return dataclasses.replace(storage, path=str(path), prefix=prefix)

    def _check_clusters(self, clusters: tuple[ClusterConfig, ...]) -> None:
        """Checks across keys and across clusters."""
        names: dict[str, int] = {}
        teams: dict[str, int] = {}
        for i, cluster in enumerate(clusters):
            where = _Where("clusters", i)
            for key in ("name", "team", "url"):
                if not getattr(cluster, key).strip():
                    raise self._fail(where, key, "must not be empty")
            if cluster.name in names:
                raise self._fail(where, "name", f'duplicate cluster name "{cluster.name}" '
                                 f"(also [[clusters]] #{names[cluster.name] + 1})")
            if cluster.team in teams:
                raise self._fail(where, "team", f'team "{cluster.team}" already has a cluster '
                                 f"([[clusters]] #{teams[cluster.team] + 1}); one per team")
            names[cluster.name], teams[cluster.team] = i, i
            if not cluster.url.startswith(("http://", "https://")):
                raise self._fail(where, "url", "must start with http:// or https://, "
                                 f"got {_describe(cluster.url)}")
            if not _DAG_PREFIX.fullmatch(cluster.dag_name_prefix):
                raise self._fail(where, "dag_name_prefix", "only letters, digits, '_', '.' "
                                 "and '-' are allowed in a DAG id")
            if cluster.auth in ("jwt", "basic"):
                for key in ("username", "password_env"):
                    if not getattr(cluster, key):
                        raise self._fail(where, key, f'required when auth = "{cluster.auth}"')
            if cluster.auth == "token" and not (cluster.token_env or cluster.token_command):
                raise self._fail(where, "token_env", 'auth = "token" needs token_env or '
                                 "token_command")

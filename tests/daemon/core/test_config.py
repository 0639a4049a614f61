"""Tests for daemon.core.config and daemon.core.paths: defaults, search order, strict validation."""

import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest

from daemon.core import paths
from daemon.core.config import (
    ClusterConfig,
    Config,
    DaemonConfig,
    NotificationsConfig,
    StorageConfig,
    SyncConfig,
    find_config_file,
    load_config,
    parse_config,
)
from daemon.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"
SOURCE = Path("basecamp.toml")

CLUSTER = """
[[clusters]]
name = "dp-airflow"
team = "@data-platform"
url = "https://airflow.example.com"
username = "svc"
password_env = "DP_PASSWORD"
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user dirs at tmp_path and start in an empty working directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("BASECAMP_CONFIG", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), SOURCE)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


# --- defaults and paths ----------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="XDG variables apply on Linux")
def test_paths_follow_xdg_variables_at_call_time(isolated: Path) -> None:
    assert paths.user_data_dir() == isolated / "data" / "basecamp"
    assert paths.user_config_dir() == isolated / "config" / "basecamp"
    assert paths.default_spec_dir() == isolated / "data" / "basecamp" / "specs"
    assert paths.default_database_url() == f"sqlite:///{isolated}/data/basecamp/basecamp.db"


def test_defaults_without_a_file() -> None:
    config = load_config()
    assert config.source is None
    assert config.database.url == paths.default_database_url()
    assert config.database.url.startswith("sqlite:////")
    assert config.storage == StorageConfig(path=str(paths.default_spec_dir().absolute()))
    assert Path(config.storage.path).is_absolute()
    assert config.spec_dir == paths.default_spec_dir()
    assert config.sync == SyncConfig()
    assert config.clusters == ()
    assert config.notifications == NotificationsConfig()


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sync.run_interval_seconds = 1  # type: ignore[misc]


def test_example_file_loads_and_shows_the_defaults() -> None:
    config = load_config(str(EXAMPLE))
    defaults = parse_config("", None)
    assert config.source == EXAMPLE
    assert config.database == defaults.database
    assert config.storage == defaults.storage
    assert config.sync == defaults.sync
    assert config.notifications == defaults.notifications
    assert config.daemon == defaults.daemon
    assert config.ui == defaults.ui
    (cluster,) = config.clusters
    required = {"name", "team", "url", "username", "password_env"}
    for field in dataclasses.fields(ClusterConfig):
        if field.name not in required:
            assert getattr(cluster, field.name) == field.default, field.name


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    for cls in (StorageConfig, SyncConfig, ClusterConfig, NotificationsConfig, DaemonConfig):
        for field in dataclasses.fields(cls):
            assert f"\n{field.name} = " in text, f"{cls.__name__}.{field.name}"
    assert "\nurl = " in text
    assert "\nread_only = " in text and "\n[ui.keys]" in text


# --- search order ----------------------------------------------------------------------


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_config_file(None) is None
    user = write(isolated / "config" / "basecamp" / "config.toml")
    assert find_config_file(None) == user
    local = write(isolated / "cwd" / "basecamp.toml")
    assert find_config_file(None) == local
    from_env = write(isolated / "env.toml")
    monkeypatch.setenv("BASECAMP_CONFIG", str(from_env))
    assert find_config_file(None) == from_env
    explicit = write(isolated / "explicit.toml")
    assert find_config_file(str(explicit)) == explicit


def test_explicit_path_must_exist(isolated: Path) -> None:
    write(isolated / "cwd" / "basecamp.toml")
    with pytest.raises(ConfigError, match="config file not found: .*missing.toml"):
        find_config_file(str(isolated / "missing.toml"))


def test_env_path_must_exist(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(isolated / "cwd" / "basecamp.toml")
    monkeypatch.setenv("BASECAMP_CONFIG", str(isolated / "missing.toml"))
    with pytest.raises(ConfigError, match=r"\$BASECAMP_CONFIG .*missing.toml"):
        find_config_file(None)


def test_load_reads_the_found_file(isolated: Path) -> None:
    local = write(isolated / "cwd" / "basecamp.toml", "[sync]\nrun_interval_seconds = 2\n")
    config = load_config()
    assert config.source == local
    assert config.sync.run_interval_seconds == 2.0


def test_relative_storage_path_is_relative_to_the_file(isolated: Path) -> None:
    file = write(isolated / "etc" / "basecamp.toml", '[storage]\npath = "specs"\n')
    assert load_config(str(file)).storage.path == str(isolated / "etc" / "specs")


def test_values_are_parsed(isolated: Path) -> None:
    config = parse(
        """
        [database]
        url = "postgresql://basecamp@db/basecamp"
        [storage]
        type = "s3"
        bucket = "company-workflows"
        prefix = "/workflows/"
        [sync]
        lookback_hours = 48
        max_delete_fraction = 1
        """ + CLUSTER + """
        [[clusters]]
        name = "ml"
        team = "@ml"
        url = "http://ml:8080"
        auth = "token"
        token_command = "vault read -field=token secret/airflow"
        verify_tls = false
        timeout_seconds = 2.5
        """
    )
    assert config.database.url == "postgresql://basecamp@db/basecamp"
    assert config.storage.bucket == "company-workflows"
    assert config.storage.prefix == "workflows"
    assert config.sync.lookback_hours == 48.0 and isinstance(config.sync.lookback_hours, float)
    assert [c.name for c in config.clusters] == ["dp-airflow", "ml"]
    assert config.clusters[1].verify_tls is False
    assert config.clusters[1].timeout_seconds == 2.5


def test_slow_run_thresholds_are_parsed() -> None:
    defaults = parse_config("", None).notifications
    assert (defaults.slow_factor, defaults.slow_percentile, defaults.slow_sample_runs,
            defaults.slow_min_runs) == (1.5, 90, 20, 5)
    config = parse_config("[notifications]\nslow_factor = 2\nslow_percentile = 50\n"
                          "slow_sample_runs = 10\nslow_min_runs = 10\n", None).notifications
    assert (config.slow_factor, config.slow_percentile, config.slow_sample_runs,
            config.slow_min_runs) == (2.0, 50, 10, 10)


def test_secrets_and_commands_are_not_touched_at_load(isolated: Path) -> None:
    marker = isolated / "ran"
    config = parse(f"""
        [[clusters]]
        name = "a"
        team = "@a"
        url = "https://a"
        auth = "token"
        token_command = "touch {marker}"
        """)
    assert not marker.exists()
    assert config.clusters[0].token_command == f"touch {marker}"


# --- errors name the file, the line and the key -----------------------------------------

ERRORS = [
    pytest.param(
        "[sync]\nrun_interval_seconds = 5\nspec_interval_seconds = \"abc\"\n",
        'basecamp.toml:3: [sync] spec_interval_seconds: expected a number, got string "abc"',
        id="string-for-number",
    ),
    pytest.param(
        "[sync]\n\nlookback_hours = true\n",
        "basecamp.toml:3: [sync] lookback_hours: expected a number, got boolean true",
        id="bool-for-number",
    ),
    pytest.param(
        "[storage]\nmax_spec_bytes = 1.5\n",
        "basecamp.toml:2: [storage] max_spec_bytes: expected an integer, got float 1.5",
        id="float-for-int",
    ),
    pytest.param(
        "[storage]\nmax_spec_bytes = false\n",
        "basecamp.toml:2: [storage] max_spec_bytes: expected an integer, got boolean false",
        id="bool-for-int",
    ),
    pytest.param(
        CLUSTER.replace('username = "svc"', "verify_tls = 1\nusername = \"svc\""),
        "basecamp.toml:6: [[clusters]] #1 verify_tls: expected a boolean (true or false), "
        "got integer 1",
        id="int-for-bool",
    ),
    pytest.param(
        "\n[storag]\ntype = \"local\"\n",
        "basecamp.toml:2: unknown section [storag] (known sections: database, storage, sync, "
        "clusters, notifications, daemon, ui)",
        id="unknown-section",
    ),
    pytest.param(
        "debug = true\n",
        "basecamp.toml:1: unknown top-level key 'debug'",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "[sync]\nspec_interval = 5\n",
        "basecamp.toml:2: [sync] unknown key 'spec_interval' (known keys: spec_interval_seconds,",
        id="unknown-key",
    ),
    pytest.param(
        CLUSTER + CLUSTER.replace("team =", "tema =").replace("dp-airflow", "b"),
        "basecamp.toml:11: [[clusters]] #2 unknown key 'tema' (known keys: name, team, url,",
        id="unknown-cluster-key",
    ),
    pytest.param(
        "[clusters]\nname = \"x\"\n",
        "basecamp.toml:1: clusters: expected an array of tables ([[clusters]]), got a table",
        id="clusters-not-array",
    ),
    pytest.param(
        "sync = 5\n",
        "basecamp.toml:1: [sync]: expected a table, got integer 5",
        id="section-not-table",
    ),
    pytest.param(
        "[storage]\ntype = \"ftp\"\n",
        'basecamp.toml:2: [storage] type: must be one of local, s3, got string "ftp"',
        id="enum",
    ),
    pytest.param(
        "[sync]\nrun_interval_seconds = 0\n",
        "basecamp.toml:2: [sync] run_interval_seconds: must be greater than 0, got 0",
        id="not-positive",
    ),
    pytest.param(
        "[sync]\nmax_delete_fraction = 1.5\n",
        "basecamp.toml:2: [sync] max_delete_fraction: must be greater than 0 and at most 1, "
        "got 1.5",
        id="fraction",
    ),
    pytest.param(
        "[notifications]\nslow_factor = 1\n",
        "basecamp.toml:2: [notifications] slow_factor: must be greater than 1 (a run slower "
        "than usual), got 1",
        id="slow-factor",
    ),
    pytest.param(
        "[notifications]\nslow_percentile = 101\n",
        "basecamp.toml:2: [notifications] slow_percentile: must be from 1 to 100, got 101",
        id="slow-percentile",
    ),
    pytest.param(
        "[notifications]\nslow_percentile = 90.5\n",
        "basecamp.toml:2: [notifications] slow_percentile: expected an integer, got float 90.5",
        id="slow-percentile-type",
    ),
    pytest.param(
        "[notifications]\nslow_sample_runs = 0\n",
        "basecamp.toml:2: [notifications] slow_sample_runs: must be greater than 0, got 0",
        id="slow-sample",
    ),
    pytest.param(
        "[notifications]\nslow_sample_runs = 10\nslow_min_runs = 12\n",
        "basecamp.toml:3: [notifications] slow_min_runs: must be at most slow_sample_runs (10), "
        "got 12",
        id="slow-min-runs",
    ),
    pytest.param(
        "[storage]\ntype = \"s3\"\n",
        'basecamp.toml:1: [storage] bucket: required when type = "s3"',
        id="s3-needs-bucket",
    ),
    pytest.param(
        "[database]\nurl = \"mysql://x\"\n",
        "basecamp.toml:2: [database] url: expected a sqlite:/// or postgresql:// URL",
        id="database-url",
    ),
    pytest.param(
        "[notifications]\nwebhook_url_env = \"https://hooks.example.com/T0/B0/secret\"\n",
        "basecamp.toml:2: [notifications] webhook_url_env: must be the name of an environment "
        "variable",
        id="env-name",
    ),
    pytest.param(
        "[sync\n",
        "basecamp.toml:1: invalid TOML: ",
        id="syntax",
    ),
    pytest.param(
        "[sync]\nrun_interval_seconds = 5\nrun_interval_seconds = 6\n",
        "basecamp.toml:3: invalid TOML: ",
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_secret_pasted_into_env_key_is_not_echoed() -> None:
    message = error_of('[notifications]\nslack_webhook_url_env = "https://hooks/s3cr3t"\n')
    assert "s3cr3t" not in message


def test_syntax_error_keeps_tomllib_position() -> None:
    assert "(at line 2, column" in error_of("[sync]\nrun_interval_seconds = \n")


def test_error_without_source_names_placeholder() -> None:
    with pytest.raises(ConfigError, match=r"^<config>:2: \[sync\]"):
        parse_config("[sync]\nlookback_hours = -1\n", None)


# --- cluster validation ----------------------------------------------------------------

CLUSTER_ERRORS = [
    pytest.param(
        CLUSTER.replace('name = "dp-airflow"\n', ""),
        "basecamp.toml:2: [[clusters]] #1 missing required key 'name'",
        id="missing-required",
    ),
    pytest.param(
        CLUSTER + CLUSTER.replace("@data-platform", "@other"),
        'basecamp.toml:10: [[clusters]] #2 name: duplicate cluster name "dp-airflow" '
        "(also [[clusters]] #1)",
        id="duplicate-name",
    ),
    pytest.param(
        CLUSTER + CLUSTER.replace('"dp-airflow"', '"other"'),
        'basecamp.toml:11: [[clusters]] #2 team: team "@data-platform" already has a cluster',
        id="one-cluster-per-team",
    ),
    pytest.param(
        CLUSTER.replace("https://airflow.example.com", "airflow.example.com"),
        "basecamp.toml:5: [[clusters]] #1 url: must start with http:// or https://",
        id="url-scheme",
    ),
    pytest.param(
        CLUSTER.replace('name = "dp-airflow"', 'name = ""'),
        "basecamp.toml:3: [[clusters]] #1 name: must not be empty",
        id="empty-name",
    ),
    pytest.param(
        CLUSTER.replace('username = "svc"\n', ""),
        'basecamp.toml:2: [[clusters]] #1 username: required when auth = "jwt"',
        id="jwt-needs-username",
    ),
    pytest.param(
        CLUSTER.replace('password_env = "DP_PASSWORD"', 'auth = "basic"'),
        'basecamp.toml:2: [[clusters]] #1 password_env: required when auth = "basic"',
        id="basic-needs-password-env",
    ),
    pytest.param(
        CLUSTER.replace('username = "svc"', 'auth = "token"'),
        'basecamp.toml:2: [[clusters]] #1 token_env: auth = "token" needs token_env or '
        "token_command",
        id="token-needs-source",
    ),
    pytest.param(
        CLUSTER + 'environment = "prod"\n',
        "basecamp.toml:8: [[clusters]] #1 environment: must be one of development, production",
        id="environment",
    ),
    pytest.param(
        CLUSTER + 'api_version = "v3"\n',
        "basecamp.toml:8: [[clusters]] #1 api_version: must be one of auto, v2, v1",
        id="api-version",
    ),
    pytest.param(
        CLUSTER + 'dag_name_prefix = "dp team"\n',
        "basecamp.toml:8: [[clusters]] #1 dag_name_prefix: only letters",
        id="dag-prefix",
    ),
    pytest.param(
        CLUSTER + "timeout_seconds = 0\n",
        "basecamp.toml:8: [[clusters]] #1 timeout_seconds: must be greater than 0",
        id="timeout",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CLUSTER_ERRORS)
def test_cluster_validation(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_auth_none_needs_no_credentials() -> None:
    config = parse('[[clusters]]\nname = "a"\nteam = "@a"\nurl = "http://a"\nauth = "none"\n')
    assert config.clusters[0].auth == "none"


# --- the line locator copes with real-world TOML ---------------------------------------


def test_line_of_dotted_and_quoted_keys() -> None:
    assert error_of('\nsync.lookback_hours = "x"\n').startswith(
        "basecamp.toml:2: [sync] lookback_hours:")
    assert error_of('[sync]\n"lookback_hours" = "x"\n').startswith(
        "basecamp.toml:2: [sync] lookback_hours:")
    assert error_of('[ sync ]  # comment\n  lookback_hours   =   "x"\n').startswith(
        "basecamp.toml:2: [sync] lookback_hours:")


def test_line_locator_skips_multiline_strings() -> None:
    text = '[notifications]\nwebhook_url_env = """\n[storage]\n"""\n[storage]\ntype = "s3"\n'
    assert error_of(text).startswith('basecamp.toml:5: [storage] bucket: required')


def test_inline_table_falls_back_to_its_key_line() -> None:
    assert error_of('\nsync = { lookback_hours = "x" }\n').startswith(
        "basecamp.toml:2: [sync] lookback_hours:")


def test_line_locator_skips_multiline_arrays() -> None:
    text = '[notifications]\nwebhook_url_env = [\n  ["storage"],\n]\n[storage]\ntype = "s3"\n'
    assert error_of(text).startswith('basecamp.toml:5: [storage] bucket: required')


def test_dotted_unknown_section_points_at_its_line() -> None:
    assert error_of('\n\nfoo.bar = 1\n').startswith("basecamp.toml:3: unknown section [foo]")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_rejected(value: str) -> None:
    assert error_of(f"[sync]\nlookback_hours = {value}\n").startswith(
        "basecamp.toml:2: [sync] lookback_hours: must be a finite number")


def test_ui_keys_are_remappable_and_checked(tmp_path: Path) -> None:
    config = parse_config('[ui]\nread_only = true\n[ui.keys]\npause = "x"\n', None)
    assert config.ui.read_only and config.ui.key_for("pause") == "x"
    assert config.ui.key_for("trigger") == "t"
    config = parse_config('[ui.keys]\nlog_search = "ctrl+f"\ntry_earlier = "comma"\n'
                          'try_later = "full_stop"\ngrid_open = "o"\n', None)
    assert [config.ui.key_for(name) for name in ("log_search", "try_earlier", "try_later",
                                                 "grid_open", "log_next", "log_end")] == [
        "ctrl+f", "comma", "full_stop", "o", "n", "G"]  # the run detail's and grid's keys too
    with pytest.raises(ConfigError, match=r"\[ui.keys\] unknown binding 'bogus'"):
        parse_config('[ui.keys]\nbogus = "x"\n', None)
    with pytest.raises(ConfigError, match=r"\[ui\] keys: expected a table"):
        parse_config("[ui]\nkeys = 3\n", None)
    with pytest.raises(ConfigError, match=r"\[daemon\] action_workers: must be greater than 0"):
        parse_config("[daemon]\naction_workers = 0\n", None)

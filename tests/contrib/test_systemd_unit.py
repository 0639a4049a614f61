"""contrib/systemd/basecamp-daemon.service: systemd accepts it, and it keeps its hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "basecamp-daemon.service"
EXEC_START = "/opt/basecamp/venv/bin/basecamp daemon --config /etc/basecamp/basecamp.toml"

# Phrases systemd uses when it ignores or rejects a line of a unit file.
COMPLAINTS = ("unknown", "invalid", "failed to parse", "ignoring", "unsupported", "deprecated")


def directives(text: str) -> dict[str, list[tuple[str, str]]]:
    """Section name → (key, value) pairs in file order. Not configparser: unit files
    repeat keys (SystemCallFilter=) and an empty value resets a list."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"directive outside a section: {raw!r}"
        assert not line.endswith("\\"), "keep directives on one line"
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


@pytest.fixture(scope="module")
def service() -> list[tuple[str, str]]:
    return directives(UNIT.read_text(encoding="utf-8"))["Service"]


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
    )
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(f"ExecStart={EXEC_START}\n") == 1
    # verify insists that ExecStart's binary exists; /opt/basecamp/venv does not here.
    unit = tmp_path / UNIT.name
    unit.write_text(
        text.replace(f"ExecStart={EXEC_START}", f"ExecStart={sys.executable} -m basecamp_cli"),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0", "LANG": "C.UTF-8"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    complaints = [
        line
        for line in output.splitlines()
        if UNIT.name in line or any(word in line.lower() for word in COMPLAINTS)
    ]
    assert complaints == [], output


def test_service_basics(service: list[tuple[str, str]]) -> None:
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": EXEC_START,
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "5",
        "TimeoutStopSec": "15",
        "KillMode": "mixed",
        "User": "basecamp",
        "Group": "basecamp",
        "StateDirectory": "basecamp",
        "StateDirectoryMode": "0750",
        "ConfigurationDirectory": "basecamp",
        "EnvironmentFile": "-/etc/basecamp/basecamp.env",
        "Environment": "XDG_DATA_HOME=/var/lib/basecamp HOME=/var/lib/basecamp",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert values(service, key) == [value], key


def test_hardening(service: list[tuple[str, str]]) -> None:
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        # Empty: no capabilities at all.
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
    }
    for key, value in expected.items():
        assert values(service, key) == [value], key
    assert values(service, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]


def test_install_section() -> None:
    install = directives(UNIT.read_text(encoding="utf-8"))["Install"]
    assert values(install, "WantedBy") == ["multi-user.target"]

"""Building spec YAML for tests."""

from __future__ import annotations


def spec_yaml(
    name: str,
    *,
    cron: str = "0 9 * * *",
    timezone: str = "UTC",
    enabled: bool = True,
    team: str = "@data-engineering",
    owner: str = "engineer@example.com",
    parameters: str = "",
) -> bytes:
    text = (
        f"name: {name}\n"
        "type: Dataset\n"
        f"owner: {owner}\n"
        f'team: "{team}"\n'
        f"{parameters}"
        "schedule:\n"
        f"  enabled: {'true' if enabled else 'false'}\n"
        f'  cron: "{cron}"\n'
        f'  timezone: "{timezone}"\n'
    )
    return text.encode()

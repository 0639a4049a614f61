"""The delivery channels (Slack incoming webhook, generic JSON webhook) and their payloads.

Webhook URLs are secrets: they are read from the environment at send time and never
stored, logged or put into payloads and events. ``redact`` and ``RedactingFilter`` scrub
them from exception texts and log records (httpx logs every request URL at INFO).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, urlsplit

from daemon.core.config import NotificationsConfig
from daemon.store.models import Event

SLACK = "slack"
WEBHOOK = "webhook"
REDACTED = "<redacted>"

_TITLES = {
    "run_failed": "Run failed",
    "sla_exceeded": "SLA exceeded",
    "input_waiting": "Waiting for input",
    "run_slow": "Run slower than usual",
    "source_change": "Spec source changed",
    "cluster_outage": "Cluster unreachable",
}
_ICONS = {"error": ":red_circle:", "warning": ":warning:"}


@dataclass(frozen=True)
class Channels:
    """Per channel, the name of the env var holding its URL ("" when not configured)."""

    env: dict[str, str]

    @classmethod
    def from_config(cls, config: NotificationsConfig) -> Channels:
        return cls({SLACK: config.slack_webhook_url_env, WEBHOOK: config.webhook_url_env})

    def url(self, channel: str) -> str | None:
        """The channel's URL as the environment has it now, None when unset or empty."""
        name = self.env.get(channel, "")
        return (os.environ.get(name) or None) if name else None

    def configured(self) -> list[str]:
        return [channel for channel in self.env if self.url(channel)]

    def secrets(self) -> list[str]:
        return [url for url in (self.url(channel) for channel in self.env) if url]

    def describe_missing(self, channel: str) -> str:
        name = self.env.get(channel, "")
        if not name:
            return f"{channel}: no env var configured in [notifications]"
        return f"{channel}: env var {name} is unset or empty"


def payload(channel: str, target: str, event: Event) -> dict[str, Any]:
    """The JSON body POSTed for ``event``; stored on the outbox row, so every retry sends
    the same bytes."""
    if channel == SLACK:
        body: dict[str, Any] = {"text": slack_text(event)}
        if target:
            body["channel"] = target
        return body
    return {
        "event_id": event.id,
        "kind": event.kind,
        "severity": event.severity,
        "subject": event.subject,
        "message": event.message,
        "at": event.at.isoformat(),
        "data": event.data,
        "channel": target or None,
    }


def slack_text(event: Event) -> str:
    """One headline line, the message, then the event's data as ``key: value`` lines."""
    icon = _ICONS.get(event.severity, ":information_source:")
    title = _TITLES.get(event.kind, event.kind)
    lines = [f"{icon} *{_escape(title)}*: {_escape(event.subject)}", _escape(event.message)]
    for key, value in sorted((event.data or {}).items()):
        if value is not None and not isinstance(value, (dict, list)):
            lines.append(f"• {_escape(str(key))}: {_escape(str(value))}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def idempotency_key(event_id: int, channel: str, target: str) -> str:
    """Same for every retry of one notification, so a receiver can drop a duplicate."""
    return f"basecamp-{event_id}-{channel}-{quote(target, safe='#@!$&*+,;=:/._~-')}"


def redact(text: str, secrets: list[str]) -> str:
    """``text`` without any of the URLs, nor their path or query (where webhook tokens live)."""
    for url in secrets:
        parts = urlsplit(url)
        for piece in (url, url.rstrip("/"), parts.query, parts.path):
            if len(piece) > 1 and piece != "/":
                text = text.replace(piece, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Scrubs the current webhook URLs from a logger's records (message and traceback)."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        if not secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        return True

"""One error hierarchy for basecamp.

The CLI maps each class to an exit code and prints the message without a traceback;
anything that is not a ``BasecampError`` is a bug and is logged with its traceback.
"""


class BasecampError(Exception):
    """Base of every error basecamp expects and explains to the user."""

    exit_code = 1


class UserError(BasecampError):
    """The user asked for something invalid: bad input, a rejected action (exit 1)."""


class ConfigError(UserError):
    """The configuration file is missing, malformed or has a wrong key or value."""


class NotFoundError(BasecampError):
    """The named dataset, run or file does not exist (exit 4)."""

    exit_code = 4


class TransientError(BasecampError):
    """An IO failure that may go away: retried where the call is idempotent."""


class SpecStoreError(TransientError):
    """The spec store (local folder or S3) could not be listed, read or written."""


class DaemonUnavailable(BasecampError):
    """The daemon is not running or did not answer in time (exit 3)."""

    exit_code = 3

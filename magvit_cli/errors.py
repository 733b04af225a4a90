"""The project's own error type: anything raised as MagvitError becomes a one-line message in
the CLI (exit code 1), or 2 when it is a UsageError (bad options or input the user can fix)."""


class MagvitError(Exception):
    """A failure at run time with a message fit for the user."""

    exit_code = 1


class UsageError(MagvitError):
    """Bad options or input: the user can fix the call."""

    exit_code = 2

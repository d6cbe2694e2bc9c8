"""Errors a user should see as one clear line, not as a traceback.

Every stage raises `WebtextError` (or a subclass) for bad input or bad configuration, with a message
that names the file, URL or record at fault. The CLI prints the message and exits with status 2.
"""


class WebtextError(Exception):
    """A problem with the user's input or configuration, explained in the message."""


class InputError(WebtextError):
    """Bad input data: a corrupt or truncated file, an unreadable record. The message names the file."""

    def __init__(self, message: str, *, path: str | None = None, position: str | None = None):
        self.path = path
        self.position = position
        where = ""
        if path:
            where = f"{path}"
            if position:
                where += f" ({position})"
            where += ": "
        super().__init__(where + message)


class ConfigError(WebtextError):
    """An invalid option or combination of options."""

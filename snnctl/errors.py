"""User-facing errors.

Every error a user can cause is a :class:`SnnctlError`: one line saying what is wrong (naming the file,
field or name at fault) and a hint saying what to do. The CLI prints the two lines on stderr and exits
with status 2; the traceback is shown only with ``--debug`` or ``SNNCTL_DEBUG=1``.
"""

from __future__ import annotations


class SnnctlError(Exception):
    """An error caused by user input, with a hint on how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"

    def __reduce__(self):  # raised in worker processes: the hint must survive the trip back
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple, state: dict) -> "SnnctlError":
    err = Exception.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class SnnctlWarning(UserWarning):
    """Something the user should know that did not stop the command (a bundle loaded with another plugin version);
    the command line prints it as one ``warning:`` line."""


class UnknownNameError(SnnctlError, KeyError):
    """A component, kind or command name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return SnnctlError.__str__(self)


class DuplicateNameError(SnnctlError):
    """Two plugins registered the same name in the same kind."""


class ConfigError(SnnctlError, ValueError):
    """A configuration value failed validation; the message names the dotted path."""


class PluginError(SnnctlError):
    """A plugin could not be loaded or broke the hook contract."""


class Interrupted(SnnctlError):
    """The user interrupted a command (Ctrl-C); what was finished is kept."""

    exit_code = 130

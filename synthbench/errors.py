"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class SynthbenchError(Exception):
    """Base class: bad input, a missing file, an unknown name. The message says what would be valid."""


class DataError(SynthbenchError):
    """A data spec, data file or cohort folder that cannot be read."""


class RegistryError(SynthbenchError, KeyError):
    """An unknown or duplicate component name, or a plugin that failed to import."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

"""The command line's error types: reported as one line on stderr, with an exit status."""

from __future__ import annotations


class CliError(Exception):
    """The command was well formed but failed (exit status 1). Say what and what to do."""

    code = 1


class UsageError(CliError):
    """The command line is wrong: a bad option, spec, path or name (exit status 2)."""

    code = 2

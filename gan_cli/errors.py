"""The errors that every floor raises; this module depends on nothing, so any module may import it."""


class ConfigError(ValueError):
    """Bad user input: printed as one line, without a traceback, and the run exits non-zero."""

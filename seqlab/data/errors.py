"""The one error type of bad input data."""


class DataError(ValueError):
    """Bad input data: the message names the file (and line or offset) and what was expected."""

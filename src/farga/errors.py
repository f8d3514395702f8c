"""The one base class for errors a user can act on: the CLI prints their message, not a traceback."""


class FargaError(Exception):
    """Bad input, missing data or a violated contract: the message says what is wrong and what to do."""

"""The one exception type users see: a clear, one-line message, no traceback."""


class CharwiseError(Exception):
    """A user-facing error. The CLI prints `charwise: error: <message>` and exits non-zero."""

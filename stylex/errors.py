"""The one exception type for mistakes a user can fix (bad input, bad arguments, missing files).

The CLI prints such an error as a single line and exits with status 2; anything else is a bug and
keeps its traceback.
"""


class StylexError(Exception):
    """A user-fixable problem. The message names the file or argument at fault and what to do."""

"""The one exception type users see.

A ``ScrobinError`` carries a single line that names the problem and the fix. Entry points catch it
and print that line instead of a traceback, so bad input never looks like a crash.
"""


class ScrobinError(ValueError):
    """Bad input or configuration, reported as one line with the fix."""

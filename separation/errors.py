"""The one exception family for bad user input (configs, data folders, files).

The CLI prints these as a single line and exits 2; anything else is a bug and
keeps its traceback.
"""


class UserError(ValueError):
    """Bad input from the user; the message names the file or key and what was expected."""


USER_ERRORS = (UserError,)

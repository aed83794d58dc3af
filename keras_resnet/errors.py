"""The errors a recipe reports in one line: a setting, a workdir or data that cannot be used.

Example:

>>> issubclass(DataError, RecipeError), listed(["a", "b", "c", "d"])
(True, 'a, b, c, …')
"""

import re


class RecipeError(ValueError):
    """A bad setting or a workdir that cannot be used, with a one-line message."""


class DataError(RecipeError):
    """Data that cannot be used, with a one-line message saying why."""


def listed(names, shown=3):
    """`"a, b, c, …"`: the first `shown` of `names` (`"-"` for none), for one-line messages."""
    return f"{', '.join(names[:shown]) or '-'}{', …' if len(names) > shown else ''}"


def error_line(error):
    """The first line of a TensorFlow error's message, without its `{{function_node …}}` prefixes."""
    line = re.sub(r"\{\{.*?\}\}\s*", "", str(getattr(error, "message", None) or error)).strip().splitlines()[0]
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)

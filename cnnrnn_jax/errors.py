"""The one error type for bad user-facing input.

A `ConfigError` carries a one-line message that names the problem and the fix; entry points
print it without a traceback. Raise it as early as the input is knowable (before anything
compiles), so a bad setting costs nothing.
"""


class ConfigError(ValueError):
  """A bad user-facing setting; its message is one line naming the problem and the fix."""

"""One small error hierarchy. Every error here is a user-facing, one-line message.

The CLI turns a ``BenchError`` into its message on stderr and exit status 2, with no traceback.
"""


class BenchError(Exception):
    """Bad input or an unusable machine: the message says what was found and how to fix it."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        super().__init__(message)

    def lines(self) -> list[str]:
        return list(self.problems)


class ConfigError(BenchError):
    """A config file is malformed or names something that does not exist."""


class PreflightError(BenchError):
    """The config is valid but this machine cannot run it (missing directory, CUDA, sensor...)."""


class InputError(BenchError):
    """A bad command-line argument or an unusable results directory."""


class StorageError(BenchError):
    """A write to the run directory failed: the disk is full, the file system is read-only, or the
    directory is not writable. The run stops (exit 1, not bad input); every case written before is kept,
    and the message names the path and what to do."""

    exit_code = 1


class CaseFailed(Exception):
    """Raised inside a case; the runner records it as a failed case and goes on."""

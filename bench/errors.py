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


def _num(x) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return str(x)


def plain_message(err: dict) -> str:
    """A pydantic error's message in the project's words: what the field must be and how to fix it
    (pydantic's own is 'Input should be greater than or equal to 0.001')."""
    t, ctx = err.get("type", ""), err.get("ctx") or {}
    bound = {"greater_than_equal": ("at least", ">=", "ge"), "greater_than": ("greater than", ">", "gt"),
             "less_than_equal": ("at most", "<=", "le"), "less_than": ("less than", "<", "lt")}
    if t in bound and bound[t][2] in ctx:
        words, op, key = bound[t]
        return f"must be {words} {_num(ctx[key])}; give a number {op} {_num(ctx[key])}"
    if t == "finite_number":
        return "must be a finite number (not NaN or inf); give a number"
    if t in ("int_from_float", "int_parsing", "int_type", "int_parsing_size"):
        return "must be a whole number; give one such as 8"
    if t in ("float_parsing", "float_type"):
        return "must be a number; give one such as 1.5"
    if t in ("too_long", "too_short") and ("max_length" in ctx or "min_length" in ctx):
        n = ctx.get("max_length") if t == "too_long" else ctx.get("min_length")
        return f"must have {'at most' if t == 'too_long' else 'at least'} {n} item(s); give {'fewer' if t == 'too_long' else 'more'}"
    if t in ("string_too_long", "string_too_short"):
        n = ctx.get("max_length") if t == "string_too_long" else ctx.get("min_length")
        return f"must be {'at most' if t == 'string_too_long' else 'at least'} {n} character(s); " \
               f"{'shorten' if t == 'string_too_long' else 'lengthen'} it"
    if t == "string_pattern_mismatch" and "pattern" in ctx:
        return f"must match the pattern {ctx['pattern']!r}; give a value of that form"
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    return "must be " + msg[len("Input should be "):] if msg.startswith("Input should be ") else msg

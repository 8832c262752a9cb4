"""Shared presentation helpers for the CLI and reports."""
from __future__ import annotations

import sys


def console(stderr: bool = False):
    """A rich Console; wide when the output is not a terminal (files, CI logs, pipes)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200)

"""What ``compare``, ``report``, ``check``, ``validate`` and ``list`` are asked: typed request models holding each
flag's rule, as ``bench.analysis.requests`` holds those of ``cost``, ``project`` and ``capacity`` (the base
``Request``, ``flag`` and the bound rules come from there; this module is beside it to keep each under 400 lines).

The CLI builds a request with ``from_flags(vars(args))``; a broken rule is one line naming the flag with what was
found (an ``InputError``, exit 2). The rules run in the order the commands always checked them, the first broken one
reported. Two kinds of rule are kept apart:

- a rule on the flags alone (a bound, a combination, a known metric or engine, a chip id) runs when the request is
  built: the validator;
- a rule the command reached only after reading the runs (``compare --pivot``, checked once the runs are loaded and
  only for a table) stays a method the command calls at that point, so an error in a RUN_DIR still comes first.

An output file (``--output``, ``--html``, ``--markdown``) is checked when the request is built, before any work: not
a directory, not a FIFO, socket or device, its directory created, writable. It is the one rule that touches the file
system; it has to, or a report would be refused only after every chart was drawn.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import model_validator

from bench.analysis.requests import Request, flag, positive_error
from bench.config import limits
from bench.errors import InputError


def output_file(name: str, path: str) -> Path:
    """A file the command will write: its directory is created; a directory, a FIFO, socket or device, or an
    unwritable place is refused (one line naming the flag) before any work is done."""
    try:
        return _output_file(name, path)
    except OSError as exc:  # a name too long, a path through a file: what stat says, as one line
        raise InputError(f"{name} '{path[:120]}': {exc.strerror or exc}; choose another path") from None


def _output_file(name: str, path: str) -> Path:
    p = Path(os.path.expanduser(path))
    if p.is_dir():
        raise InputError(f"{name} '{path}': is a directory; give a file path")
    if p.exists() and not p.is_file():  # a FIFO with no reader would block the command after all its work
        raise InputError(f"{name} '{path}': not a regular file (a FIFO, socket or device); give a file path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{name} '{path}': cannot create its directory ({exc.strerror}); choose another path") from None
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{name} '{path}': not writable; choose another path")
    return p


def _rental_rule(value: float | None) -> None:
    """``--rental-usd-per-hour``: > 0 and at most the bound ``cost`` takes (``limits.COST_MAXIMA``)."""
    problem = positive_error(flag("rental_usd_per_hour"), value, maximum=limits.COST_MAXIMA["rental_usd_per_hour"])
    if problem is not None:
        raise ValueError(problem)


# ---------------------------------------------------------------------------- compare
class CompareRequest(Request):
    run_dirs: list[str]
    pricing: str | None = None
    rental_usd_per_hour: float | None = None
    label: list[str] | None = None
    columns: str | None = None
    wide: bool = False
    baseline: str | None = None
    format: str = "table"
    output: str | None = None
    layout: str = "side"
    pivot: str | None = None

    @model_validator(mode="after")
    def _rules(self):
        if self.format == "parquet" and not self.output:
            raise ValueError("--format parquet writes a binary file: give --output PATH")
        if self.output:
            output_file("--output", self.output)
        _rental_rule(self.rental_usd_per_hour)
        return self

    @property
    def output_path(self) -> Path | None:
        """Where the view is written (None: stdout)."""
        return Path(os.path.expanduser(self.output)) if self.output else None

    @property
    def side_by_side(self) -> bool:
        """Several runs in a table or Markdown: each metric's runs side by side (the default layout, or --pivot)."""
        return self.layout == "side" or bool(self.pivot)

    def pivot_metric(self):
        """``--pivot METRIC``: the registry metric (a number, not text), checked once the runs are read, as it was."""
        from bench.results import registry

        if self.pivot not in registry.BY_KEY or registry.BY_KEY[self.pivot].text:
            raise InputError(f"--pivot '{self.pivot}' is not a metric; known: {', '.join(registry.BY_KEY)}")
        return registry.BY_KEY[self.pivot]


# ---------------------------------------------------------------------------- report
class ReportRequest(Request):
    run_dirs: list[str]
    pricing: str | None = None
    rental_usd_per_hour: float | None = None
    html: str | None = None
    markdown: str | None = None
    capacity: bool = False
    label: list[str] | None = None

    @model_validator(mode="after")
    def _rules(self):
        if not self.html and not self.markdown:
            raise ValueError("report needs --html PATH and/or --markdown PATH")
        if self.html:
            output_file("--html", self.html)
        if self.markdown:
            output_file("--markdown", self.markdown)
        _rental_rule(self.rental_usd_per_hour)
        return self

    @property
    def html_path(self) -> str | None:
        return os.path.expanduser(self.html) if self.html else self.html

    @property
    def markdown_path(self) -> str | None:
        return os.path.expanduser(self.markdown) if self.markdown else self.markdown


# ---------------------------------------------------------------------------- check
class CheckRequest(Request):
    candidate: str
    baseline: str
    metric: list[str] | None = None
    max_regression: str = "5%"
    min_compared: int | None = None
    allow_missing: bool = False
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        from bench.analysis import check

        try:
            check.parse_tolerance(self.max_regression)
        except ValueError as exc:
            raise InputError(f"--max-regression: {exc}") from None
        known = check.known_metrics()
        for m in self.metric or []:
            if m not in known:
                raise ValueError(f"--metric '{m}' is unknown; known: {', '.join(known)}")
        # the gate compares at least one case (check.py); 0 read as 1 would make 'lower --min-compared' a dead end
        if self.min_compared is not None and not 1 <= self.min_compared <= limits.MAX_COUNT:
            raise ValueError(f"--min-compared {self.min_compared}: give a whole number of cases >= 1 (to pass with "
                             "none compared: --allow-missing)")
        return self

    @property
    def tolerance(self) -> float:
        """``--max-regression`` as a fraction: '5%' -> 0.05 (``check.parse_tolerance``)."""
        from bench.analysis import check

        return check.parse_tolerance(self.max_regression)


# ---------------------------------------------------------------------------- validate
class ValidateRequest(Request):
    hardware: str | None = None
    include: list[str] = []
    engine: str = "field"
    profiles: bool = False
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        from bench.analysis import profiles
        from bench.catalog import hardware, published

        if self.hardware:
            hardware.get_chip(self.hardware)  # unknown id: the catalog's one line, listing the known
        if self.engine_key is not None:  # any engine with published rows (mindie: one usable row, finite runs)
            known = sorted({r.engine_class for r in published.rows()} - {None})
            if self.engine_key not in known:
                raise ValueError(f"--engine '{self.engine}' has no published rows; known: "
                                 f"{', '.join([profiles.FIELD, *known])}")
        if self.profiles and self.include:
            raise ValueError("--profiles prints the catalog's fitted profiles; drop --include")
        return self

    @property
    def chip_id(self) -> str | None:
        """``--hardware`` as its catalog id (None: every chip)."""
        from bench.catalog import hardware

        return hardware.get_chip(self.hardware).id if self.hardware else None

    @property
    def engine_key(self) -> str | None:
        """``--engine`` as the published rows name it; None for the field (every engine)."""
        from bench.analysis import profiles

        return None if self.engine == profiles.FIELD else self.engine.strip().lower()


# ---------------------------------------------------------------------------- list
class ListRequest(Request):
    what: str
    engine: str | None = None
    format: str = "table"

    @model_validator(mode="after")
    def _rules(self):
        if self.engine is not None and self.what != "published":
            raise ValueError(f"--engine filters `list published`; `list {self.what}` has no engines (drop --engine)")
        return self


# ---------------------------------------------------------------------------- run
RUN_ONLY_FLAGS = (("executor", "--executor"), ("ray_address", "--ray-address"), ("output_dir", "--output-dir"),
                  ("max_duration", "--max-duration"), ("report", "--report"), ("resume", "--resume"),
                  ("columns", "--columns"), ("wide", "--wide"))


class RunRequest(Request):
    """``run``'s own flags, checked after the config resolved (a bad config is reported first). ``printing``:
    ``--print-config`` only writes the config, so a flag for running it would be lost from the YAML: refused."""

    printing: bool = False
    executor: str | None = None
    ray_address: str | None = None
    output_dir: str | None = None
    max_duration: float | None = None
    report: str | None = None
    resume: str | None = None
    columns: str | None = None
    wide: bool = False

    @model_validator(mode="after")
    def _rules(self):
        if self.printing:
            for attr, name in RUN_ONLY_FLAGS:
                if getattr(self, attr) not in (None, False):
                    raise ValueError(f"{name} is for running a config, and --print-config only writes one: drop "
                                     f"{name} here and give it when you run the file (run THIS_FILE {name} ...)")
            return self
        problem = positive_error("--max-duration", self.max_duration_s, maximum=limits.MAX_SECONDS * 1000)
        if problem is not None:
            raise ValueError(problem)
        if self.report:  # found before the run, not after it
            output_file("--report", self.report)
        return self

    @property
    def max_duration_s(self) -> float:
        """The run's bound on its schedules: ``--max-duration``, else ``limits.MAX_DURATION_S``."""
        return limits.MAX_DURATION_S if self.max_duration is None else self.max_duration

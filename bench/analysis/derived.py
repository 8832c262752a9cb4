"""The blocks a case's result owes to the catalogs, derived when results are read: ``efficiency`` (MBU,
MFU) and ``roofline`` (the physical limit and the share of it reached).

Measure writes only what it measured and the case's own summary; every view (the run table, ``compare``,
the report, ``gpu-check``, ``run --format json``) calls :func:`fill_run` or :func:`fill_case` on what
``bench.results`` read. A run written before this (its lines carry the blocks) keeps its stored blocks
exactly as written; a block is derived only where the line has none.

The model's architecture is the catalog's (or the tiny one's) for its label; a model read from a local
directory (``model.kind: local``) has none, so no block, as when measure wrote them. The hardware is the
case's own (each host of a multi-host run labels its cases), else the run's.
"""
from __future__ import annotations

from bench.analysis import efficiency, roofline
from bench.catalog import models as catalog
from bench.results import Run
from bench.results.schema import CaseResult, Efficiency, Roofline


def hardware_of(case: CaseResult, run_hardware: str | None = None) -> str | None:
    """The hardware a case ran on: its own label (each host of a multi-host run labels its cases), else the run's.
    Efficiency, roofline and the case's price all follow it."""
    return case.identity.hardware or run_hardware


def fill_case(case: CaseResult, run_hardware: str | None = None) -> CaseResult:
    """``case`` with its efficiency and roofline blocks, derived where the line had none (in place)."""
    if not case.ok or (case.efficiency is not None and case.roofline is not None):
        return case
    model = case.identity.model
    entry = None if model is None or model.kind == "local" else catalog.resolve_model(model.label)
    if entry is None:
        return case
    hw = hardware_of(case, run_hardware)
    disk = case.to_json()
    if case.efficiency is None:
        eff = efficiency.for_case(disk, hw, entry)
        case.efficiency = Efficiency.model_validate(eff) if eff is not None else None
    if case.roofline is None:
        roof = roofline.for_case(disk, hw, entry)
        case.roofline = Roofline.model_validate(roof) if roof is not None else None
    return case


def fill_run(run: Run) -> Run:
    """Every case of ``run`` through :func:`fill_case` (in place); the run, for chaining."""
    for case in run.cases:
        fill_case(case, run.manifest.hardware)
    return run

"""Executors: where the cases of a run plan run. The run plan (``config.cases.expand`` grouped by the model
the cases share) is the same for every executor, and the driver (``runner.execute``) alone writes the run
directory from the ``(case, result, records)`` an executor yields as each case finishes.

- ``local`` (the default): in the driver's own process, one group after another (``runner.run_group``);
  nothing here is imported.
- ``ray``: each group is a Ray task on a Ray cluster (``distributed.py``), needing ``pip install -e '.[ray]'``.
"""
from __future__ import annotations

from typing import Callable, Iterator

from bench.errors import PreflightError

KINDS = ("local", "ray")


def check(kind: str, cfg, address: str | None) -> None:
    """Refuse an executor this machine cannot use, in one line (exit 2), before anything runs."""
    if kind not in KINDS:
        raise PreflightError(f"--executor '{kind}' is unknown; known: {', '.join(KINDS)}")
    if kind == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise PreflightError("--executor ray needs Ray, which is not installed; pip install -e '.[ray]' "
                                 "(or run with --executor local)")
    if address is not None and kind != "ray":
        raise PreflightError(f"--ray-address '{address}' is for --executor ray; drop it or add --executor ray")


def run(kind: str, address: str | None, groups: list, cfg, backend, idle_w: float | None, run_group: Callable,
        failed_result: Callable, hardware: str, on_case_start: Callable | None = None) -> Iterator[tuple]:
    """Yield ``(case, result, records)`` for every case of ``groups`` as it finishes, wherever it ran.
    ``run_group(cfg, cases, hardware, idle_w, driver_host)`` runs one group where it is called (the runner's
    ``run_group_here``); ``failed_result(case)`` is the result of a case that never came back, to fail."""
    from bench.measure.executors.distributed import run_on_ray

    return run_on_ray(address, groups, cfg, backend, idle_w, run_group, failed_result, hardware, on_case_start)

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


def check(kind: str, cfg, address: str | None, where: str = "--ray-address") -> None:
    """Refuse an executor this machine cannot use, in one line (exit 2), before anything runs (``where``
    names the address in errors: the flag, or the config's ``executor.address``)."""
    if kind not in KINDS:
        raise PreflightError(f"--executor '{kind}' is unknown; known: {', '.join(KINDS)}")
    if kind == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise PreflightError("--executor ray needs Ray, which is not installed; pip install -e '.[ray]' "
                                 "(or run with --executor local)")
    if address is not None and kind != "ray":
        raise PreflightError(f"{where} {_show(address)} is for --executor ray; drop it or add --executor ray")
    if address is not None:
        check_address(address, where)


def _show(address: str) -> str:
    return repr(str(address)[:80])


def check_address(address: str, where: str = "--ray-address", timeout_s: float = 5.0) -> None:
    """``--ray-address`` is ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``, and something answers there (Ray
    itself retries an address where nothing listens for minutes): one line naming it otherwise."""
    import socket

    if address == "auto":
        return
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    form = "write it as HOST:PORT (the head's GCS port, 6379 by default), ray://HOST:10001 or auto"
    if (not sep or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536
            or any(not ch.isprintable() or ch.isspace() for ch in host)):
        raise PreflightError(f"{where} {_show(address)}: not an address; {form}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise PreflightError(f"{where} {_show(address)}: nothing answers at {host}:{port} ({why}); start "
                             "the head there (`ray start --head`) and check with `ray status`, or drop "
                             f"{where.split(': ')[-1]} to start a local Ray runtime") from None


def start(kind: str, address: str | None, where: str = "--ray-address") -> None:
    """Start (or join) the executor's runtime before the run directory is made: a runtime that cannot start
    is one line (exit 2) and leaves no run behind."""
    if kind == "ray":
        from bench.measure.executors.distributed import start_ray

        start_ray(address, where)


def run(kind: str, address: str | None, groups: list, cfg, backend, idle_w: float | None, run_group: Callable,
        failed_result: Callable, hardware: str, on_case_start: Callable | None = None) -> Iterator[tuple]:
    """Yield ``(case, result, records)`` for every case of ``groups`` as it finishes, wherever it ran.
    ``run_group(cfg, cases, hardware, idle_w, driver_host)`` runs one group where it is called (the runner's
    ``run_group_here``); ``failed_result(case)`` is the result of a case that never came back, to fail."""
    from bench.measure.executors.distributed import run_on_ray

    return run_on_ray(address, groups, cfg, backend, idle_w, run_group, failed_result, hardware, on_case_start)

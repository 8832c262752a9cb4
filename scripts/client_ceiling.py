"""The load generator's own ceiling: output tokens/s that 1 and N client processes can take in from a server
that costs nothing, so that the client, not the server, is what is measured.

The server (aiohttp, its own process) answers every streamed completion with all its SSE events at once
(``--chunked``: one write per token event instead). Usage:

    python scripts/client_ceiling.py [--clients 1,2] [--requests 2000] [--tokens 128] [--concurrency 64] [--chunked]

Prints one JSON line per client count: requests, output tokens, wall seconds, output tok/s, and the
busiest client's CPU share of a core. On a machine with few cores the server and the clients share them:
read the numbers with ``nproc`` beside them.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(port: int, chunked: bool) -> None:
    from aiohttp import web

    async def models(_):
        return web.json_response({"data": [{"id": "m"}]})

    async def completions(request):
        body = await request.json()
        n = int(body.get("max_tokens", 16))
        events = [b'data: {"choices":[{"text":"x","index":0}]}\n\n'] * n
        events.append(b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":%d}}\n\n' % n)
        events.append(b"data: [DONE]\n\n")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if chunked:
            for e in events:
                await resp.write(e)
        else:
            await resp.write(b"".join(events))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,2")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--chunked", action="store_true")
    args = ap.parse_args()

    from bench.measure.endpoint.loadgen import LoadSpec, Request, run_load, run_load_clients

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = mp.get_context("spawn").Process(target=_serve, args=(port, args.chunked), daemon=True)
    server.start()
    time.sleep(1.5)
    try:
        for n in (int(x) for x in args.clients.split(",")):
            spec = LoadSpec(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_concurrency=args.concurrency,
                            ignore_eos=False)
            reqs = [Request(f"r{i}", "x", 1, args.tokens) for i in range(args.requests)]
            client: dict = {}
            t0 = time.perf_counter()
            recs = run_load(spec, reqs, client=client) if n == 1 else run_load_clients(spec, reqs, n, client=client)
            ok = [r for r in recs if r.success]
            first = min(r.submitted_s for r in ok)
            last = max(r.done_s for r in ok)
            out = sum(r.output_tokens for r in ok)
            print(json.dumps({"clients": n, "chunked": args.chunked, "requests": len(recs), "succeeded": len(ok),
                              "output_tokens": out, "window_s": round(last - first, 3),
                              "output_tok_s": round(out / (last - first)), "busiest_client_cpu": round(
                                  client["cpu_s"] / client["wall_s"], 2), "cores": os.cpu_count(),
                              "wall_s_with_startup": round(time.perf_counter() - t0, 2)}), flush=True)
    finally:
        server.terminate()
        server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())

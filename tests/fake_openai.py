"""A scripted OpenAI-compatible streaming server on 127.0.0.1, for the load generator's tests.

The model name picks the behaviour: ``ok`` streams ``max_tokens`` chunks (one token each) ``delay_s``
apart and a final usage chunk; ``nousage`` leaves the usage out; ``http500`` answers 500; ``auth401`` answers 401 echoing the Authorization header;
``malformed`` sends a chunk that is not JSON; ``drop`` closes the stream before ``[DONE]``;
``slow`` waits before its first byte (for timeouts); ``loaded`` makes each token take ``delay_s`` times
the requests in flight (latency that grows with load, for the SLO search). It counts the requests in flight and keeps
the highest count, and the Authorization headers it saw. It also serves ``/v1/models`` and a
Prometheus ``/metrics`` with vLLM's counter names. ``reasoning`` (chat) streams its first half of
tokens as ``reasoning_content`` deltas. ``POST /reset_prefix_cache`` is counted (``resets``); the prefix
counters count each request's prompt as queries and, when ``prefix_hits`` is set, that many hits.
Prompt tokens are counted as words (for chat, over every message's content).
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, delay_s: float = 0.002, slow_s: float = 2.0, port: int = 0):
        self.delay_s, self.slow_s = delay_s, slow_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str | None] = []
        self.bodies: list[dict] = []
        self.generation_tokens = 0
        self.prompt_tokens = 0
        self.success = 0
        self.resets = 0
        self.prefix_metrics = False  # export vLLM's prefix-cache counters in /metrics
        self.prefix_hits = 0  # hits reported per request (to test the validity warning)
        self.prefix_queries = 0
        self.prefix_hit_total = 0
        self.sent_at: list[float] = []  # perf_counter when each POST arrived
        self.post_ports: list[int] = []  # the client port of each completion POST (which connection)
        self.model_extra: dict = {}  # more keys of the model in GET /v1/models (e.g. max_model_len)
        self.get_ports: list[int] = []  # the client port of each GET /v1/models (a warmed connection)
        self.log_requests = False  # print each POST path (a managed-server stand-in: stdout is its log)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do: each chunk leaves at once

            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body: str, ctype="application/json"):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.endswith("/v1/models"):
                    with fake.lock:
                        fake.get_ports.append(self.client_address[1])
                    self._send(200, json.dumps({"data": [{"id": "ok", **fake.model_extra}]}))
                elif self.path == "/health":
                    self._send(200, "")
                elif self.path.endswith("/metrics"):
                    with fake.lock:
                        text = ("# HELP vllm:generation_tokens_total x\n"
                                f'vllm:generation_tokens_total{{model_name="ok"}} {fake.generation_tokens}\n'
                                f'vllm:prompt_tokens_total{{model_name="ok"}} {fake.prompt_tokens}\n'
                                f'vllm:request_success_total{{finished_reason="length"}} {fake.success}\n'
                                f"vllm:num_requests_running {fake.in_flight}\n"
                                f"vllm:kv_cache_usage_perc {min(1.0, fake.in_flight / 10)}\n")
                        if fake.prefix_metrics:
                            text += (f"vllm:prefix_cache_queries_total {fake.prefix_queries}\n"
                                     f"vllm:prefix_cache_hits_total {fake.prefix_hit_total}\n")
                    self._send(200, text, "text/plain")
                else:
                    self._send(404, "{}")

            def do_POST(self):
                arrived = time.perf_counter()
                if fake.log_requests:
                    print(f"POST {self.path}", flush=True)
                if self.path.endswith("/reset_prefix_cache"):
                    with fake.lock:
                        fake.resets += 1
                    return self._send(200, "")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.sent_at.append(arrived)
                    fake.post_ports.append(self.client_address[1])
                    fake.bodies.append(body)
                    fake.auth_headers.append(self.headers.get("Authorization"))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                self.counted = True
                try:
                    self._stream(body)
                finally:
                    self._leave()

            def _leave(self) -> None:  # before the last bytes go out: the client may reuse its slot at once
                if self.counted:
                    self.counted = False
                    with fake.lock:
                        fake.in_flight -= 1

            def _chunk(self, obj) -> None:
                line = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            def _stream(self, body: dict) -> None:
                mode = body["model"]
                if mode == "http500":
                    return self._send(500, json.dumps({"error": "boom"}))
                if mode == "auth401":  # as some servers do: the key echoed back in the error text
                    return self._send(401, json.dumps({"error": "Incorrect API key provided: "
                                                       + str(self.headers.get("Authorization"))}))
                if mode == "slow":
                    time.sleep(fake.slow_s)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                n = int(body["max_tokens"])
                chat = "messages" in body
                if chat:  # one "token" per word of every message (no chat template of its own)
                    n_prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
                else:
                    n_prompt = len(body["prompt"]) if isinstance(body.get("prompt"), list) else len(
                        str(body.get("prompt", "")).split())
                for i in range(n):
                    # "loaded": each token takes longer the more requests are in flight, like a real server
                    time.sleep(fake.delay_s * (fake.in_flight if mode == "loaded" else 1))
                    if mode == "malformed" and i == 1:
                        self._chunk("{not json")
                        break
                    if mode == "drop" and i == 2:
                        break
                    if chat and mode == "reasoning" and i < n // 2:
                        piece = {"delta": {"reasoning_content": f" r{i}"}}
                    else:
                        piece = {"delta": {"content": f" t{i}"}} if chat else {"text": f" t{i}"}
                    self._chunk({"choices": [{"index": 0, **piece}]})
                if mode in ("drop", "malformed"):
                    self.wfile.write(b"0\r\n\r\n")
                    self.close_connection = True
                    return
                if mode != "nousage":
                    self._chunk({"choices": [], "usage": {"prompt_tokens": n_prompt, "completion_tokens": n}})
                with fake.lock:
                    fake.generation_tokens += n
                    fake.prompt_tokens += n_prompt
                    fake.prefix_queries += n_prompt
                    fake.prefix_hit_total += fake.prefix_hits
                    fake.success += 1
                self._leave()
                self._chunk("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # a server in its own process (timing tests: no GIL shared with the client)
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--port":  # a stand-in for `vllm serve`: runs until killed
        with FakeOpenAI(port=int(sys.argv[2])) as fake:
            fake.log_requests = True
            print(f"fake server on {fake.base_url}", flush=True)
            threading.Event().wait()
    with FakeOpenAI(delay_s=float(sys.argv[1]) if len(sys.argv) > 1 else 0.002) as fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin

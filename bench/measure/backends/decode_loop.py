"""``kind: transformers``: a manual prefill + greedy decode loop over the model's KV cache.

Every step is timestamped after a device synchronisation, so each request has raw times for its
submission, every output token and its end. EOS is ignored: each request yields exactly
``output_tokens`` tokens, and the count is checked.
"""
from __future__ import annotations

import logging
import time

from bench.catalog.architectures import hf_config_kwargs
from bench.measure.backends.base import LoadedModel, OfflineBackend, default_device, model_dir
from bench.config.schema import ModelSpec, TransformersBackend
from bench.errors import CaseFailed
from bench.metrics import RequestRecord

log = logging.getLogger(__name__)


class DecodeLoopBackend(OfflineBackend):
    kind = "transformers"

    def __init__(self, cfg: TransformersBackend):
        import torch

        self.torch = torch
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.runs_on = {"auto": default_device, "cuda": lambda: "cuda:0"}.get(cfg.device, lambda: cfg.device)()
        on_cuda = self.runs_on.startswith("cuda")
        self.dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if on_cuda else "float32")
        # The clock/sync pair is chosen once here; the loop itself never branches on the device.
        self._sync = (lambda: torch.cuda.synchronize(self.runs_on)) if on_cuda else (lambda: None)
        self.clock = time.perf_counter
        self.model = None
        self._last_cache = None
        self.last_tokens: list[list[int]] | None = None

    # ------------------------------------------------------------------ machine
    def preflight(self) -> list[str]:
        torch = self.torch
        if self.runs_on.startswith("cuda"):
            if not torch.cuda.is_available():
                return [f"backend.device '{self.cfg.device}': CUDA is not available here "
                        f"(torch {torch.__version__}); use device: cpu or auto"]
            idx = int(self.runs_on.split(":")[1])
            if idx >= torch.cuda.device_count():
                return [f"backend.device '{self.runs_on}': only {torch.cuda.device_count()} CUDA device(s) visible"]
        return []

    def cuda_indices(self) -> list[int]:
        return [int(self.runs_on.split(":")[1])] if self.runs_on.startswith("cuda") else []

    # ------------------------------------------------------------------ models
    def load(self, spec: ModelSpec) -> LoadedModel:
        torch = self.torch
        from transformers import AutoConfig, AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        dtype = getattr(torch, self.dtype)
        t0 = time.perf_counter()
        notes: list[str] = []
        special: list[int] = []
        if spec.kind == "catalog-random":
            entry = spec.entry()
            cfg = AutoConfig.for_model(entry.model_type, **hf_config_kwargs(entry))
            with torch.random.fork_rng(devices=self.cuda_indices()), torch.device(self.runs_on):
                torch.manual_seed(spec.seed)
                model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
            notes.append("random weights with the real architecture: speed, memory and power are real; "
                         "the generated text is not")
        else:
            path = model_dir(spec)
            if spec.kind == "tiny":
                notes.append("tiny random-weight model: a toy shape of a real architecture")
            model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=dtype, trust_remote_code=self.cfg.trust_remote_code)
            model.to(self.runs_on)
            try:
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(path, local_files_only=True,
                                                    trust_remote_code=self.cfg.trust_remote_code)
                special = list(tok.all_special_ids)
            except (OSError, ValueError):
                notes.append("no tokenizer found: prompt ids drawn from the whole vocabulary")
        model.eval()
        self._sync()
        self.model = model
        params = sum(p.numel() for p in model.parameters())
        wbytes = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
            b.numel() * b.element_size() for b in model.buffers())
        vocab = model.get_output_embeddings().weight.shape[0]
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=model.config.model_type, params=params,
                           weight_bytes=wbytes, vocab_size=vocab, special_token_ids=special,
                           load_s=time.perf_counter() - t0, notes=notes)

    def unload(self) -> None:
        self.model = None
        self._last_cache = None
        if self.runs_on.startswith("cuda"):
            self.torch.cuda.empty_cache()

    # ------------------------------------------------------------------ the loop
    def run_batch(self, prompts: list[list[int]], output_tokens: int, batch_id: str) -> list[RequestRecord]:
        torch, model, sync, clock = self.torch, self.model, self._sync, self.clock
        from transformers import DynamicCache

        ids = torch.tensor(prompts, device=self.runs_on)
        cache = DynamicCache(config=model.config)
        times: list[float] = []
        tokens = []
        sync()
        t0 = clock()
        with torch.inference_mode():
            out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            sync()
            times.append(clock())
            tokens.append(nxt)
            for _ in range(output_tokens - 1):
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
                nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
                sync()
                times.append(clock())
                tokens.append(nxt)
        generated = torch.cat(tokens, dim=1).tolist()
        if len(times) != output_tokens or any(len(g) != output_tokens for g in generated):
            raise CaseFailed(f"produced {len(times)} tokens, expected {output_tokens}")
        self._last_cache = cache
        self.last_tokens = generated
        return [RequestRecord(request_id=f"{batch_id}.{i}", input_tokens=len(p), output_tokens=output_tokens,
                              submitted_s=t0, token_times_s=list(times), batch_id=batch_id)
                for i, p in enumerate(prompts)]

    # ------------------------------------------------------------------ memory
    def free_memory(self) -> None:
        self._last_cache = None
        self.reset_peak_memory()
        if self.runs_on.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def reset_peak_memory(self) -> None:
        if self.runs_on.startswith("cuda"):
            self.torch.cuda.reset_peak_memory_stats(self.runs_on)

    def memory_stats(self) -> dict:
        stats = super().memory_stats()
        stats["kv_cache_bytes"] = _cache_bytes(self._last_cache)
        if self.runs_on.startswith("cuda"):
            stats["torch_peak_allocated_bytes"] = self.torch.cuda.max_memory_allocated(self.runs_on)
            stats["torch_peak_reserved_bytes"] = self.torch.cuda.max_memory_reserved(self.runs_on)
        return stats


def _cache_bytes(cache) -> int | None:
    """Bytes held by a transformers cache at the end of the last batch (None if its layout is unknown)."""
    if cache is None or not hasattr(cache, "layers"):
        return None
    total = 0
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if t is not None and hasattr(t, "element_size"):
                total += t.numel() * t.element_size()
    return total

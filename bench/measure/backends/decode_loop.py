"""``kind: transformers``: a manual prefill + greedy decode loop over the model's KV cache.

Every step is timestamped after a device synchronisation, so each request has raw times for its
submission, every output token and its end. EOS is ignored: each request yields exactly
``output_tokens`` tokens, and the count is checked.
"""
from __future__ import annotations

import logging
import time

from bench.catalog.architectures import hf_config_kwargs
from bench.measure import devices
from bench.measure.backends.base import LoadedModel, OfflineBackend, model_dir
from bench.config.schema import ModelSpec, TransformersBackend
from bench.errors import CaseFailed, PreflightError
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
        # The device (and with it the clock/sync pair and memory statistics) is resolved once here;
        # the loop itself never branches on the device.
        self._device_problem = None
        try:
            self.dev = devices.resolve(cfg.device)
        except PreflightError as exc:  # reported by preflight, with every other problem
            self._device_problem = str(exc)
            self.dev = devices.Device("cpu", "cpu", torch=torch)
        self.runs_on = self.dev.torch_device
        self.dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if self.dev.kind != "cpu" else "float32")
        self._sync = self.dev.synchronizer()
        self.clock = self.dev.clock
        self.model = None
        self._last_cache = None
        self.last_tokens: list[list[int]] | None = None

    # ------------------------------------------------------------------ machine
    def preflight(self) -> list[str]:
        return [self._device_problem] if self._device_problem else []

    def device_indices(self) -> list[int]:
        return self.dev.logical_indices()

    def sensor_target(self):
        return devices.SensorTarget(self.dev.vendor, tuple(self.dev.logical_indices()))

    def hardware_label(self, local: str) -> str:
        """This machine's label, or torch's own device name where sysinfo could not name it (an NPU
        in a container without npu-smi)."""
        from bench.catalog.hardware import resolve

        if self.dev.kind != "cpu" and self.dev.catalog_id() is not None and resolve(local) is None:
            return self.dev.name
        return local

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
            with torch.random.fork_rng(devices=self.dev.logical_indices(),
                                       device_type="cuda" if self.dev.kind == "cpu" else self.dev.kind), \
                    torch.device(self.runs_on):
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
        self.dev.empty_cache()

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
        self.dev.empty_cache()

    def reset_peak_memory(self) -> None:
        self.dev.reset_peak_memory()

    def memory_stats(self) -> dict:
        stats = super().memory_stats()
        stats["kv_cache_bytes"] = _cache_bytes(self._last_cache)
        stats.update(self.dev.memory_stats())
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

"""``kind: transformers``: a manual prefill + greedy decode loop over the model's KV cache.

``backend.compile`` picks the loop: ``none`` (a growing DynamicCache, eager), ``static`` or
``compiled`` (a StaticCache, optionally under torch.compile; see ``static_decode``). ``auto`` is
``compiled`` on CUDA and ``none`` on the CPU, resolved here, on the machine.

Every step is timestamped after a device synchronisation, so each request has raw times for its
submission, every output token and its end. EOS is ignored: each request yields exactly
``output_tokens`` tokens, and the count is checked.
"""
from __future__ import annotations

import logging
import time

from bench.catalog.architectures import hf_config_kwargs
from bench.measure import devices
from bench.measure.backends.base import LoadedModel, Measured, OfflineBackend, model_dir
from bench.config.schema import ModelSpec
from bench.measure.backends.transformers.spec import TransformersBackend
from bench.errors import CaseFailed, PreflightError
from bench.summary.metrics import RequestRecord

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
        # what was asked decides the default (a CUDA device that preflight will refuse still reads as CUDA)
        on_cuda = self.dev.kind == "cuda" or cfg.device.startswith("cuda")
        self.compile = cfg.compile if cfg.compile != "auto" else ("compiled" if on_cuda else "none")
        # reduce-overhead: CUDA graphs (one launch per step); inductor's default mode elsewhere
        self.compile_mode = "reduce-overhead" if on_cuda else None
        self._decoder = None  # StaticDecoder for static/compiled, per loaded model
        self._fallback_note: str | None = None  # why this model runs eagerly although compile was asked
        self._compile_block: dict | None = None  # set by warmup(), reported by measure()
        self.model = None
        self.tokenizer = None  # the model's tokenizer when it has one (datasets of text need it)
        self.max_model_len: int | None = None
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
        self.tokenizer = None
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
                self.tokenizer = tok
            except (OSError, ValueError):
                notes.append("no tokenizer found: prompt ids drawn from the whole vocabulary")
        model.eval()
        self._sync()
        self.model = model
        self.max_model_len = getattr(model.config, "max_position_embeddings", None)
        self._fallback_note = None
        self._decoder = None
        if self.compile != "none":
            from bench.measure.backends.transformers.static_decode import StaticDecoder

            self._decoder = StaticDecoder(model, self.runs_on, compiled=self.compile == "compiled",
                                          compile_mode=self.compile_mode)
        params = sum(p.numel() for p in model.parameters())
        wbytes = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
            b.numel() * b.element_size() for b in model.buffers())
        vocab = model.get_output_embeddings().weight.shape[0]
        return LoadedModel(label=spec.label, kind=spec.kind, model_type=model.config.model_type, params=params,
                           weight_bytes=wbytes, vocab_size=vocab, special_token_ids=special,
                           load_s=time.perf_counter() - t0, notes=notes)

    def unload(self) -> None:
        if self._decoder is not None:
            self._decoder.forget()
        self._decoder = None
        self.model = None
        self.tokenizer = None
        self._last_cache = None
        self.dev.empty_cache()

    # ------------------------------------------------------------------ compile warm-up
    def warmup(self, workload, loaded: LoadedModel) -> None:
        """Compile (static/compiled) before the workload's warm-up batches; never timed as a measurement."""
        if workload.dataset is not None:  # per-request lengths: ragged batches run the eager loop
            self._compile_block = {"requested": self.cfg.compile, "mode": "none", "torch_compile_mode": None,
                                   "compile_s": None, "graphs_reused": None, "attention": None,
                                   "fallback_note": "dataset workloads (ragged batches) run eagerly"
                                   if self.compile != "none" else self._fallback_note}
        else:
            self._compile_block = self._compile_for(workload, self._batches(workload, loaded))
        super().warmup(workload, loaded)

    def _compile_for(self, case, prompt_sets) -> dict:
        """The ``compile`` block of a case; the first batch at a new shape compiles (timed as compile_s)."""
        block = {"requested": self.cfg.compile, "mode": self.compile, "torch_compile_mode": None,
                 "compile_s": None, "graphs_reused": None, "attention": None, "fallback_note": self._fallback_note}
        if self._decoder is None or not prompt_sets:
            if self._fallback_note:
                block["mode"] = "none"
            return block
        dec = self._decoder
        block["attention"] = dec.attention
        block["torch_compile_mode"] = (self.compile_mode or "default") if dec.compiled else None
        shape = (case.batch_size, case.input_tokens, case.input_tokens + case.output_tokens)
        if shape in dec.shapes:
            block["graphs_reused"] = True
            return block
        t0 = time.perf_counter()
        try:
            self.run_batch(prompt_sets[0], case.output_tokens, f"{case.case_id}/compile")
        except (MemoryError, self.torch.OutOfMemoryError):
            dec.shapes.pop(shape, None)
            raise  # out of memory is the case's failure, not the compiler's
        except Exception as exc:  # noqa: BLE001 -- any compile failure: this model runs eagerly, with a note
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            self._fallback_note = (f"backend.compile '{self.compile}' failed for {self.model.config.model_type} "
                                   f"(torch {self.torch.__version__}): {type(exc).__name__}: {first}; "
                                   "ran the eager loop (compile: none) instead")
            log.warning("%s: %s", case.case_id, self._fallback_note)
            dec.forget()
            self._decoder = None
            return {**block, "mode": "none", "torch_compile_mode": None, "attention": None,
                    "fallback_note": self._fallback_note}
        block["compile_s"] = time.perf_counter() - t0
        block["graphs_reused"] = False
        return block

    def measure(self, workload, loaded: LoadedModel) -> Measured:
        graphs_before = self._graph_count()
        measured = super().measure(workload, loaded)
        block = dict(self._compile_block or self._compile_for(workload, []))
        if self._decoder is not None and self._decoder.compiled and self._graph_count() != graphs_before:
            block["fallback_note"] = ("torch.compile compiled a new graph inside the measured window; "
                                      "the timings include compilation")
        measured.blocks["compile"] = block
        self._compile_block = None
        return measured

    def _graph_count(self) -> int | None:
        if self._decoder is None or not self._decoder.compiled:
            return None
        from torch._dynamo.utils import counters

        return counters["stats"]["unique_graphs"]

    # ------------------------------------------------------------------ the loop
    def run_batch(self, prompts: list[list[int]], output_tokens: int | list[int], batch_id: str) -> list[RequestRecord]:
        """Prefill the batch, then decode greedily to the longest output length. Prompts of different
        lengths are left-padded (attention mask and positions keep the padding out); a request with a
        shorter output length keeps only its first ``output_tokens[i]`` token times. Uniform batches
        go through the static/compiled decoder where one is set."""
        outs = [output_tokens] * len(prompts) if isinstance(output_tokens, int) else list(output_tokens)
        width = max(len(p) for p in prompts)
        ragged = any(len(p) != width for p in prompts)
        if self._decoder is not None and not ragged and len(set(outs)) == 1:
            return self._run_static(prompts, outs[0], batch_id)
        torch, model, sync, clock = self.torch, self.model, self._sync, self.clock
        from transformers import DynamicCache

        steps = max(outs)
        kw = {}
        if ragged:
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.runs_on)
            ids = torch.tensor([[0] * (width - len(p)) + list(p) for p in prompts], device=self.runs_on)
            kw = {"attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}
        else:
            ids = torch.tensor(prompts, device=self.runs_on)
        cache = DynamicCache(config=model.config)
        times: list[float] = []
        tokens = []
        sync()
        t0 = clock()
        with torch.inference_mode():
            out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1, **kw)
            nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            sync()
            times.append(clock())
            tokens.append(nxt)
            for _ in range(steps - 1):
                if ragged:
                    kw["attention_mask"] = torch.cat(
                        [kw["attention_mask"], kw["attention_mask"].new_ones((len(prompts), 1))], 1)
                    kw["position_ids"] = kw["position_ids"][:, -1:] + 1
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True, **kw)
                nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
                sync()
                times.append(clock())
                tokens.append(nxt)
        return self._records(prompts, tokens, times, t0, cache, outs, batch_id)

    def _run_static(self, prompts, output_tokens: int, batch_id: str) -> list[RequestRecord]:
        ids = self.torch.tensor(prompts, device=self.runs_on)
        tokens, times, t0, cache = self._decoder.generate(ids, output_tokens, self._sync, self.clock)
        return self._records(prompts, tokens, times, t0, cache, [output_tokens] * len(prompts), batch_id)

    def _records(self, prompts, tokens, times, t0, cache, outs: list[int], batch_id: str) -> list[RequestRecord]:
        """One record per prompt; request i keeps its first ``outs[i]`` tokens (the batch ran max(outs))."""
        steps = max(outs)
        generated = self.torch.cat(tokens, dim=1).tolist()
        if len(times) != steps or any(len(g) != steps for g in generated):
            raise CaseFailed(f"produced {len(times)} tokens, expected {steps}")
        self._last_cache = cache
        self.last_tokens = [g[:n] for g, n in zip(generated, outs)]
        return [RequestRecord(request_id=f"{batch_id}.{i}", input_tokens=len(p), output_tokens=n,
                              submitted_s=t0, token_times_s=list(times[:n]), batch_id=batch_id)
                for i, (p, n) in enumerate(zip(prompts, outs))]

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

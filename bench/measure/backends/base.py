"""What every backend provides to the runner. The runner never branches on the device."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from bench.config.schema import ModelSpec
from bench.metrics import RequestRecord


@dataclass
class LoadedModel:
    label: str
    kind: str  # tiny | catalog-random | local
    model_type: str | None
    params: int | None
    weight_bytes: int | None
    vocab_size: int
    special_token_ids: list[int] = field(default_factory=list)
    load_s: float | None = None
    notes: list[str] = field(default_factory=list)


def model_dir(spec: ModelSpec) -> str | None:
    """The directory a model loads from: the tiny model built (or reused) in the cache, or the local
    path; None for a catalog model with random weights (built from its architecture, no directory)."""
    if spec.kind == "tiny":
        from bench.catalog.tiny import build_tiny

        return str(build_tiny(spec.id.split(":", 1)[1], seed=spec.seed))
    if spec.kind == "local":
        return os.path.expanduser(spec.path)
    return None


def default_device() -> str:
    """The first CUDA device where torch sees one, else the CPU."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda:0" if torch.cuda.is_available() else "cpu"


class Backend(ABC):
    kind: str
    device: str  # resolved: "cpu" or "cuda:N"
    dtype: str  # resolved torch dtype name
    accelerators: int = 1

    @abstractmethod
    def preflight(self) -> list[str]:
        """Problems that stop this backend running on this machine (empty list: fine)."""

    @abstractmethod
    def load(self, spec: ModelSpec) -> LoadedModel: ...

    @abstractmethod
    def run_batch(self, prompts: list[list[int]], output_tokens: int, batch_id: str) -> list[RequestRecord]:
        """Run one batch to exactly ``output_tokens`` new tokens each, timestamping every step."""

    @abstractmethod
    def unload(self) -> None: ...

    extra: dict = {}  # per-case additions to the summary (server counters, SLO search), set by measure()

    def set_run_dir(self, path) -> None:
        """Where backend-side artefacts (a managed server's log) go."""
        self.run_dir = path

    def warmup(self, case, cfg, prompt_sets: list[list[list[int]]]) -> None:
        for i in range(cfg.workload.warmup):
            self.run_batch(prompt_sets[i % len(prompt_sets)], case.output_tokens, f"{case.case_id}/warmup{i}")

    def measure(self, case, cfg, prompt_sets: list[list[list[int]]]) -> list[RequestRecord]:
        """The measured window: every batch of the case, ``repeats`` times."""
        self.extra = {}
        records: list[RequestRecord] = []
        for rep in range(cfg.workload.repeats):
            for b, prompts in enumerate(prompt_sets):
                records += self.run_batch(prompts, case.output_tokens, f"{case.case_id}/r{rep}b{b}")
        return records

    power_is_local = True  # False: the work runs on another machine (an external endpoint)
    model_in_process = True  # False: the model runs in other processes (vLLM's engine, a server)

    def hardware_label(self, local: str) -> str:
        """The hardware the cases run on, for the results (default: this machine's)."""
        return local

    def cuda_indices(self) -> list[int]:
        """Logical CUDA device indices this backend uses (empty on CPU)."""
        return []

    def reset_peak_memory(self) -> None:
        pass

    def memory_stats(self) -> dict:
        """Backend-known memory figures: torch peaks and KV-cache bytes (None where not known)."""
        return {"torch_peak_allocated_bytes": None, "torch_peak_reserved_bytes": None, "kv_cache_bytes": None}

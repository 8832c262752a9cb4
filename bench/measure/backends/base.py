"""What every backend provides to the runner. The runner never branches on the device.

Two contracts:

- an :class:`OfflineBackend` runs *batches*: ``run_batch(prompts, output_tokens, batch_id)``, every
  prompt of a batch submitted together (the decode loop, vLLM's offline engine);
- an :class:`OnlineBackend` runs a *load*: ``run_load(workload, n, tag, rate, concurrency)``, independent
  requests arriving at a rate with a cap on those in flight (an OpenAI-compatible server).

Both receive a :class:`~bench.measure.workload.CaseWorkload`, never the whole config, and answer
``measure(workload, loaded)`` with a :class:`Measured`: the raw request records plus the blocks the
backend alone knows (server counters, backend notes), which the runner adds to the case result.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from bench.config.schema import ModelSpec
from bench.measure import prompts
from bench.measure.workload import CaseWorkload
from bench.summary.metrics import RequestRecord


@dataclass
class LoadedModel:
    label: str
    kind: str  # tiny | catalog-random | local
    model_type: str | None
    params: int | None
    weight_bytes: int | None
    vocab_size: int
    special_token_ids: list[int] = field(default_factory=list)
    load_s: float | None = None  # written to each of its cases as ``load_s``
    notes: list[str] = field(default_factory=list)


@dataclass
class Measured:
    """One case's measured window: raw records, and result blocks only the backend knows
    (``server``, ``slo_search``, ``notes_backend``; keys of the case result)."""

    records: list[RequestRecord]
    blocks: dict = field(default_factory=dict)
    client: dict | None = None  # the load generator's own health (loop lag, CPU), online backends only


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
    """The first CUDA device where torch sees one, then an Ascend NPU, else the CPU."""
    from bench.measure.devices import default_device as detect

    return detect()


def engine_problems(device: str, what: str) -> list[str]:
    """vLLM on an Ascend NPU runs through its platform plugin, vllm-ascend; without it vLLM would fall
    back to another platform. Nothing else is special: same engine options, same `vllm serve` CLI."""
    import importlib.util

    if device.startswith("npu") and importlib.util.find_spec("vllm_ascend") is None:
        return [f"{what} on an Ascend NPU needs vllm-ascend (vLLM's Ascend platform plugin): pip install "
                "vllm-ascend matching your vllm and CANN versions"]
    return []


class Backend(ABC):
    kind: str
    # Where the work runs, once preflight has resolved it: "cpu", "cuda:N" (the first of the backend's
    # devices), or "endpoint" (an external server: the device is not known here). None before preflight.
    runs_on: str | None = None
    dtype: str  # resolved torch dtype name ("server" for an endpoint)
    accelerators: int = 1
    power_is_local = True  # False: the work runs on another machine (an external endpoint)
    model_in_process = True  # False: the model runs in other processes (vLLM's engine, a server)
    run_dir = None  # where backend-side artefacts (a managed server's log) go

    @abstractmethod
    def preflight(self) -> list[str]:
        """Problems that stop this backend running on this machine (empty list: fine)."""

    @abstractmethod
    def load(self, spec: ModelSpec) -> LoadedModel: ...

    @abstractmethod
    def unload(self) -> None: ...

    @abstractmethod
    def warmup(self, workload: CaseWorkload, loaded: LoadedModel) -> None:
        """Unmeasured work before the case's window."""

    @abstractmethod
    def measure(self, workload: CaseWorkload, loaded: LoadedModel) -> Measured:
        """The measured window of one case."""

    def set_run_dir(self, path) -> None:
        self.run_dir = path

    def hardware_label(self, local: str) -> str:
        """The hardware the cases run on, for the results (default: this machine's)."""
        return local

    def device_indices(self) -> list[int]:
        """Logical indices of the accelerators this backend uses on ``runs_on`` (empty on the CPU)."""
        return []

    def cuda_indices(self) -> list[int]:
        """Logical CUDA device indices this backend uses (empty on CPU and NPU)."""
        return self.device_indices() if (self.runs_on or "").startswith("cuda") else []

    def sensor_target(self):
        """What the energy sources look at: vendor and logical indices (``devices.SensorTarget``)."""
        from bench.measure.devices import sensor_target

        return sensor_target(self.runs_on or "cpu", self.device_indices() or self.cuda_indices())

    def reset_peak_memory(self) -> None:
        pass

    def free_memory(self) -> None:
        """Give the allocator back what a failed case held (after an out-of-memory error)."""

    def memory_stats(self) -> dict:
        """Backend-known memory figures: torch peaks and KV-cache bytes (None where not known)."""
        return {"torch_peak_allocated_bytes": None, "torch_peak_reserved_bytes": None, "kv_cache_bytes": None}


class OfflineBackend(Backend):
    """Runs batches of token-id prompts to exactly ``output_tokens`` new tokens each."""

    tokenizer = None  # the model's tokenizer where the backend has one (datasets of text need it)
    max_model_len: int | None = None  # the context, where known (datasets are clipped to it)

    @abstractmethod
    def run_batch(self, prompts: list[list[int]], output_tokens: int | list[int], batch_id: str) -> list[RequestRecord]:
        """Run one batch to exactly ``output_tokens`` new tokens each (one length, or one per prompt),
        timestamping every step."""

    _dataset_block: dict | None = None  # the last dataset batches' `dataset` result block (_batches → measure)

    def _batches(self, workload: CaseWorkload, loaded: LoadedModel) -> list[list[list[int]]]:
        """The case's batches: random prompts, or ``workload.dataset``'s requests (each with its own output
        length; their ``dataset`` block is kept for the result)."""
        if workload.dataset is not None:
            batches, self._dataset_block = prompts.dataset_batches(workload, prompts.token_source(self, loaded))
            return batches
        return prompts.offline_batches(workload, loaded.vocab_size, set(loaded.special_token_ids))

    def warmup(self, workload: CaseWorkload, loaded: LoadedModel) -> None:
        batches = self._batches(workload, loaded)
        for i in range(workload.warmup_batches):
            b = batches[i % len(batches)]
            self.run_batch(b, prompts.output_tokens_of(b, workload.output_tokens), f"{workload.case_id}/warmup{i}")

    def measure(self, workload: CaseWorkload, loaded: LoadedModel) -> Measured:
        """Every batch of the case, ``repeats`` times."""
        records: list[RequestRecord] = []
        batches = self._batches(workload, loaded)
        for rep in range(workload.repeats):
            for b, batch in enumerate(batches):
                done = self.run_batch(batch, prompts.output_tokens_of(batch, workload.output_tokens),
                                      f"{workload.case_id}/r{rep}b{b}")
                prompts.label_records(done, batch)  # session and turn: per-turn TTFT offline too
                records += done
        blocks = self.notes_blocks(records)
        if workload.dataset is not None:
            blocks["dataset"] = self._dataset_block
        return Measured(records, blocks)

    def notes_blocks(self, records: list[RequestRecord]) -> dict:
        """Result blocks about the records just measured (none by default)."""
        return {}


class OnlineBackend(Backend):
    """Runs a load of independent requests against a server."""

    @abstractmethod
    def run_load(self, workload: CaseWorkload, n: int, tag: str, rate: float,
                 concurrency: int | None) -> list[RequestRecord]:
        """``n`` requests of the workload's shape (prompts seeded by ``tag``) at ``rate`` requests/s with at
        most ``concurrency`` in flight (None: no cap)."""

    def warmup(self, workload: CaseWorkload, loaded: LoadedModel) -> None:
        n = workload.warmup_requests
        if n:  # at least one full wave at the case's concurrency, so the server has seen that batch shape
            n = max(n, workload.concurrency or 0)
            self.run_load(workload, n, "warmup", float("inf"), workload.concurrency)

    last_client: dict | None = None  # set by run_load where the client measures itself

    def measure(self, workload: CaseWorkload, loaded: LoadedModel) -> Measured:
        self.last_client = None
        tag = "r" if not workload.trial else f"t{workload.trial}r"  # trial k: fresh prompts
        records = self.run_load(workload, workload.num_prompts, tag, workload.request_rate, workload.concurrency)
        return Measured(records, client=self.last_client)

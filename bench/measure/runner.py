"""A run: preflight, then every case of the config through one backend under the trackers, each case
written to the run directory the moment it finishes.

The runner never branches on the device: the backend, its clock/sync and the energy source were
chosen once, at construction.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench import metrics
from bench.measure import sysinfo
from bench.results.schema import SCHEMA_VERSION
from bench.config.schema import BenchConfig
from bench.config.cases import Case, expand
from bench.config.load import config_sha256
from bench.errors import BenchError, CaseFailed, PreflightError
from bench.results.rundir import RunDir, utc_now
from bench.measure.trackers.energy import EnergySource, choose_source, energy_block
from bench.measure.trackers.memory import RssTracker, memory_block, rss_bytes
from bench.measure.prompts import make_prompts

log = logging.getLogger(__name__)




def preflight(cfg: BenchConfig, output_dir: Path, backend) -> EnergySource:
    """Check the machine before anything loads, listing every problem at once."""
    problems: list[str] = []
    for i, m in enumerate(cfg.models):
        if m.path is not None:
            p = Path(os.path.expanduser(m.path))
            if not p.is_dir():
                problems.append(f"models[{i}].path '{m.path}': directory not found; give a local model directory")
            elif not (p / "config.json").exists():
                problems.append(f"models[{i}].path '{m.path}': no config.json in it; give a Hugging Face model directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        problems.append(f"output_dir '{output_dir}': not writable ({exc.strerror}); choose another with --output-dir")
    problems += backend.preflight()
    source = None
    try:
        source = choose_source(cfg.energy, backend.cuda_indices(), local=backend.power_is_local)
    except PreflightError as exc:
        problems.append(f"energy.source '{cfg.energy.source}': {exc}")
    if problems:
        raise PreflightError(problems[0], problems)
    return source


@dataclass
class RunOutcome:
    run_dir: Path
    cases: list[dict] = field(default_factory=list)
    interrupted: bool = False


def _case_summary(case: Case, cfg: BenchConfig, backend, loaded, hardware: str) -> dict:
    return {
        "schema_version": SCHEMA_VERSION, "case_id": case.case_id, "status": "ok", "error": None,
        "provenance": "measured", "hardware": hardware,
        "model": {"label": case.model.label, "kind": case.model.kind, "weights": case.model.weights,
                  "model_type": loaded.model_type if loaded else None,
                  "params": loaded.params if loaded else None},
        "backend": {"kind": backend.kind, "device": backend.device, "dtype": backend.dtype,
                    "threads": getattr(cfg.backend, "threads", None)},
        "accelerators": backend.accelerators if backend.device != "cpu" else 0,
        "workload": {"batch_size": case.batch_size, "input_tokens": case.input_tokens,
                     "output_tokens": case.output_tokens, "num_batches": case.num_batches,
                     "concurrency": case.concurrency, "request_rate": case.request_rate, "kind": case.kind,
                     "repeats": cfg.workload.repeats, "warmup": cfg.workload.warmup, "seed": cfg.workload.seed},
        "notes": list(loaded.notes) if loaded else [],
    }


def run_case(case: Case, cfg: BenchConfig, backend, loaded, source: EnergySource, idle_w: float | None,
             rss_baseline: int) -> tuple[dict, list[metrics.RequestRecord]]:
    w = cfg.workload
    excluded = set(loaded.special_token_ids)
    prompt_sets = [make_prompts(w.seed, case.case_id, b, case.batch_size, case.input_tokens, loaded.vocab_size,
                                excluded) for b in range(case.num_batches)] if case.batch_size else []
    backend.warmup(case, cfg, prompt_sets)
    backend.reset_peak_memory()
    rss = RssTracker(rss_baseline, hz=cfg.energy.sample_hz)
    reading: dict = {}
    with ExitStack() as stack:
        stack.enter_context(rss)
        source.start()
        stack.callback(lambda: reading.update(source.stop()))
        records = backend.measure(case, cfg, prompt_sets)
    m = metrics.summarize(records)
    m.update(backend.extra)
    m["tok_s_per_user"] = metrics.tok_s_per_user(m["tpot_s"]["p50"])
    if w.slo is not None:
        from bench.slo import goodput

        m["goodput"] = goodput(records, w.slo.limits_ms(), m["window_s"])
    out_tok, in_tok = m["output_tokens"], m["input_tokens"]
    acc = max(backend.accelerators if backend.device != "cpu" else 1, 1)
    m["output_tok_s_per_accelerator"] = m["output_tok_s"] / acc if m["output_tok_s"] is not None else None
    m["energy"] = energy_block(source, reading, out_tok, out_tok + in_tok, idle_w)
    m["telemetry"] = source.telemetry()
    m["memory"] = memory_block(rss, loaded.weight_bytes, backend.memory_stats(), source.device_memory(),
                               model_in_process=backend.model_in_process)
    if m["requests"]["failed"]:
        errors = sorted({r.error for r in records if not r.success and r.error})
        m["failed_reasons"] = errors[:10]
    return m, records


def efficiency_block(case_summary: dict, spec, hardware_name: str) -> dict | None:
    """MBU and MFU of a measured case against its own hardware's catalog peaks (see analysis.efficiency)."""
    from bench.analysis import efficiency

    entry = spec.entry()
    return efficiency.for_case(case_summary, hardware_name, entry) if entry is not None else None


def execute(cfg: BenchConfig, cfg_text: str, cfg_path: str, output_dir: Path | None = None,
            resume: Path | None = None, on_case: Callable[[str, dict], None] | None = None,
            on_start: Callable[[int], None] | None = None) -> RunOutcome:
    """Run every case of ``cfg``. Failures of one case are recorded and the sweep goes on."""
    from bench.measure import backends

    cases = expand(cfg)
    out_dir = Path(output_dir or cfg.output_dir)
    backend = backends.create(cfg.backend)
    source = preflight(cfg, out_dir if resume is None else Path(resume).parent, backend)
    env = sysinfo.collect()
    hardware = backend.hardware_label(sysinfo.hardware_label(env["gpus"], backend.device))
    if resume is not None:
        rd = RunDir.open_existing(Path(resume))
        manifest = rd.manifest()
        manifest.setdefault("resumed_utc", []).append(utc_now())
        done = rd.completed_ids()
    else:
        rd = RunDir.create(out_dir, cfg.name)
        manifest = {"schema_version": SCHEMA_VERSION, "run_id": rd.path.name, "config_path": cfg_path,
                    "config": cfg.model_dump(mode="json"), "config_sha256": config_sha256(cfg),
                    "config_text": cfg_text, "started_utc": utc_now(), "finished_utc": None, "status": "running"}
        done = set()
    manifest.update(environment=env, hardware=hardware,
                    energy_source={**source.describe(), "idle_baseline_w": None},
                    cpu_pressure_start=sysinfo.cpu_pressure())
    rd.write_manifest(manifest)
    backend.set_run_dir(rd.path)
    outcome = RunOutcome(run_dir=rd.path)
    todo = [c for c in cases if c.case_id not in done]
    if on_start:
        on_start(len(todo))
    idle_w = source.idle_power_w(cfg.energy.idle_baseline_s) if todo else None
    manifest["energy_source"]["idle_baseline_w"] = idle_w
    try:
        for model_cases in _group_by_model(todo):
            spec = model_cases[0].model
            loaded, load_error = None, None
            rss_baseline = rss_bytes()
            try:
                loaded = backend.load(spec)
            except BenchError as exc:  # e.g. a managed server that would not start: recorded, sweep goes on
                load_error = f"model load failed: {exc}"
                log.warning("%s: %s", spec.label, load_error)
            except Exception as exc:  # one model failing to load must not stop the sweep
                load_error = f"model load failed: {type(exc).__name__}: {exc}"
                log.warning("%s: %s", spec.label, load_error)
            for case in model_cases:
                summary = _case_summary(case, cfg, backend, loaded, hardware)
                summary["started_utc"] = utc_now()
                t0 = time.perf_counter()
                records: list[metrics.RequestRecord] = []
                if load_error:
                    summary.update(status="failed", error=load_error)
                else:
                    try:
                        m, records = run_case(case, cfg, backend, loaded, source, idle_w, rss_baseline)
                        summary.update(m)
                        summary["efficiency"] = efficiency_block(summary, spec, hardware)
                        if m["requests"]["total"] and not m["requests"]["succeeded"]:
                            summary.update(status="failed", error=f"all {m['requests']['total']} requests failed: "
                                           + "; ".join(m.get("failed_reasons") or [])[:500])
                    except (CaseFailed, BenchError, RuntimeError, ValueError, MemoryError, OSError) as exc:
                        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                        log.warning("%s failed: %s", case.case_id, summary["error"])
                        _free_after_failure(backend)
                summary["finished_utc"] = utc_now()
                summary["duration_s"] = time.perf_counter() - t0
                rd.append_case(summary, [{"case_id": case.case_id, **r.to_json()} for r in records])
                outcome.cases.append(summary)
                if on_case:
                    on_case(case.case_id, summary)
            backend.unload()
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        backend.unload()  # idempotent; stops a managed server also on Ctrl-C or an unexpected error
        manifest.update(finished_utc=utc_now(), status="interrupted" if outcome.interrupted else "complete",
                        cpu_pressure_end=sysinfo.cpu_pressure())
        rd.write_manifest(manifest)
    outcome.cases = rd.latest_cases()
    return outcome


def _free_after_failure(backend) -> None:
    """After an out-of-memory error, give the allocator back what the failed case held."""
    try:
        backend.reset_peak_memory()
        if backend.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
    except Exception:  # best effort only
        pass


def _group_by_model(cases: list[Case]) -> list[list[Case]]:
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.model.model_dump_json(), []).append(c)
    return list(groups.values())


__all__ = ["execute", "preflight", "make_prompts", "run_case", "BenchError"]

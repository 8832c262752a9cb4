"""A run: preflight, then every case of the config through one backend under the trackers, each case
written to the run directory the moment it finishes.

The runner never branches on the device: the backend, its clock/sync, the device sampler and the
energy source were chosen once, at construction. It builds each case's typed result
(:class:`~bench.results.schema.CaseResult`) from what was measured and the case's own summary
(``tok_s_per_user``, per-accelerator rates, the phase rates per trial). What the catalogs add
(efficiency, roofline, cost) is derived when results are read (``bench.analysis.derived``, ``cost``).

Above 400 lines because preflight, the case loop and the per-case blocks share one run's state (backend,
sensors, run directory, resume); the measuring itself is in the backends and trackers.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.summary import metrics
from bench.config.cases import Case, expand
from bench.config.load import config_doc, config_sha256
from bench.config.schema import BenchConfig
from bench.errors import BenchError, CaseFailed, ConfigError, PreflightError, StorageError
from bench.measure import slo_search, sysinfo, trials
from bench.measure.backends.base import Backend, LoadedModel, Measured
from bench.measure.trackers.device_sampler import DeviceSampler
from bench.measure.vendors.nvidia import open_devices
from bench.measure.energy import EnergySource, choose_source, energy_block
from bench.measure.trackers.memory import RssTracker, memory_block, rss_bytes
from bench.measure.workload import CaseWorkload
from bench.config import limits
from bench.workloads import DatasetError, preflight_datasets
from bench.workloads.schedule import too_long, too_many_tokens
from bench.workloads.sampling import mean_lengths, shares_prefixes
from bench.results import schema as rs
from bench.summary.rates import phase_rates
from bench.results.rundir import RunDir, utc_now

log = logging.getLogger(__name__)


@dataclass
class Sensors:
    """What the run measures the machine with, chosen once in preflight."""

    energy: EnergySource
    devices: DeviceSampler | None  # one sampler of the backend's CUDA devices; None on the CPU


def preflight(cfg: BenchConfig, output_dir: Path, backend: Backend,
              max_duration_s: float = limits.MAX_DURATION_S) -> Sensors:
    """Check the machine, the dataset files and the schedules before anything loads, listing every problem
    at once."""
    problems: list[str] = []
    for i, m in enumerate(cfg.models):
        if m.path is not None:
            p = Path(os.path.expanduser(m.path))
            if not p.is_dir():
                problems.append(f"models[{i}].path '{m.path}': directory not found; give a local model directory")
            elif not (p / "config.json").is_file():
                problems.append(f"models[{i}].path '{m.path}': no config.json in it; give a Hugging Face model directory")
            elif not _json_object(p / "config.json"):
                problems.append(f"models[{i}].path '{m.path}': config.json is not a JSON object (damaged?); give a "
                                "Hugging Face model directory")
    try:
        import tempfile

        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):  # unique: parallel runs don't clash
            pass
    except OSError as exc:
        problems.append(f"output_dir '{output_dir}': not writable ({exc.strerror}); choose another with --output-dir")
    problems += context_problems(cfg)
    problems += backend.preflight()
    problems += schedule_problems(cfg, max_duration_s)
    devices = open_devices(backend.cuda_indices(), cfg.energy.sample_hz) if not problems else None
    source = None
    try:
        source = choose_source(cfg.energy, backend.sensor_target(), local=backend.power_is_local, devices=devices)
    except PreflightError as exc:
        problems.append(f"energy.source '{cfg.energy.source}': {exc}")
    if problems:
        raise PreflightError(problems[0], problems)
    return Sensors(source, devices)


def schedule_problems(cfg: BenchConfig, max_duration_s: float) -> list[str]:
    """Every problem with the config's dataset files, then (online) every case whose schedule takes longer than
    ``max_duration_s`` (``workloads.schedule``); at most three such cases are named."""
    shapes: dict = {}
    w = cfg.workload
    problems = preflight_datasets(w.datasets(), shapes)
    for spec in w.datasets():  # synthetic sources: what they would build, before they build it
        n = w.num_prompts if cfg.backend.kind == "openai" else max(
            bs * w.batches_for(bs) for bs in w.batch_sizes or [1])
        found = too_many_tokens(spec, n if spec.kind == "prefix" else None, limits.MAX_DATASET_TOKENS)
        if found:
            problems.append(found)
    if problems or cfg.backend.kind != "openai":
        return problems
    long = too_long(expand(cfg), cfg.workload, shapes, max_duration_s)
    if len(long) > 3:
        long = long[:3] + [f"workload: {len(long) - 3} more case(s) above --max-duration"]
    return long


def _json_object(path: Path) -> bool:
    import json

    try:
        return isinstance(json.loads(path.read_bytes().decode("utf-8")), dict)
    except (OSError, ValueError):
        return False


def model_context(spec) -> int | None:
    """The model's context length (tokens): the catalog's, or a local directory's config.json; None when
    unknown."""
    entry = spec.entry()
    if entry is not None:
        return entry.context_length
    try:
        import json

        doc = json.loads((Path(os.path.expanduser(spec.path)) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    v = doc.get("max_position_embeddings") if isinstance(doc, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def context_problems(cfg: BenchConfig) -> list[str]:
    """input_tokens + output_tokens must fit the model's context."""
    w = cfg.workload
    if w.input_tokens is None:  # datasets only: each request is clipped to the context instead, with a note
        return []
    need = max(w.input_tokens if isinstance(w.input_tokens, int) else max(w.input_tokens), 1) + \
        max(w.output_tokens if isinstance(w.output_tokens, int) else max(w.output_tokens), 1)
    out = []
    for i, m in enumerate(cfg.models):
        ctx = model_context(m)
        if ctx is not None and need > ctx:
            out.append(f"workload: input_tokens + output_tokens = {need} exceeds the context of models[{i}] "
                       f"'{m.label}' ({ctx} tokens); use shorter lengths")
    return out


@dataclass
class RunOutcome:
    run_dir: Path
    cases: list[dict] = field(default_factory=list)
    interrupted: bool = False


def case_identity(case: Case, cfg: BenchConfig, backend: Backend, loaded: LoadedModel | None,
                  hardware: str) -> rs.CaseResult:
    """The part of a case's result known before it runs (all a failed load leaves)."""
    return rs.CaseResult(
        schema_version=rs.SCHEMA_VERSION,
        identity=rs.Identity(
            case_id=case.case_id, provenance="measured", hardware=hardware,
            model=rs.ModelInfo(label=case.model.label, kind=case.model.kind, weights=case.model.weights,
                               model_type=loaded.model_type if loaded else None,
                               params=loaded.params if loaded else None),
            backend=rs.BackendInfo(kind=backend.kind, runs_on=backend.runs_on, dtype=backend.dtype,
                                   threads=getattr(cfg.backend, "threads", None)),
            accelerators=rs.accelerators_on_disk(backend.runs_on, backend.accelerators)),
        status="ok", error=None,
        workload=rs.WorkloadInfo(
            # schema 1's batch_size: the batch offline, the concurrency cap online (0 = none)
            batch_size=case.batch_size if case.batch_size is not None else (case.concurrency or 0),
            input_tokens=case.input_tokens, output_tokens=case.output_tokens, num_batches=case.num_batches,
            concurrency=case.concurrency, request_rate=case.request_rate, kind=case.kind,
            repeats=cfg.workload.repeats, warmup=cfg.workload.warmup, seed=cfg.workload.seed, dataset=case.dataset),
        notes=list(loaded.notes) if loaded else [],
        load_s=loaded.load_s if loaded else None)


def derived_rates(latency: rs.Latency, throughput: rs.Throughput, accelerators: int | None) -> None:
    """The derived throughput figures, in place: tokens/s one user sees (1 / TPOT p50) and output tokens/s
    per accelerator (the whole machine counts as one on the CPU)."""
    throughput.tok_s_per_user = metrics.tok_s_per_user(latency.tpot_s.p50 if latency.tpot_s else None)
    out = throughput.output_tok_s
    throughput.output_tok_s_per_accelerator = out / rs.rate_divisor(accelerators) if out is not None else None


def measured_blocks(records: list[metrics.RequestRecord], measured: Measured, slo_limits_ms: dict | None,
                    accelerators: int | None) -> dict:
    """The blocks summarised from a case's records: requests, latency, throughput, goodput, failures."""
    m = metrics.summarize(records)
    latency = rs.Latency(**{k: m[k] for k in ("ttft_s", "tpot_s", "itl_s", "e2e_s")})
    throughput = rs.Throughput(window_s=m["window_s"], output_tokens_total=m["output_tokens"],
                               input_tokens_total=m["input_tokens"], output_tok_s=m["output_tok_s"],
                               total_tok_s=m["total_tok_s"], requests_per_s=m["requests_per_s"],
                               prefill_tok_s=m["prefill_tok_s"])
    derived_rates(latency, throughput, accelerators)
    blocks = {"requests": m["requests"], "latency": latency, "throughput": throughput, **measured.blocks,
              **{k: m[k] for k in ("ttfot_s", "send_lag_s", "turns", "itl_coalesced") if k in m}}  # workloads
    if slo_limits_ms is not None:
        from bench.summary.slo import goodput

        blocks["goodput"] = goodput(records, slo_limits_ms, m["window_s"])
    if m["requests"]["failed"]:
        blocks["failed_reasons"] = sorted({r.error for r in records if not r.success and r.error})[:10]
    return blocks


def run_case(case: Case, cfg: BenchConfig, backend: Backend, loaded: LoadedModel, sensors: Sensors,
             idle_w: float | None, rss_baseline: int, result: rs.CaseResult) -> list[metrics.RequestRecord]:
    """Warm up, measure the case's window under the trackers (``workload.trials`` times), and fill
    ``result``. Returns the records of every trial."""
    from dataclasses import replace

    workload = CaseWorkload.of(case, cfg.workload)
    backend.warmup(workload, loaded)
    backend.reset_peak_memory()
    source, devices = sensors.energy, sensors.devices
    rss = RssTracker(rss_baseline, hz=cfg.energy.sample_hz)
    acc = result.identity.accelerators
    plan = trials.Plan.of(cfg.workload, workload.kind)
    pressure0, t_start = sysinfo.cpu_pressure(), time.perf_counter()
    with rss:
        while plan.more():
            k = len(plan.done)
            wl = replace(workload, trial=k)
            reading: dict = {}
            with ExitStack() as stack:
                if devices is not None:
                    devices.start()
                    stack.callback(devices.stop)
                source.start()
                stack.callback(lambda: reading.update(source.stop()))
                if wl.kind == "slo-search":
                    measured = slo_search.run(backend, wl)
                else:
                    measured = backend.measure(wl, loaded)
            for r in measured.records:
                r.trial = k
            plan.done.append(trials.Trial(
                measured.records, _trial_summary(measured.records, reading, source, idle_w, acc), reading,
                devices.power_samples() if devices is not None else None, measured.client,
                measured.blocks.get("server"), measured.blocks))
    wall_s = time.perf_counter() - t_start
    done = plan.done
    records = [r for t in done for r in t.records]
    merged = dict(done[-1].blocks)  # server counters, slo_search, notes: the last trial's, counters summed
    if len(done) > 1 and merged.get("server") is not None:
        merged["server"] = trials.combine_server([t.server for t in done])
    blocks = measured_blocks(records, Measured(records, merged), workload.slo_limits_ms if cfg.workload.slo else None,
                             acc)
    tp = blocks["throughput"]
    if len(done) > 1:  # throughputs: the mean over trials; the window: their sum (latencies pool every request)
        head = trials.headline(done)
        for k in trials.THROUGHPUTS:
            if hasattr(tp, k) and k != "output_tok_s_per_accelerator":
                setattr(tp, k, head[k])
        tp.window_s = head["window_s"]
        derived_rates(blocks["latency"], tp, acc)
    out_tok, in_tok = tp.output_tokens_total, tp.input_tokens_total
    blocks["energy"] = energy_block(source, trials.combine_readings([t.reading for t in done]), out_tok,
                                    out_tok + in_tok, idle_w)
    # NVIDIA GPUs: the shared device sampler; AMD GPUs and Ascend NPUs: their energy source's own sampler
    blocks["telemetry"] = devices.telemetry() if devices is not None else source.telemetry()
    blocks["memory"] = memory_block(rss, loaded.weight_bytes, backend.memory_stats(),
                                    devices.memory() if devices is not None else source.device_memory(),
                                    model_in_process=backend.model_in_process)
    endpoint = getattr(cfg.backend, "endpoint", None)  # chat templates share a prefix and add prompt tokens
    blocks.update(trials.build(case, done, plan, target_concurrency=case.concurrency or (
        case.batch_size if backend.kind != "openai" else None), pressure_before=pressure0,
        pressure_after=sysinfo.cpu_pressure(), wall_s=wall_s, telemetry=blocks["telemetry"],
        shared_prefixes=endpoint == "chat" or shares_prefixes(merged.get("dataset")),
        check_prompt_tokens=endpoint == "completions"))
    _beyond_one_machine(blocks, done, records)
    result.update(**blocks)
    workload_checks(result)
    return records


def _beyond_one_machine(blocks: dict, done: list, records: list) -> None:
    """Per-client figures and checks of a multi-client load, and the coverage check of a Prometheus energy
    reading, merged into the case's blocks (docs/guides/beyond-one-machine.md)."""
    from bench.summary import validity
    from bench.measure.endpoint.clients import clients_block

    clients = [t.client["clients"] for t in done if t.client and t.client.get("clients")]
    if clients:
        blocks["clients"] = clients_block(clients, records, done[-1].client.get("placement"))
    findings = {"monitoring_samples": validity.check_monitoring_samples(blocks.get("energy"))}
    if clients:
        findings.update(validity.per_client([c for trial in clients for c in trial], records))
    if any(f is not None for f in findings.values()):  # else the block stays exactly as before
        blocks["validity"] = validity.amend(blocks["validity"], findings)


def _trial_summary(recs, reading: dict, source: EnergySource, idle_w, accelerators: int | None) -> dict:
    """One trial's metrics: summarize, per-accelerator throughput, energy, and the phase rates $/M charges."""
    s = metrics.summarize(recs)
    acc = rs.rate_divisor(accelerators)
    s["output_tok_s_per_accelerator"] = s["output_tok_s"] / acc if s["output_tok_s"] is not None else None
    s["energy"] = energy_block(source, reading, s["output_tokens"], s["output_tokens"] + s["input_tokens"], idle_w)
    rates = phase_rates(s["window_s"], s["prefill_tok_s"], s["input_tokens"], s["output_tokens"], acc)
    s["cost_rates"] = {"output_tok_s": rates.output_tok_s, "input_tok_s": rates.input_tok_s} if rates else None
    return s


def workload_checks(result: rs.CaseResult) -> None:
    """A dataset case's ``workload.input_tokens``/``output_tokens`` are the sampled requests' mean lengths
    (marked as such), so that cost, projection and compare read one shape per case."""
    lengths = mean_lengths((result.model_extra or {}).get("dataset"))
    if lengths is not None and result.workload is not None and result.workload.input_tokens is None:
        result.workload.input_tokens, result.workload.output_tokens = lengths
        result.workload.lengths = "dataset mean; per-request lengths vary (see dataset)"


def execute(cfg: BenchConfig, cfg_text: str, cfg_path: str, output_dir: Path | None = None,
            resume: Path | None = None, on_case: Callable[[str, dict], None] | None = None,
            on_start: Callable[[int], None] | None = None, executor: str | None = None,
            executor_address: str | None = None, on_case_start: Callable[[Case, dict], None] | None = None,
            max_duration_s: float = limits.MAX_DURATION_S) -> RunOutcome:
    """Run every case of ``cfg``. Failures of one case are recorded and the sweep goes on. ``executor``
    (local | ray; default the config's ``executor.kind``) says where the cases run; the run directory is
    written here, by this process, either way. ``max_duration_s``: the bound on each case's schedule
    (``run --max-duration``), checked at preflight."""
    from bench.measure import backends

    runner_kind = executor or cfg.executor.kind
    address_from = "--ray-address" if executor_address else f"{cfg_path}: executor.address"  # named in errors
    executor_address = executor_address or cfg.executor.address
    if cfg.workload.client_placement == "spread" and runner_kind != "ray":
        raise PreflightError(f"{cfg_path}: workload.client_placement 'spread' needs --executor ray (the clients are "
                             "Ray actors); add --executor ray or use client_placement: local")
    if runner_kind != "local" or executor_address:  # the executor's own dependency, named before anything runs
        from bench.measure import executors

        executors.check(runner_kind, cfg, executor_address, address_from)

    try:
        cases = expand(cfg)
    except ConfigError as exc:  # name the config file
        raise ConfigError(f"{cfg_path}: {exc.problems[0]}", [f"{cfg_path}: {p}" for p in exc.problems]) from None
    out_dir = Path(os.path.expanduser(str(output_dir or cfg.output_dir)))
    resume = Path(os.path.expanduser(str(resume))) if resume is not None else None
    rd = None
    if resume is not None:  # a bad --resume is named before the machine is checked
        rd = RunDir.open_existing(resume)
        manifest = rd.manifest()
        if manifest.get("config_sha256") != config_sha256(cfg):
            raise PreflightError(f"--resume {resume}: this run was made with another config (config_sha256 "
                                 f"differs); resume it with its own config ({manifest.get('config_path')}) or "
                                 "start a new run")
        rd.lock()
    backend = backends.create(cfg.backend)
    try:
        sensors = preflight(cfg, out_dir if resume is None else resume.parent, backend, max_duration_s)
    except PreflightError as exc:  # name the config file on every line
        if rd is not None:
            rd.unlock()
        raise PreflightError(f"{cfg_path}: {exc.problems[0]}", [f"{cfg_path}: {p}" for p in exc.problems]) from None
    source = sensors.energy
    env = sysinfo.collect()
    hardware = backend.hardware_label(sysinfo.hardware_label(env["gpus"], backend.runs_on, npu_list=env.get("npus")))
    if runner_kind != "local":  # its runtime up before the run directory: a runtime that cannot start leaves none
        from bench.measure import executors

        try:
            executors.start(runner_kind, executor_address, address_from)
        except PreflightError:
            if rd is not None:
                rd.unlock()
            raise
    if rd is not None:
        try:
            rd.prepare_resume()
            done = rd.completed_ids()
        except BaseException:
            rd.unlock()
            raise
        manifest.setdefault("resumed_utc", []).append(utc_now())
    else:
        rd = RunDir.create(out_dir, cfg.name)
        rd.lock()
        manifest = {"schema_version": rs.SCHEMA_VERSION, "run_id": rd.path.name, "config_path": cfg_path,
                    "config": config_doc(cfg), "config_sha256": config_sha256(cfg),
                    "config_text": cfg_text, "started_utc": utc_now(), "finished_utc": None, "status": "running"}
        done = set()
    manifest.update(environment=env, hardware=hardware,
                    energy_source={**source.describe(), "idle_baseline_w": None},
                    cpu_pressure_start=sysinfo.cpu_pressure())
    try:
        rd.write_manifest(manifest)
    except StorageError:
        rd.unlock()
        raise
    backend.set_run_dir(rd.path)
    outcome = RunOutcome(run_dir=rd.path)
    todo = [c for c in cases if c.case_id not in done]
    if on_start:
        on_start(len(todo))
    idle_w = source.idle_power_w(cfg.energy.idle_baseline_s) if todo else None
    manifest["energy_source"]["idle_baseline_w"] = idle_w
    storage: StorageError | None = None
    finished = False  # False in `finally`: an error stopped the sweep (the manifest says interrupted)
    try:
        groups = _group_by_model(todo)
        if runner_kind != "local" and cfg.executor.group == "case":  # one task per case
            groups = [[c] for g in groups for c in g]
        if runner_kind == "local":  # today's path: in this process, nothing new imported
            results = (r for g in groups for r in run_group(g, cfg, backend, sensors, idle_w, hardware))
        else:
            from bench.measure import executors

            results = executors.run(runner_kind, executor_address, groups, cfg, backend, idle_w, run_group_here,
                                    lambda case: case_identity(case, cfg, backend, None, hardware), hardware,
                                    on_case_start=on_case_start)
        for case, result, records in results:
            summary = result.to_json()
            rd.append_case(summary, [{"case_id": case.case_id, **r.to_json()} for r in records])
            if isinstance(summary.get("dataset"), dict):  # the sampled shape, also in the manifest
                manifest.setdefault("datasets", {})[case.case_id] = {
                    k: summary["dataset"].get(k) for k in ("name", "requests", "input_tokens", "output_tokens",
                                                           "shared_prefix_share", "notes")}
            outcome.cases.append(summary)
            if on_case:
                on_case(case.case_id, summary)
        finished = True
    except KeyboardInterrupt:
        outcome.interrupted = True
    except StorageError as exc:  # a full disk or read-only file system: stop; what is written stays
        storage, outcome.interrupted = exc, True
    finally:
        backend.unload()  # idempotent; stops a managed server also on Ctrl-C or an unexpected error
        manifest.update(finished_utc=utc_now(), status="complete" if finished and not outcome.interrupted
                        else "interrupted",
                        cpu_pressure_end=sysinfo.cpu_pressure())
        marked = False
        try:
            rd.write_manifest(manifest)
            marked = True
        except StorageError as exc:
            if storage is None:
                storage = exc
            log.warning("%s", exc)  # the manifest keeps its last state; the cases are what counts
        finally:
            rd.unlock()
    if storage is not None:
        raise StorageError(f"{storage}; the run stopped: {len(outcome.cases)} case(s) of this run written, "
                           f"manifest {'marked interrupted' if marked else 'not updated'}")
    outcome.cases = rd.latest_cases()
    return outcome


def run_group(model_cases: list[Case], cfg: BenchConfig, backend: Backend, sensors: Sensors, idle_w: float | None,
              hardware: str, on_case_start: Callable[[Case], None] | None = None):
    """Load the model the cases share, then run them one by one, yielding ``(case, result, records)`` as each
    finishes. A failed load or case is a failed result; the caller writes them (the driver alone writes the run
    directory, whichever executor ran the group)."""
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
        if on_case_start:
            on_case_start(case)
        result = case_identity(case, cfg, backend, loaded, hardware)
        result.started_utc = utc_now()
        t0 = time.perf_counter()
        records: list[metrics.RequestRecord] = []
        if load_error:
            result.update(status="failed", error=load_error)
        else:
            try:
                records = run_case(case, cfg, backend, loaded, sensors, idle_w, rss_baseline, result)
                req = result.requests
                if req.total and not req.succeeded:
                    result.update(status="failed", error=f"all {req.total} requests failed: "
                                  + "; ".join(result.failed_reasons or [])[:500])
            except DatasetError:  # e.g. nothing left after filtering: bad input, the run stops (exit 2)
                raise
            except (CaseFailed, BenchError, RuntimeError, ValueError, MemoryError, OSError) as exc:
                result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                log.warning("%s failed: %s", case.case_id, result.error)
                _free_after_failure(backend)
        result.update(finished_utc=utc_now(), duration_s=time.perf_counter() - t0)
        yield case, result, records
    backend.unload()


def run_group_here(cfg: BenchConfig, cases: list[Case], hardware: str, idle_w: float | None, driver_host: str):
    """``run_group`` on whatever machine this runs on (an executor's worker): its own backend and sensors, and on
    another host than the driver's its own hardware label and idle power."""
    import socket

    from bench.measure import backends

    backend = backends.create(cfg.backend)
    problems = backend.preflight()
    if problems:
        raise PreflightError(f"on {socket.gethostname()}: {problems[0]}", problems)
    devices = open_devices(backend.cuda_indices(), cfg.energy.sample_hz)
    source = choose_source(cfg.energy, backend.sensor_target(), local=backend.power_is_local, devices=devices)
    if socket.gethostname() != driver_host:
        env = sysinfo.collect()
        hardware = backend.hardware_label(sysinfo.hardware_label(env["gpus"], backend.runs_on,
                                                                 npu_list=env.get("npus")))
        idle_w = source.idle_power_w(cfg.energy.idle_baseline_s)
    yield from run_group(cases, cfg, backend, Sensors(source, devices), idle_w, hardware)


def _free_after_failure(backend: Backend) -> None:
    """After an out-of-memory error, give the allocator back what the failed case held."""
    try:
        backend.free_memory()
    except Exception:  # best effort only
        pass


def _group_by_model(cases: list[Case]) -> list[list[Case]]:
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.model.model_dump_json(), []).append(c)
    return list(groups.values())


__all__ = ["execute", "preflight", "run_case", "BenchError"]

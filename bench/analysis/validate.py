"""The projection's accuracy statement: leave-one-out over the published catalog (pure functions).

For each usable published row: fit every profile without it, project the row with the profile the projection
would pick for it (its chip/engine profile when that has enough rows, else the chip's, else the pooled fit), and
record the error and whether the band holds the published value. The same for chip-to-chip ratios, where one
engine measured the same model and workload on two chips (both rows left out).
"""
from __future__ import annotations

import statistics

from bench.analysis import profiles as PR


def _pick(profiles: dict, chip: str, engine_key: str) -> PR.Profile:
    return profiles[engine_key] if engine_key in profiles else PR.resolve(profiles, chip)


def loo_row(rows, row, extra=None) -> dict:
    """Leave ``row`` out, fit, project it."""
    others = [r for r in rows if r.id != row.id]
    profs = PR.build(others, extra)
    t, why = PR.row_terms(row)
    prof = _pick(profs, row.hardware, row.profile_key)
    pub = row.per_accelerator_value()
    out = {"id": row.id, "hardware": row.hardware, "engine": row.engine_class, "model": row.model,
           "unit": row.unit, "published": pub, "profile": prof.name, "profile_rows": prof.n_rows}
    if t is None:
        return {**out, "projected": None, "range": None, "error": None, "inside": None, "note": why}
    proj = PR.predict(t, prof.efficiency)
    band = prof.band(proj)
    return {**out, "projected": proj, "range": band, "error": proj / pub - 1,
            "inside": band[0] <= pub <= band[1] if band else None,
            "band_ratio": band[1] / band[0] if band else None, "note": None}


def ratio_pairs(rows) -> list[tuple]:
    """Pairs of usable rows: same model, dtype, engine, lengths, batch and unit on two chips."""
    key = lambda r: (r.model, r.dtype, r.engine_class, r.input_tokens, r.output_tokens, str(r.batch), r.unit)  # noqa: E731
    us = [r for r in rows if r.usable is None]
    out = []
    for i, a in enumerate(us):
        for b in us[i + 1:]:
            if key(a) == key(b) and a.hardware != b.hardware:
                out.append((a, b))
    return out


def loo_ratio(rows, a, b) -> dict:
    others = [r for r in rows if r.id not in (a.id, b.id)]
    profs = PR.build(others)
    pa, pb = _pick(profs, a.hardware, a.profile_key), _pick(profs, b.hardware, b.profile_key)
    ta, _ = PR.row_terms(a)
    tb, _ = PR.row_terms(b)
    pub = a.per_accelerator_value() / b.per_accelerator_value()
    if ta is None or tb is None:
        return {"pair": f"{a.id} / {b.id}", "published_ratio": pub, "projected_ratio": None, "error": None}
    proj = PR.predict(ta, pa.efficiency) / PR.predict(tb, pb.efficiency)
    return {"pair": f"{a.id} / {b.id}", "chips": f"{a.hardware}/{b.hardware}", "model": a.model,
            "workload": f"{a.input_tokens}/{a.output_tokens}", "published_ratio": pub, "projected_ratio": proj,
            "error": proj / pub - 1}


def summarise(results: list[dict], by: str = "hardware") -> list[dict]:
    """Median |error| and share inside the band, per ``by`` and overall."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        if r.get("error") is None:
            continue
        groups.setdefault(r[by], []).append(r)
        groups.setdefault("all", []).append(r)
    out = []
    for k in sorted(groups, key=lambda x: (x == "all", x)):
        g = groups[k]
        errs = [abs(r["error"]) for r in g]
        inside = [r["inside"] for r in g if r.get("inside") is not None]
        ratios = [r["band_ratio"] for r in g if r.get("band_ratio")]
        out.append({by: k, "rows": len(g), "median_abs_error": statistics.median(errs),
                    "share_inside_band": sum(inside) / len(inside) if inside else None,
                    "median_band_ratio": statistics.median(ratios) if ratios else None,
                    "bands_wider_than_3x": sum(1 for x in ratios if x > 3)})
    return out


def loo_local(rows, extra, i) -> dict:
    """Leave local point ``i`` out (the published rows and the other local points stay in), project it."""
    t, v, chip = extra[i]
    profs = PR.build(rows, extra[:i] + extra[i + 1:])
    prof = PR.resolve(profs, chip)
    proj = PR.predict(t, prof.efficiency)
    band = prof.band(proj)
    return {"id": t.row_id, "hardware": chip, "engine": "local", "model": None, "unit": t.unit, "published": v,
            "profile": prof.name, "profile_rows": prof.n_rows, "projected": proj, "range": band,
            "error": proj / v - 1, "inside": band[0] <= v <= band[1], "band_ratio": band[1] / band[0], "note": "local run"}


def validate(rows, hardware: str | None = None, extra=None) -> dict:
    """Leave-one-out over usable published rows (and local points ``extra``: (terms, value, chip id))."""
    use = [r for r in rows if r.usable is None and (hardware is None or r.hardware == hardware)]
    results = [loo_row(rows, r, extra) for r in use]
    extra = extra or []
    results += [loo_local(rows, extra, i) for i in range(len(extra)) if hardware in (None, extra[i][2])]
    ratios = [loo_ratio(rows, a, b) for a, b in ratio_pairs(rows)
              if hardware is None or hardware in (a.hardware, b.hardware)]
    rerrs = [abs(x["error"]) for x in ratios if x["error"] is not None]
    return {"rows": results, "summary": summarise(results), "ratios": ratios,
            "ratio_summary": {"pairs": len(rerrs), "median_abs_error": statistics.median(rerrs) if rerrs else None,
                              "within_15pct": sum(1 for e in rerrs if e <= 0.15)},
            "skipped": [{"id": r.id, "why": r.usable} for r in rows if r.usable is not None
                        and (hardware is None or r.hardware == hardware)],
            "method": "leave-one-out: each row's profiles are refitted without it (ratios: without both rows)"}


__all__ = ["validate", "loo_row", "loo_local", "loo_ratio", "ratio_pairs", "summarise"]

"""The summary of several runs side by side: one row per case, each metric's runs next to each other and every
other run's ratio to the baseline (the first run), as ``compare`` prints it in the terminal.

Cases are matched across runs by their case id, as ``compare.side_by_side`` matches them. A case that is missing
from a run keeps its row: that run's cells are "—", its validity says "absent", and the case cell names the runs
that have it ("only in h100-sxm"). Each value keeps its ± (the 95 % interval over trials) and says where it comes
from: a run whose cases share one provenance (measured, reference, projected) says it once in its column
headers; a run with several says it in each cell.

The HTML tables are split into blocks that fit the 1,400 px page (a metric's columns stay together, the case
and validity columns are repeated in each block); the Markdown tables keep to 12 columns, the ratio beside each
value. With one run the report keeps its one-row-per-case summary (``tables.summary_table``).
"""
from __future__ import annotations

from bench.analysis.compare import finite_ratio as ratio, hardware_short, run_names
from bench.analysis.report.data import Point, Report, _sort_key
from bench.results.registry import MISSING, fmt, get as metric

PAGE_PX = 1300  # what one block of the HTML summary may take (estimated): the page is 1,336 px inside its padding
CHAR_PX = 7.5  # one character of the table's 12.5 px tabular figures, about
CELL_PAD_PX = 14  # a cell's padding and border
SWATCH_PX = 15  # a run's colour swatch before its name
CASE_PX = 14 * 12.5 + CELL_PAD_PX  # the case column's min-width (report-side.css: 14em)
MD_MAX_COLUMNS = 12  # as every Markdown table of the project (compare --format md, the one-run summary)
ABSENT = {"name": "absent", "css": "absent"}


def ratio_text(x: float | None) -> str:
    return MISSING if x is None else f"×{fmt(x, 3)}"


def _px(text: str, wraps: bool = False, small: bool = False) -> float:
    """About how wide ``text`` sets in a table cell; a cell that wraps between words needs its longest word;
    ``small``: the 11 px line under a run's name."""
    n = max((len(w) for w in text.split()), default=0) if wraps else len(text)
    return n * CHAR_PX * (11 / 12.5 if small else 1) + CELL_PAD_PX


def _where(present: list[bool], names: list[str]) -> str | None:
    """'only in h200' (one run has the case), 'not in h100-sxm' (some miss it), None (every run has it)."""
    if all(present):
        return None
    have = [n for n, p in zip(names, present) if p]
    if len(have) == 1:
        return f"only in {have[0]}"
    return "not in " + ", ".join(n for n, p in zip(names, present) if not p)


def case_name(names: dict[int, str], short: list[str]) -> tuple[str, str | None]:
    """One case's name ('model · backend dtype [· compile]') as the runs that have it name it: the parts they all
    share, and what a run adds ('h200: compile compiled'), None where every run says the same."""
    split = {i: n.split(" · ") for i, n in names.items()}
    shared = [x for x in next(iter(split.values())) if all(x in parts for parts in split.values())]
    extra = [f"{short[i]}: {' · '.join(x for x in parts if x not in shared)}" for i, parts in split.items()
             if any(x not in shared for x in parts)]
    return " · ".join(shared) or MISSING, "; ".join(extra) or None


def _provenance(rep: Report) -> list[str | None]:
    """Each run's provenance where all its cases share one, else None (then each cell says its own)."""
    out = []
    for i in range(len(rep.runs)):
        provs = {s.provenance for s in rep.series if s.run == i}
        out.append(provs.pop() if len(provs) == 1 else None)
    return out


def side_table(rep: Report, keys: list[str], verdict, cell) -> dict:
    """The side-by-side summary of ``rep`` (two or more runs) for the metric ``keys``: runs, rows, blocks.

    ``verdict(case)`` and ``cell(point, key)`` are the one-run summary's (tables.py), so a value reads the same
    in both layouts."""
    runs = rep.runs
    short, run_legend = run_names(runs)
    prov = _provenance(rep)
    by: dict[str, dict[int, Point]] = {}
    names: dict[str, dict[int, str]] = {}
    order: dict[str, tuple] = {}
    for s in rep.series:
        for p in s.points:
            cid = p.case.case_id or MISSING
            by.setdefault(cid, {})[p.run] = p
            names.setdefault(cid, {})[p.run] = s.name
            key = (s.name, _sort_key(p), p.run)
            order[cid] = min(order.get(cid, key), key)
    cases = sorted(by, key=lambda c: order[c])
    run_info = []
    for i, (r, n) in enumerate(zip(runs, short)):
        hw = hardware_short(r.manifest)
        sub = " · ".join(x for x in (hw if hw not in n.split() else None, prov[i]) if x)
        run_info.append({"label": r.label, "short": n, "colour": rep.colour(i), "provenance": prov[i],
                         "hardware": hw, "sub": sub, "baseline": i == 0})
    io_all = set()
    rows = []
    for cid in cases:
        got = by[cid]
        first = got[min(got)]
        wl = first.case.workload
        io = f"{fmt(wl.input_tokens if wl else None)} → {fmt(wl.output_tokens if wl else None)}"
        io_all.add(io)
        verdicts = [dict(verdict(got[i].case), run=runs[i].label) if i in got else dict(ABSENT, run=runs[i].label)
                    for i in range(len(runs))]
        base = got.get(0)
        groups = {}
        for k in keys:
            m = metric(k)
            cells, ratios = [], []  # every run's value, then every other run's ratio (the headers' order)
            for i in range(len(runs)):
                p = got.get(i)
                cells.append({"text": cell(p, k) if p is not None else MISSING, "ratio": False,
                              "run": runs[i].label, "baseline": i == 0,
                              "provenance": p.row.provenance if p is not None and prov[i] is None else None})
                if i > 0 and not m.text:
                    x = ratio(p.value(k), base.value(k)) if p is not None and base is not None else None
                    ratios.append({"text": ratio_text(x), "ratio": True, "run": runs[i].label, "baseline": False,
                                   "provenance": None})
            groups[k] = cells + ratios
        case, differs = case_name({i: names[cid][i] for i in sorted(got)}, short)
        rows.append({"case_id": cid, "case": case, "differs": differs, "load": first.x_text, "io": io,
                     "where": _where([i in got for i in range(len(runs))], short),
                     "verdicts": verdicts, "groups": groups})
    show_io = len(io_all) > 1
    said = []
    if not show_io and io_all:
        said.append(f"every case: {io_all.pop()} tokens in → out per request")
    if run_legend:
        said.append(run_legend)
    alone = sum(1 for r in rows if r["where"])
    return {"runs": run_info, "baseline": runs[0].label, "baseline_short": short[0], "rows": rows,
            "metrics": keys, "show_io": show_io, "said": said, "n_cases": len(rows), "n_partial": alone,
            "blocks": blocks(rows, keys, run_info, show_io)}


def _group_header(k: str, run_info: list[dict]) -> list[dict]:
    """The second header row of one metric: each run's short name, then '×' (one other run) or 'NAME ×'."""
    m = metric(k)
    out = []
    for i, r in enumerate(run_info):
        out.append({"text": r["short"], "run": r["label"], "colour": r["colour"], "provenance": r["provenance"],
                    "sub": r["sub"],
                    "ratio": False, "doc": f"{m.header} on {r['label']}" + (" (the baseline)" if i == 0 else "")})
    if not m.text:
        for r in run_info[1:]:
            out.append({"text": "×" if len(run_info) == 2 else f"{r['short']} ×", "run": r["label"],
                        "colour": r["colour"], "provenance": None, "sub": "", "ratio": True,
                        "doc": f"{r['label']} ÷ {run_info[0]['label']} for the same case"})
    return out


def blocks(rows: list[dict], keys: list[str], run_info: list[dict], show_io: bool) -> list[dict]:
    """The HTML summary as blocks that fit the page: a metric's columns together; case, load (in → out) and
    each run's validity in every block."""
    def head_px(h: dict) -> float:  # a run's name after its swatch, its hardware and provenance under it (one line)
        return max(_px(h["short"] if "short" in h else h["text"]) + SWATCH_PX, _px(h["sub"], small=True))

    fixed = CASE_PX + _px(max([r["load"] for r in rows] + ["load"], key=len))
    if show_io:
        fixed += _px(max([r["io"] for r in rows] + ["in → out tok"], key=len))
    fixed += sum(max(_px(r["short"]) + SWATCH_PX, _px("invalid") + 6) for r in run_info)  # validity: name, badge

    def width(k: str) -> float:
        heads = _group_header(k, run_info)
        return sum(max([head_px(h)] + [_px(r["groups"][k][j]["text"]) for r in rows]) for j, h in enumerate(heads))

    out, chunk, used = [], [], fixed
    for k in keys:
        w = width(k)
        if chunk and used + w > PAGE_PX:
            out.append(chunk)
            chunk, used = [], fixed
        chunk.append(k)
        used += w
    if chunk:
        out.append(chunk)
    return [{"metrics": c, "groups": [{"key": k, "text": metric(k).header, "doc": metric(k).doc,
                                    "heads": _group_header(k, run_info)} for k in c]} for c in out]


def intro(side: dict) -> str:
    """The sentence over the side-by-side summary: how many cases, the baseline, what × is."""
    n = len(side["runs"])
    text = (f"{side['n_cases']} case(s) side by side across {n} runs, matched by case id; × is a run's value ÷ "
            f"the baseline's ({side['baseline']}, the first run) for the same case.")
    if side["n_partial"]:
        text += f" {side['n_partial']} case(s) are not in every run: their row says which runs have them."
    return text


def provenance_line(side: dict) -> str:
    """Where each run's numbers come from, once: 'h100-sxm: reference (baseline) · h200: measured'."""
    parts = []
    for r in side["runs"]:
        prov = r["provenance"] or "mixed (each cell says)"
        hw = r["hardware"] if r["hardware"] not in r["short"].split() else None
        what = ", ".join(x for x in (hw, prov) if x)
        parts.append(f"{r['short']}: {what}" + (" (baseline)" if r["baseline"] else ""))
    return "numbers: " + " · ".join(parts)


MD_WIDTH = 80  # a Markdown table's lines: as wide as a terminal, so the file reads as written and rendered
MARKS = {"ok": "✓", "warn": "!", "invalid": "✗", "failed": "failed", "absent": "·"}


def _md_case_names(rows: list[dict]) -> tuple[list[str], list[str]]:
    """The case column of the Markdown tables and the lines said under them: each case's name without the parts
    every case shares ('transformers float32': said once), a numbered mark where a run names the case otherwise
    ('(1)': '(1) h200: compile compiled' under the tables), and which runs have the case where not all do."""
    split = [r["case"].split(" · ") for r in rows]
    common = [x for x in split[0] if all(x in parts for parts in split[1:])] if len(rows) > 1 else []
    if any(all(x in common for x in parts) for parts in split):  # a name would be left empty: kept whole
        common = []
    out, marks = [], {}
    for r, parts in zip(rows, split):
        name = " · ".join(x for x in parts if x not in common)
        if r["differs"]:  # said under the tables, a mark here: the case column stays narrow
            name += f" ({marks.setdefault(r['differs'], len(marks) + 1)})"
        out.append(name + (f" ({r['where']})" if r["where"] else ""))
    said = (["every case: " + " · ".join(common)] if common else []) + [f"({k}) {d}" for d, k in marks.items()]
    return out, said


def markdown(side: dict, md) -> list[str]:
    """The side-by-side summary as Markdown tables whose lines keep to 80 characters: case, load and each run's
    validity mark in each, then as many metrics as fit, one column per run, the ratio to the baseline beside each
    other run's value (a metric too wide for 80 is a table of its own, never cut)."""
    runs = side["runs"]
    names, shared = _md_case_names(side["rows"])
    head = ["case", "load"] + (["in → out tok"] if side["show_io"] else []) + ["valid"]
    fixed = [[n, r["load"]] + ([r["io"]] if side["show_io"] else []) + [" ".join(MARKS.get(v["name"], v["name"])
             for v in r["verdicts"])] for n, r in zip(names, side["rows"])]

    def value(c: dict, ratio_cell: dict | None) -> str:
        text = c["text"] + (f" ({c['provenance']})" if c["provenance"] else "")
        if ratio_cell is not None and ratio_cell["text"] != MISSING:
            text += f" {ratio_cell['text']}"
        return text

    cols = {}  # metric -> (headers, the rows' cells)
    for k in side["metrics"]:
        heads = [f"{metric(k).header} {r['short']}" for r in runs]
        body = []
        for row in side["rows"]:
            cells = row["groups"][k]
            ratios = {c["run"]: c for c in cells if c["ratio"]}
            body.append([value(c, ratios.get(c["run"])) for c in cells if not c["ratio"]])
        cols[k] = (heads, body)

    def width(texts: list[str]) -> int:  # one column: its widest text and the '| ' before it
        return max(len(md(t)) for t in texts) + 3

    fixed_w = sum(width([h] + [f[j] for f in fixed]) for j, h in enumerate(head)) + 1
    chunks, chunk, used = [], [], fixed_w
    for k, (heads, body) in cols.items():
        w = sum(width([h] + [b[j] for b in body]) for j, h in enumerate(heads))
        if chunk and used + w > MD_WIDTH:
            chunks.append(chunk)
            chunk, used = [], fixed_w
        chunk.append(k)
        used += w

    out = [md(intro(side)), "", md(provenance_line(side)), ""]
    for chunk in chunks + ([chunk] if chunk else []):
        heads = head + [h for k in chunk for h in cols[k][0]]
        out += ["| " + " | ".join(md(h) for h in heads) + " |",
                "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 3) + ["---"]
                               + ["---:"] * (len(heads) - len(head))) + "|"]
        for i, f in enumerate(fixed):
            out.append("| " + " | ".join(md(x) for x in f + [c for k in chunk for c in cols[k][1][i]]) + " |")
        out.append("")
    names_ = ", ".join(r["short"] for r in runs)
    said = shared + side["said"]
    said.append(f"valid: each run's mark, in run order ({names_}): ✓ ok, ! warn, ✗ invalid, failed, — no "
                "verdict; · the run has no such case (reasons under Warnings)")
    return out + [f"- {md(n)}" for n in said]

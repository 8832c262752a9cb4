"""The views people read (run, compare, check, list, validate) fit the terminal at 80, 120 and 200 columns
and never cut a name; rendered from synthetic results of the demo configs (no model is run)."""
import json
import random

import pytest

from bench.analysis import check, compare
from bench.cli import main
from bench.config.cases import expand
from bench.config.load import load_config
from bench.present import render_table, shorten_names, Col
from bench.results import load_run, load_runs
from conftest import ROOT

WIDTHS = (80, 120, 200)


def dist(v):
    return {"n": 8, "mean": v, "p50": v, "p90": v * 1.1, "p99": v * 1.2, "min": v * 0.9, "max": v * 1.3, "stdev": v / 20}


def synthetic_run(path, config: str, hardware: str, seed: int = 0, slow: float = 1.0, started="2026-12-01T10:00:00Z",
                  sha="a" * 64):
    """A run directory of ``config``'s cases with made-up but plausible numbers (``slow``: latency factor)."""
    cfg, _ = load_config(str(ROOT / "configs" / config))
    rng = random.Random(seed)
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "run_id": f"{cfg.name}-20261201T100000Z", "hardware": hardware, "status": "complete",
        "config_sha256": sha, "started_utc": started, "config": {"name": cfg.name, "backend": {"kind": cfg.backend.kind}},
        "environment": {"host": "ci-runner-1", "versions": {"torch": "2.11.0", "transformers": "5.17.0"}}}))
    lines = []
    for k, c in enumerate(expand(cfg)):
        tpot = 0.004 * (1 + rng.random()) * slow
        ttft = 0.012 * (1 + rng.random()) * slow
        out = (c.batch_size or 4) / tpot
        case = {"schema_version": 1, "case_id": c.case_id, "status": "ok", "error": None, "provenance": "measured",
                "hardware": hardware, "model": {"label": c.model.label, "kind": "tiny"},
                "backend": {"kind": cfg.backend.kind, "device": "cpu", "dtype": "float32"}, "accelerators": 0,
                "workload": {"batch_size": c.batch_size or 4, "input_tokens": c.input_tokens or 160,
                             "output_tokens": c.output_tokens or 16, "num_batches": 2},
                "requests": {"total": 8, "succeeded": 8, "failed": 0},
                "ttft_s": dist(ttft), "tpot_s": dist(tpot), "itl_s": dist(tpot), "e2e_s": dist(ttft + 63 * tpot),
                "output_tok_s": out, "total_tok_s": out * 1.5, "output_tok_s_per_accelerator": out,
                "energy": {"source": "none", "note": "RAPL not available"},
                "validity": {"verdict": ["ok", "warn"][k % 2], "reasons": [] if k % 2 == 0 else ["host CPU busy"]},
                "trials": {"n": 3, "metrics": {"output_tok_s": {"mean": out, "ci95": [out * 0.98, out * 1.02],
                                                                "values": [out * 0.99, out, out * 1.01]}}}}
        if cfg.backend.kind == "openai":
            case["dataset"] = {"name": c.dataset}
            case["prefix_cache"] = {"hits": 100.0 * k, "queries": 1000.0, "hit_rate": 0.1 * k}
            if k:  # tokens came several per event: no ITL, and said why
                case["itl_s"] = {k: (0 if k == "n" else None) for k in dist(1.0)}
                case["itl_coalesced"] = {"requests": 8, "of": 8, "reason": "tokens arrived coalesced in 8 of 8 "
                                         "requests (e.g. 16 tokens in 3 stream event(s))"}
        lines.append(json.dumps(case))
    (path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return path


def fits(text: str, width: int) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, f"{len(too_wide)} line(s) wider than {width}: {too_wide[0]!r}"


def whole_on_a_line(text: str, names: list[str]) -> None:
    lines = text.splitlines()
    for n in names:
        assert any(n in line for line in lines), f"{n!r} is cut or missing"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("views")
    return {"smoke": synthetic_run(d / "smoke", "smoke-cpu.yaml", "Intel(R) Xeon(R) Processor"),
            "smoke2": synthetic_run(d / "smoke2", "smoke-cpu.yaml", "AMD EPYC 9654", seed=1,
                                    started="2026-12-02T10:00:00Z"),
            "workloads": synthetic_run(d / "workloads", "workloads-cpu.yaml", "Intel(R) Xeon(R) Processor"),
            "slow": synthetic_run(d / "slow", "smoke-cpu.yaml", "Intel(R) Xeon(R) Processor", slow=1.3)}


@pytest.mark.parametrize("width", WIDTHS)
def test_run_table_of_the_demo_and_the_workloads_config(runs, width):
    smoke = compare.run_view(load_run(runs["smoke"]), width=width)
    fits(smoke, width)
    # the models and batch sizes stay apart (qwen2 and qwen3-moe no longer read alike); the shared shape is said once
    whole_on_a_line(smoke, ["tiny-qwen2_bs1", "tiny-qwen3-moe_bs16", "tiny-deepseek-v3_bs4"])
    assert "every case: in32, out64" in smoke
    assert "TPOT p50 ms" in smoke or ("TPOT" in smoke and "p50 ms" in smoke)
    wl = compare.run_view(load_run(runs["workloads"]), width=width)
    fits(wl, width)
    # the dataset, which is that config's point, is what each row shows
    whole_on_a_line(wl, ["in160_out16", "prefix", "conversation", "trace", "sharegpt", "jsonl"])
    assert "every case: tiny-llama, c4, rinf" in wl
    assert "prefix" in wl and "%" in wl  # the prefix-cache hit rate is a column here
    assert "50" in wl  # hit_rate 0.5 shown as 50 %


def test_run_table_columns_and_wide(runs):
    run = load_run(runs["workloads"])
    text = compare.run_view(run, columns="itl_p50_s,prefix_cache_hit_rate", width=120)
    assert "ITL p50 ms" in text and "coalesced" in text and "0.00" not in text
    assert "ITL coalesced in prefix, conversation, trace, sharegpt, jsonl" in " ".join(text.split())
    assert "16 tokens in 3 stream event(s)" in " ".join(text.split())  # the reason, said once
    wide = compare.run_view(run, wide=True, width=120)
    fits(wide, 120)
    assert "p99" in wide and "MFU %" in wide  # every metric with a value, in a second block where needed
    with pytest.raises(Exception, match="--columns 'speed' is not a metric; known: output_tok_s"):
        compare.run_view(run, columns="speed")


@pytest.mark.parametrize("width", WIDTHS)
def test_two_run_compare_fits_and_names_each_run(runs, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["compare", str(runs["smoke"]), str(runs["smoke2"]), "--baseline", str(runs["smoke"])]) == 0
    out = capsys.readouterr().out
    fits(out, width)
    # the runs share a name: the hardware tells them apart
    assert "smoke-cpu Xeon" in out.replace("\n", " ") and "smoke-cpu EPYC 9654" in out.replace("\n", " ")
    assert "×" in out and "±" in out
    whole_on_a_line(out, ["tiny-qwen2_bs1", "tiny-qwen3-moe_bs16"])


def test_compare_labels_markdown_and_complete_csv(runs, capsys):
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--label", f"{runs['smoke']}=before",
                 "--label", f"{runs['slow']}=after", "--baseline", "before", "--format", "md"]) == 0
    md = capsys.readouterr().out
    table = [line for line in md.splitlines() if line.startswith("|")]
    # side by side: one row per case, each metric's runs in adjacent columns, the ratio beside the other run
    assert all(len(line.split(" | ")) <= 12 for line in table)
    assert "| out tok/s before | out tok/s after |" in md and len([t for t in table if t.startswith("| tiny-")]) == 12
    assert md.count("[^ok]:") == 1 and md.count("[^ratio]:") == 1 and "×1.3" in md  # footnotes once; slower TTFT
    assert md.count("host CPU busy") == 1  # each note once, naming its cases and runs
    assert "None" not in md and "nan" not in md.lower()
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--wide", "--format", "md"]) == 0
    wide = capsys.readouterr().out
    tables = [t for t in wide.split("\n\n") if t.startswith("|")]
    assert len(tables) > 1 and all(len(line.split(" | ")) <= 12 for line in wide.splitlines() if line.startswith("|"))
    assert "| TTFT p99 ms smoke-cpu-20261201T100000Z #2 |" in wide  # every metric, in further tables that repeat the case column
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--label", f"{runs['smoke']}=before",
                 "--label", f"{runs['slow']}=after", "--layout", "stacked", "--format", "md"]) == 0
    md = capsys.readouterr().out
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table[0].split(" | ")) <= 12 and "| before |" in md and "| after |" in md
    assert md.count("[^valid]:") == 1
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--wide", "--layout", "stacked", "--format",
                 "md"]) == 0
    wide = capsys.readouterr().out
    assert all(len(line.split(" | ")) <= 12 for line in wide.splitlines() if line.startswith("|"))
    assert "more metric(s) not shown here" in wide
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--format", "json", "--wide"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert len(doc["rows"]) == 24 and "ttft_p99_s" in doc["rows"][0] and "output_tok_s_ci95_half" in doc["rows"][0]
    labels = [r["label"] for r in doc["runs"]]  # same name, hardware, date, time and id: told apart by a number
    assert labels == ["smoke-cpu-20261201T100000Z", "smoke-cpu-20261201T100000Z #2"]


def test_bad_label_and_baseline_are_one_line(runs, capsys):
    assert main(["compare", str(runs["smoke"]), "--label", "oops"]) == 2
    assert "--label 'oops': write it as RUN_DIR=NAME" in capsys.readouterr().err
    assert main(["compare", str(runs["smoke"]), "--baseline", str(runs["slow"])]) == 2
    assert "--baseline" in capsys.readouterr().err


@pytest.mark.parametrize("width", WIDTHS)
def test_check_views_fit(runs, width):
    base, slow = load_run(runs["smoke"]), load_run(runs["slow"])
    rep = check.check(base, slow, ["output_tok_s", "tpot_p50_s"])
    text = check.view(rep, "check", width)
    fits(text, width)
    assert rep.exit_code() == 1 and "TPOT p50 ms" in text
    whole_on_a_line(text, ["tiny-qwen2_bs1", "tiny-deepseek-v3_bs16"])
    assert "FAIL: 12 of 12 baseline case(s) compared, 12 regressed, 0 improved, 0 not comparable" in \
        " ".join(text.split())
    # the verdict stands beside every case's numbers, in every block of a split table
    blocks = text.split("\n\n")
    heads = [b.split("\n─")[0] for b in blocks if "\n─" in b]  # the header lines of each block
    assert heads and all("verdict" in h for h in heads)
    assert text.count("regressed") >= 24 * len([b for b in blocks if "─" in b])
    assert "<0.001" in text and "e-0" not in text  # a tiny p-value, never scientific notation


def test_check_against_no_common_case_itself_and_a_slower_copy(runs, capsys):
    code = main(["check", str(runs["workloads"]), "--baseline", str(runs["smoke"])])
    assert code == 3 and "NOT ENOUGH COMPARED: 0 of 12" in " ".join(capsys.readouterr().out.split())
    assert main(["check", str(runs["smoke"]), "--baseline", str(runs["smoke"])]) == 0
    capsys.readouterr()
    assert main(["check", str(runs["slow"]), "--baseline", str(runs["smoke"])]) == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_list_tables_fit_and_ids_are_whole(width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    fits(out, width)
    whole_on_a_line(out, ["Qwen2.5-7B", "Qwen2.5-72B", "Qwen3-235B-A22B"])
    assert main(["list", "hardware"]) == 0
    fits(capsys.readouterr().out, width)


def test_validate_tables_fit(capsys):
    from bench.cli.validate import _print_validate

    doc = {"rows": [{"id": "lmsys-h20-dsr1-decode-ep32-bs32", "hardware": "h20", "engine": "sglang", "profile": "h20/sglang",
                     "profile_rows": 30, "unit": "output_tok_s_per_accelerator", "published": 714.0, "projected": 650.0,
                     "range": [500.0, 800.0], "error": -0.09, "inside": True, "note": None}],
           "summary": [{"hardware": "h20", "rows": 30, "median_abs_error": 0.2, "share_inside_band": 0.8,
                        "median_band_ratio": 2.1, "bands_wider_than_3x": 1}],
           "ratios": [], "ratio_summary": {"median_abs_error": None}, "skipped": []}
    for width in WIDTHS:
        _print_validate(doc, width)
        text = capsys.readouterr().out
        fits(text, width)
        whole_on_a_line(text, ["lmsys-h20-dsr1-decode-ep32-bs32"])


FINITE = [{"id": "gpustack-910b-qwen3-8b-vllm-sharegpt", "hardware": "910b", "engine": "vllm-ascend",
           "profile": "910b/vllm-ascend", "profile_rows": 22, "unit": "output_tok_s_total", "published": 1512.21,
           "projected": 2386.5, "range": [1920.9, 2964.9], "error": 0.578, "inside": False, "note": "limits"},
          {"id": "gpustack-910b-qwen3-8b-mindie-bf16-sharegpt", "hardware": "910b", "engine": "mindie",
           "profile": "910b", "profile_rows": 44, "unit": "output_tok_s_total", "published": 2711.1, "projected": 2528.3,
           "range": [1728.5, 3698.3], "error": -0.067, "inside": True, "note": "limits"},
          {"id": "gpustack-910b-qwen3-8b-chitu-sharegpt", "hardware": "910b", "engine": "chitu",
           "profile": "910b/chitu", "profile_rows": 7, "unit": "output_tok_s_total", "published": 900.0,
           "projected": None, "range": None, "error": None, "inside": None,
           "note": "no scheduler defaults for engine 'chitu' (known: vllm, vllm-ascend, mindie, sglang); give "
                   "--max-num-seqs and --max-num-batched-tokens"}]


@pytest.mark.parametrize("width,blocks", [(80, 2), (120, 1)])
def test_validate_finite_run_table_reads_well(width, blocks):
    # names on one line each (never 'vllm-' / 'ascend'), the unit's short label from the metric registry, a row
    # that cannot be projected marked '— (1)' with its reason once, as a footnote; every line fits the width
    from bench.cli.validate import _print_rows_table

    text = _print_rows_table("Finite runs", FINITE, width)
    fits(text, width)
    lines = text.splitlines()
    whole_on_a_line(text, [r["id"] for r in FINITE] + ["vllm-ascend (22)", "mindie: field (44)", "tok/s/acc"])
    assert not any(line.rstrip().endswith(("vllm-", "output_tok_")) for line in lines)
    assert "output_tok_s_total" not in text  # the registry's short label, in the header
    assert sum(1 for line in lines if line.startswith("row ")) == blocks
    assert sum("(1)" in line for line in lines) == 2  # the cell and the footnote
    note = [i for i, line in enumerate(lines) if line.startswith("(1) no scheduler defaults")]
    assert note and "--max-num-batched-tokens" in " ".join(lines[note[0]:])
    assert "+58 % ✗" in text and "-7 % ✓" in text


def test_names_wrap_between_words_and_never_inside_one():
    text = render_table([Col("case", "left", key=True), Col("value")], [["alpha_beta-gamma_delta", "1,234"]], width=20)
    pieces = [line.split()[0] for line in text.splitlines()[2:] if line.strip()]
    assert "".join(pieces) == "alpha_beta-gamma_delta" and all(len(line) <= 20 for line in text.splitlines())
    assert shorten_names(["m_bs1_in8", "m_bs4_in8"]) == (["bs1", "bs4"], "every case: m, in8")
    assert shorten_names(["a_x", "a_x"])[1] is None  # nothing left to tell them apart: names kept whole


def test_run_without_a_terminal_prints_one_line_per_finished_case(tmp_path, capsys, monkeypatch):
    """Piped, as in CI: one progress line per finished case on stderr (case, headline, verdict, elapsed),
    then the table on stdout, which fits COLUMNS."""
    import torch

    from conftest import TINY_CONFIG, write_config

    torch.set_num_threads(1)
    monkeypatch.setenv("COLUMNS", "80")
    cfg = write_config(tmp_path / "t.yaml", TINY_CONFIG)
    assert main(["run", str(cfg), "--output-dir", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in progress] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "tiny-llama_bs1_in8_out4" in progress[0] and "out tok/s" in progress[0] and "elapsed 0:" in progress[0]
    assert any(mark in progress[0] for mark in ("✓ ok", "! warn", "✗ invalid"))
    fits("\n".join(line for line in out.splitlines() if not line.startswith("results: ")), 80)  # a path stays whole
    whole_on_a_line(out, ["tiny-llama_bs1", "tiny-qwen2_bs2"])
    assert "J/out tok: energy not measured (" in " ".join(out.split())
    assert "every case: in8, out4" in out and "results: " in out


@pytest.mark.parametrize("width", WIDTHS)
def test_pivot_one_row_per_case_each_run_side_by_side(runs, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--label", f"{runs['smoke']}=before",
                 "--label", f"{runs['slow']}=after", "--baseline", "before", "--pivot", "ttft_p50_s"]) == 0
    out = capsys.readouterr().out
    fits(out, width)
    rows = [line for line in out.split("every case:")[0].splitlines() if line.startswith("tiny-")]  # not the notes
    assert len(rows) == 12 and all(line.rstrip().endswith("×1.3") for line in rows)  # one row per case, the ratio
    assert "before" in out and "after" in out and " ×\n" in out  # the ratio column (one other run: "×")
    assert main(["compare", str(runs["smoke"]), "--pivot", "nope"]) == 2
    assert "--pivot 'nope' is not a metric" in capsys.readouterr().err


def _case_lines(out: str) -> list[str]:
    return [line for line in out.split("every case:")[0].splitlines() if line.startswith(("tiny-", "llama-", "qwen"))]


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_default_is_one_row_per_case_runs_side_by_side(runs, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["compare", str(runs["smoke"]), str(runs["slow"]), "--label", f"{runs['smoke']}=before",
                 "--label", f"{runs['slow']}=after"]) == 0
    out = capsys.readouterr().out
    fits(out, width)
    blocks = sum(line.startswith("─") for line in out.splitlines())  # one rule line per block
    # one line per case in each block (never two runs of one case stacked), the baseline is the first run
    assert len(_case_lines(out)) == 12 * blocks
    assert "──── out tok/s ────" in out.replace("─────", "────") and "before" in out and "after" in out
    assert "baseline run's (before)" in " ".join(out.split()) and "×1.3" in out and "±" in out
    whole_on_a_line(out, ["tiny-qwen2_bs1", "tiny-qwen3-moe_bs16", "tiny-deepseek-v3_bs16"])
    assert all(line.split()[1:3] in (["✓", "✓"], ["!", "!"]) for line in _case_lines(out))  # each run's mark


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_reference_runs_side_by_side(width, capsys, monkeypatch):
    """The committed H100 and H200 runs: the same config, so the same case ids; one row per case."""
    monkeypatch.setenv("COLUMNS", str(width))
    h100 = ROOT / "results" / "reference" / "h100" / "gpu-8b-20261127T121344Z"
    h200 = ROOT / "results" / "reference" / "h200" / "gpu-8b-20261127T053118Z"
    assert main(["compare", str(h100), str(h200)]) == 0
    out = capsys.readouterr().out
    fits(out, width)
    lines = _case_lines(out)
    cases = {line.split()[0] for line in lines}
    assert cases == {f"{m}_bs{b}" for m in ("llama-3.1-8b", "qwen2.5-7b") for b in (1, 8, 32)}
    assert len(lines) == 6 * sum(line.startswith("─") for line in out.splitlines()) and "every run: gpu-8b" in out and "every case: in512, out128" in out
    bs1 = next(line for line in lines if line.startswith("llama-3.1-8b_bs1 ") and "33.66" in line)
    assert "39.77" in bs1 and "×1.18" in bs1  # 39.77 / 33.66 out tok/s on the H200, beside the H100's
    assert "None" not in out and "nan" not in out


def test_compare_case_in_one_run_only_shows_a_dash(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    part = tmp_path / "part"
    part.mkdir()
    (part / "manifest.json").write_text((runs["slow"] / "manifest.json").read_text())
    lines = (runs["slow"] / "cases.jsonl").read_text().splitlines()
    (part / "cases.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # tiny-deepseek-v3_bs16 is missing
    assert main(["compare", str(runs["smoke"]), str(part)]) == 0
    out = capsys.readouterr().out
    fits(out, 120)
    row = next(line for line in _case_lines(out) if line.startswith("tiny-deepseek-v3_bs16 "))
    assert row.split()[1:3] == ["!", "·"] and row.split()[-2:] == ["—", "—"]  # no value, no ratio
    assert "· the run has no such case" in " ".join(out.split())
    assert main(["compare", str(runs["smoke"]), str(part), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["rows"]) == 23 and doc["baseline"] == doc["runs"][0]["label"]  # complete; default baseline
    assert doc["rows"][1]["ttft_p50_s_vs_baseline"] == pytest.approx(1.3)


def test_notes_and_titles_wrap_between_words_never_inside_a_name():
    names = [f"tiny-deepseek-v3_bs{b}_in32_out64" for b in (1, 4, 16)]
    text = render_table([Col("case", "left", key=True)], [[n] for n in names], 40, title="check the run " + names[0],
                        notes=["! " + ", ".join(names) + ": host CPU busy", "see " + "_".join(["x" * 15] * 3)])
    fits(text, 40)
    whole_on_a_line(text.split("─")[-1], names)  # in the note, every name on one line
    assert text.splitlines()[:2] == ["check the run", names[0]]
    assert "x" * 15 + "_" + "x" * 15 + "_" in text  # a word wider than the line: broken after a "_"


# ---------------------------------------------------------------------------- derived at read
def test_efficiency_and_roofline_derived_at_read_equal_what_measure_wrote():
    """Runs written before derivation moved to read time carry the blocks; deriving them again from the same
    line (the blocks taken away) gives the same numbers, so a new run shows what an old one stored."""
    from bench.analysis.derived import fill_case

    derived = 0
    for manifest in sorted((ROOT / "results" / "reference").glob("*/*/manifest.json")):
        run = load_run(manifest.parent)
        for case in run.cases:
            if case.efficiency is None or case.roofline is None:
                continue
            stored = case.efficiency.model_dump(), case.roofline.model_dump()
            case.efficiency = case.roofline = None
            fill_case(case, run.manifest.hardware)
            assert (case.efficiency.model_dump(), case.roofline.model_dump()) == stored, case.case_id
            derived += 1
    assert derived >= 8  # the four h200 e-/c- runs, two cases each


def test_a_failed_or_local_model_case_gets_no_derived_block():
    from bench.analysis.derived import fill_case

    run = load_run(sorted((ROOT / "results" / "reference").glob("h200/gpu-8b-e-llama-*"))[0])
    ok = run.cases[0]
    ok.efficiency = ok.roofline = None
    ok.identity.model.kind = "local"  # a local directory: its name says nothing certain about its shape
    assert fill_case(ok, run.manifest.hardware).efficiency is None and ok.roofline is None
    ok.identity.model.kind, ok.status = "catalog-random", "failed"
    assert fill_case(ok, run.manifest.hardware).efficiency is None and ok.roofline is None
    ok.status = "ok"
    assert fill_case(ok, run.manifest.hardware).efficiency.mbu > 0 and ok.roofline.tpot_limit_s > 0

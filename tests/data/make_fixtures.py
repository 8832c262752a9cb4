"""Writes the fixed result directories that the compare golden-file tests read (two fake hardware
names). Numbers are invented and round so that the golden outputs are easy to check by hand.
Run: python tests/data/make_fixtures.py  (then UPDATE_GOLDEN=1 pytest tests/test_compare_report.py)"""
import json
from pathlib import Path

HERE = Path(__file__).parent / "runs"


def dist(p50, p99):
    return {"n": 10, "mean": p50, "p50": p50, "p90": p99, "p99": p99, "min": p50, "max": p99, "stdev": 0.0}


def case(model, bs, tpot, ttft, out_tok_s, energy_w, hardware):
    n_out = bs * 128
    window = n_out / out_tok_s
    e = ({"source": "nvml-energy", "total_j": energy_w * window, "avg_power_w": energy_w,
          "j_per_output_tok": energy_w * window / n_out} if energy_w else
         {"source": "none", "total_j": None, "avg_power_w": None, "j_per_output_tok": None, "note": "no sensor"})
    return {"schema_version": 1, "case_id": f"{model.lower()}_bs{bs}_in512_out128", "status": "ok", "error": None,
            "provenance": "measured", "hardware": hardware,
            "model": {"label": model, "kind": "catalog-random", "weights": "random"},
            "backend": {"kind": "transformers", "device": "cuda:0", "dtype": "bfloat16"}, "accelerators": 1,
            "workload": {"batch_size": bs, "input_tokens": 512, "output_tokens": 128, "num_batches": 1},
            "requests": {"total": bs, "succeeded": bs, "failed": 0},
            "ttft_s": dist(ttft, ttft * 1.1), "tpot_s": dist(tpot, tpot * 1.2), "itl_s": dist(tpot, tpot * 1.2),
            "e2e_s": dist(ttft + 127 * tpot, ttft + 127 * tpot * 1.2), "window_s": window,
            "output_tokens": n_out, "input_tokens": bs * 512, "output_tok_s": out_tok_s,
            "output_tok_s_per_accelerator": out_tok_s, "total_tok_s": out_tok_s * 5,
            "prefill_tok_s": bs * 512 / ttft, "energy": e, "memory": {"weight_bytes": 16e9}}


def write(name, hardware, versions, pressure, cases):
    d = HERE / name
    d.mkdir(parents=True, exist_ok=True)
    manifest = {"schema_version": 1, "run_id": name, "hardware": hardware, "config_sha256": "0" * 64,
                "started_utc": "2026-11-01T00:00:00.000000Z", "finished_utc": "2026-11-01T00:10:00.000000Z",
                "status": "complete", "environment": {"versions": versions},
                "cpu_pressure_start": {"some_avg10": pressure}, "cpu_pressure_end": {"some_avg10": 0.0}}
    (d / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (d / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))


if __name__ == "__main__":
    write("fake-a100-run", "NVIDIA A100-SXM4-80GB (fake)", {"torch": "2.11.0", "transformers": "5.17.0"}, 0.5,
          [case("Llama-3.1-8B", 1, 0.020, 0.040, 50.0, 250.0, "NVIDIA A100-SXM4-80GB (fake)"),
           case("Llama-3.1-8B", 8, 0.025, 0.200, 320.0, 300.0, "NVIDIA A100-SXM4-80GB (fake)")])
    write("fake-h20-run", "NVIDIA H20 (fake)", {"torch": "2.13.0", "transformers": "5.17.0"}, 25.0,
          [case("Llama-3.1-8B", 1, 0.010, 0.080, 100.0, None, "NVIDIA H20 (fake)"),
           case("Llama-3.1-8B", 8, 0.012, 0.500, 640.0, None, "NVIDIA H20 (fake)")])

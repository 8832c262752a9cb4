import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _one_thread_and_private_cache(tmp_path_factory):
    """One torch thread (a shared 2-core machine), and a per-session tiny-model cache."""
    import torch

    torch.set_num_threads(1)
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("bench-cache"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield


def run_cli(*args, cwd=ROOT, timeout=600):
    """Run `python run_bench.py ARGS` in a subprocess; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, str(ROOT / "run_bench.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


TINY_CONFIG = """
name: t
models: [tiny:llama, tiny:qwen2]
backend: {kind: transformers, device: cpu, dtype: float32, threads: 1}
workload: {input_tokens: 8, output_tokens: 4, batch_sizes: [1, 2], num_batches: 1, warmup: 0}
"""


def cases_by_dataset(doc: dict, names: list[str]) -> dict:
    """A ``run --format json`` document's cases by dataset name, each ok, with its own request records
    (``case["_records"]``)."""
    import json

    cases = {c["workload"]["dataset"]: c for c in doc["cases"]}
    assert sorted(cases) == sorted(names)
    reqs = [json.loads(x) for x in (Path(doc["run_dir"]) / "requests.jsonl").read_text().splitlines()]
    for name, c in cases.items():
        assert c["status"] == "ok", (name, c["error"])
        c["_records"] = [r for r in reqs if r["case_id"] == c["case_id"]]
    return cases

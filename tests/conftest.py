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


def cli(*args, cwd=ROOT):
    """``run_bench.py ARGS`` in this process (``bench.cli.main``): the same parser, commands, exit codes, stdout and
    stderr (warnings logged as the CLI logs them) as :func:`run_cli`, without a fresh interpreter importing torch and
    transformers again (6-15 s a run on this 2-core machine). For tests that are not about the process itself:
    signals, tracebacks, what a fresh interpreter imports, and timing against a server thread in this process (the
    GIL) keep :func:`run_cli`. Returns a CompletedProcess (text); torch's thread count and the root logger are
    restored afterwards."""
    import contextlib
    import io
    import logging

    from bench.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    mine = logging.StreamHandler(err)
    mine.setLevel(logging.WARNING)
    mine.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(mine)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        root.handlers[:] = handlers  # drop ours and any basicConfig handler bound to the captured stream
        root.setLevel(level)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads or 1)
    return subprocess.CompletedProcess(["run_bench.py", *argv], code, out.getvalue(), err.getvalue())


# ---------------------------------------------------------------- one shared `vllm serve` (tests marked vllm)
# On a 2-core machine a client and the server would compete for the CPU: the shared server gets core 1 (its OMP
# threads too), clients that time it core 0.
PIN = len(os.sched_getaffinity(0)) >= 2
SERVER_CORE, CLIENT_CORE = {1}, {0}
_SHARED_VLLM: dict = {}  # "server": the running ManagedServer, "model": its model directory


@pytest.fixture
def vllm_server(tmp_path_factory):
    """(ManagedServer, model directory): a real ``vllm serve`` of tiny random-weight Llama (float32, eager,
    max_model_len 512, a 1 GiB KV cache, VLLM_SERVER_DEV_MODE=1 for POST /reset_prefix_cache), pinned to core 1
    where there are two, served as ``xc``. Each start costs about a minute of imports here, so consecutive tests
    that ask for it share one start; it stops as soon as the next test does not ask for it (see
    pytest_runtest_teardown), so that one engine runs at a time. Tests of the managed server's own life cycle (the
    harness starting and stopping it, a kill) start their own."""
    if "server" not in _SHARED_VLLM:
        from bench.catalog.tiny import build_tiny
        from bench.measure.endpoint.server import ManagedServer

        path = build_tiny("llama")
        log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
        env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_SERVER_DEV_MODE": "1"}
        if PIN:
            env["VLLM_CPU_OMP_THREADS_BIND"] = str(min(SERVER_CORE))
        srv = ManagedServer(str(path), "xc", ["--enforce-eager", "--dtype", "float32", "--max-model-len", "512"],
                            log, startup_timeout_s=600, env=env)
        mine = os.sched_getaffinity(0)
        if PIN:
            os.sched_setaffinity(0, SERVER_CORE)  # the server process inherits it at fork
        try:
            srv.start()
        finally:
            os.sched_setaffinity(0, mine)
        _SHARED_VLLM.update(server=srv, model=path)
    return _SHARED_VLLM["server"], _SHARED_VLLM["model"]


def _stop_shared_vllm_server() -> None:
    srv = _SHARED_VLLM.pop("server", None)
    _SHARED_VLLM.clear()
    if srv is not None:
        srv.stop()


def pytest_runtest_teardown(item, nextitem):
    if _SHARED_VLLM and (nextitem is None or "vllm_server" not in nextitem.fixturenames):
        _stop_shared_vllm_server()


def pytest_sessionfinish(session, exitstatus):
    _stop_shared_vllm_server()  # an interrupted session too: the server has its own process group


def run_main(capsys, *argv):
    """The CLI in this process: (exit code, stdout, stderr)."""
    from bench.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_with_a_failed_case(tmp_path, capsys, monkeypatch, config_text: str, failing: str):
    """(config path, run directory) of a finished run whose cases with ``failing`` in their batch ids raised,
    so that --resume has work to do (exit 1 checked)."""
    import json

    from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend

    cfg = write_config(tmp_path / "c.yaml", config_text)
    real = DecodeLoopBackend.run_batch

    def fail(self, prompts, n, batch_id):
        if failing in batch_id:
            raise RuntimeError("injected failure")
        return real(self, prompts, n, batch_id)

    monkeypatch.setattr(DecodeLoopBackend, "run_batch", fail)
    code, out, _ = run_main(capsys, "run", cfg, "--output-dir", tmp_path / "out", "--format", "json")
    assert code == 1
    monkeypatch.setattr(DecodeLoopBackend, "run_batch", real)
    return cfg, Path(json.loads(out)["run_dir"])

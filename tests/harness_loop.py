"""The harness's ``run_bench.py`` run many times in one process, for the cross-check in tests/test_vllm_cpu.py: the
counterpart of tests/vllm_bench_loop.py, so that neither client pays its imports (torch and transformers here,
5-10 s a process on this machine) between the pairs it times.

Reads one JSON list of ``run_bench.py`` arguments per line on stdin, runs ``bench.cli.main`` with them (a fresh
config, tokenizer, prompts and event loop each time, as a new process would have), and prints ``@@done <exit code>``
on a line of its own after each run (the run's stdout comes before it)."""
import importlib
import json
import sys
import traceback

importlib.import_module("transformers")  # up front, while the server starts: the openai backend's tokenizer

from bench.cli import main  # noqa: E402

for line in sys.stdin:
    try:
        rc = main(json.loads(line))
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        traceback.print_exc()
        rc = 1
    print(f"\n@@done {rc}", flush=True)

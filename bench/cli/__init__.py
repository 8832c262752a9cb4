"""Command line: the parser and ``main``. Each command module (run, analysis, reports) parses, calls the
package's pure functions and prints; none imports another's helpers (shared flag checks: ``cli.args``).

Bad input exits 2 with one line per problem naming the file or flag, what was found and what is
allowed; never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from bench.cli import analysis, gpu_check, reports, validate
from bench.cli.run import cmd_list, cmd_run, cmd_sysinfo
from bench.errors import BenchError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        from bench.cli.args import clip

        self.exit(EXIT_BAD_INPUT, clip(f"error: {self.prog}: {' '.join(message.split())}") + "\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bench", description="Inference cost and capacity benchmark.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run the benchmark described by a YAML config, or a quick run from flags (--model)",
                       description="Run every case of CONFIG, or a quick run from flags: --model ID and the flags "
                       "below build a config (the same validation and results); --print-config writes it as YAML.")
    r.add_argument("config", nargs="?", help="a YAML config (leave it out for a quick run with --model)")
    q = r.add_argument_group("quick run from flags (instead of CONFIG)")
    q.add_argument("--model", metavar="ID", help="tiny:<arch>, a catalog id (random weights) or a local directory "
                   "(for --backend openai: tiny:<arch> or the local directory with the served model's tokenizer)")
    q.add_argument("--backend", choices=("transformers", "vllm", "openai"), default=None,
                   help="default: transformers")
    q.add_argument("--base-url", metavar="URL", help="--backend openai: the server's API root "
                   "(default http://127.0.0.1:8000/v1)")
    q.add_argument("--served-model-name", metavar="NAME", help="--backend openai: the name the server knows the "
                   "model by (default: the --model label, e.g. tiny-llama)")
    q.add_argument("--batch-sizes", metavar="B[,B...]", help="offline backends: batch sizes to sweep (default 1)")
    q.add_argument("--concurrency", metavar="C[,C...]", help="openai: requests in flight to sweep (default 1)")
    q.add_argument("--request-rates", metavar="R[,R...]", help="openai: requests/s to sweep, or inf")
    q.add_argument("--input-tokens", metavar="N", type=int, help="prompt tokens per request (default 128)")
    q.add_argument("--output-tokens", metavar="M", type=int, help="output tokens per request (default 128)")
    q.add_argument("--trials", metavar="N", type=int, help="measured repeats of each case (default 1)")
    q.add_argument("--dataset", metavar="NAME[:PATH]", help="random (default), prefix, conversation, "
                   "sharegpt:PATH, jsonl:PATH or trace:PATH")
    q.add_argument("--print-config", action="store_true", help="write the config these flags make as YAML "
                   "and exit (save it, then `run FILE`)")
    r.add_argument("--output-dir", help="parent directory for the run directory (default: the config's output_dir)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run, skipping its completed cases")
    r.add_argument("--format", choices=("table", "json"), default="table")
    r.add_argument("--report", metavar="HTML", help="also write a self-contained HTML report of this run")
    r.add_argument("--columns", metavar="a,b,c", help="the metrics of the table (registry keys); default: headline")
    r.add_argument("--wide", action="store_true", help="every metric with a value in the table")
    r.add_argument("--max-duration", metavar="SECONDS", type=float, default=None,
                   help="refuse a case whose schedule (rates, ramps, trace span / speedup, think times, x trials) "
                        "takes longer than this (default 86400: 24 h)")
    r.add_argument("--executor", choices=("local", "ray"), help="where the cases run (default: the config's "
                   "executor.kind, local): in this process, or as tasks on a Ray cluster")
    r.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (auto, HOST:6379); without it "
                   "--executor ray starts a local Ray runtime for the run")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="show a catalog")
    ls.add_argument("what", choices=("models", "hardware", "pricing", "published"))
    ls.add_argument("--engine", help="list published: only this engine's rows (chitu, vllm, sglang, trtllm ...)")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(func=cmd_list)

    s = sub.add_parser("sysinfo", help="what this machine is and which power sensors it has")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.set_defaults(func=cmd_sysinfo)

    analysis.add_commands(sub)
    reports.add_commands(sub)
    validate.add_commands(sub)
    gpu_check.add_commands(sub)
    return p


EXIT_INTERNAL = 1


def main(argv: list[str] | None = None) -> int:
    """Exit 0: done; 1: a case failed, a full disk or read-only file system (one line: the path and what to
    do), or an internal error (one line; the traceback with -v);
    2: bad input (one line per problem, never a traceback); 130: interrupted (finished cases kept)."""
    from bench.cli.args import check_namespace, clip

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        check_namespace(args)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BenchError as exc:
        for line in exc.lines():  # one line each, whatever the message holds
            print(clip(f"error: {' '.join(str(line).split())}"), file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_BAD_INPUT)  # StorageError (disk full, read-only): 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # last resort: a bug, not bad input; one line unless -v
        if args.verbose:
            import traceback

            traceback.print_exc()
        msg = " ".join(str(exc).split())
        print(clip(f"error: internal: {type(exc).__name__}: {msg} (rerun with -v for the traceback)"),
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

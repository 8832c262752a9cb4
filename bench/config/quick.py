"""A quick run from flags: ``run --model ID [--backend ...] [--batch-sizes 1,4] ...`` becomes a config.

The flags build the same mapping a YAML config holds, and it goes through the same validation
(``load.parse_config``) and the same runner, so a quick run's results, manifest and errors are a config
run's. ``to_yaml`` writes that mapping as a config to keep (``--print-config``): running the file gives the
very same config (``config_sha256``), so ``--resume`` accepts one for the other.

Pure: no environment, network or device is touched here.
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml

from bench.errors import ConfigError, InputError

BACKENDS = ("transformers", "vllm", "openai")
DATASETS = ("random", "sharegpt", "jsonl", "prefix", "conversation", "trace")
DEFAULT_INPUT_TOKENS = 128
DEFAULT_OUTPUT_TOKENS = 128

# config field -> the flag that sets it, so a validation error names what the user typed
FIELD_FLAGS = {
    "workload.batch_sizes": "--batch-sizes", "workload.concurrency": "--concurrency",
    "workload.request_rates": "--request-rates", "workload.input_tokens": "--input-tokens",
    "workload.output_tokens": "--output-tokens", "workload.trials": "--trials", "workload.dataset": "--dataset",
    "backend.base_url": "--base-url", "backend.served_model_name": "--served-model-name", "models[0]": "--model", "input_tokens/output_tokens": "--input-tokens",
}
# the flags only a quick run takes (argparse attribute -> flag)
QUICK_FLAGS = {"backend": "--backend", "base_url": "--base-url", "served_model_name": "--served-model-name", "batch_sizes": "--batch-sizes",
               "concurrency": "--concurrency", "request_rates": "--request-rates", "input_tokens": "--input-tokens",
               "output_tokens": "--output-tokens", "trials": "--trials", "dataset": "--dataset",
               "print_config": "--print-config"}


def int_list(flag: str, text: str | None) -> list[int] | None:
    """``"1,4,16"`` -> [1, 4, 16]; a part that is not a whole number is one line naming the flag."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        p = part.strip()
        if not re.fullmatch(r"[0-9]{1,9}", p):
            raise InputError(f"{flag}: {p!r} is not a whole number; give a comma-separated list such as 1,4,16")
        out.append(int(p))
    return out


def rate_list(flag: str, text: str | None) -> list[float | str] | None:
    """``"1,2.5,inf"`` -> [1.0, 2.5, 'inf'] (requests/s; ``inf`` sends everything at once)."""
    if text is None:
        return None
    out: list[float | str] = []
    for part in text.split(","):
        p = part.strip().lower()
        if p == "inf":
            out.append("inf")
            continue
        try:
            v = float(p)
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or p in ("nan", "infinity", "+inf"):
            raise InputError(f"{flag}: {part.strip()!r} is not a rate; give requests/s such as 1,4,inf")
        out.append(v)
    return out


def dataset_spec(text: str | None) -> dict | None:
    """``NAME`` or ``NAME:PATH`` (``sharegpt:data.json``, ``trace:mooncake.jsonl``) -> a dataset mapping."""
    if text is None:
        return None
    kind, _, path = text.partition(":")
    kind = kind.strip()
    if kind not in DATASETS:
        raise InputError(f"--dataset: {kind!r} is unknown; known: {', '.join(DATASETS)} (NAME or NAME:PATH)")
    if kind in ("sharegpt", "jsonl", "trace") and not path.strip():
        raise InputError(f"--dataset {kind} needs a file: give {kind}:PATH")
    if kind not in ("sharegpt", "jsonl", "trace") and path:
        raise InputError(f"--dataset {kind} takes no file; give {kind} alone")
    return {"kind": kind, **({"path": path.strip()} if path else {})}


def _model_entry(model: str) -> str | dict:
    """What ``--model`` means: ``tiny:<arch>`` and local paths as typed; a catalog id with random weights."""
    if model.startswith(("tiny:", "/", "./", "../", "~")):
        return model
    return {"id": model, "weights": "random"}


def _name(model: str) -> str:
    stem = model.rstrip("/").rsplit("/", 1)[-1].replace(":", "-")
    return ("quick-" + re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-"))[:100] or "quick"


def quick_config(model: str, backend: str = "transformers", base_url: str | None = None,
                 served_model_name: str | None = None,
                 batch_sizes: list[int] | None = None, concurrency: list[int] | None = None,
                 request_rates: list | None = None, input_tokens: int | None = None,
                 output_tokens: int | None = None, trials: int | None = None,
                 dataset: dict | None = None) -> dict[str, Any]:
    """The config mapping a quick run stands for. Only what was asked for (and what a backend needs) is
    written; every other field keeps the schema's default."""
    if backend not in BACKENDS:
        raise InputError(f"--backend: {backend!r} is unknown; known: {', '.join(BACKENDS)}")
    if base_url is not None and backend != "openai":
        raise InputError("--base-url is for --backend openai (a server to send requests to); add --backend openai")
    if served_model_name is not None and backend != "openai":
        raise InputError("--served-model-name is for --backend openai (the name the server knows the model by); "
                         "add --backend openai")
    be: dict[str, Any] = {"kind": backend}
    if backend == "openai" and base_url is not None:
        be["base_url"] = base_url
    if backend == "openai" and served_model_name is not None:
        be["served_model_name"] = served_model_name
    wl: dict[str, Any] = {}
    if dataset is not None:
        wl["dataset"] = dataset
    if dataset is None or dataset["kind"] == "random" or input_tokens is not None or output_tokens is not None:
        wl["input_tokens"] = input_tokens if input_tokens is not None else DEFAULT_INPUT_TOKENS
        wl["output_tokens"] = output_tokens if output_tokens is not None else DEFAULT_OUTPUT_TOKENS
    if backend == "openai":
        if batch_sizes is not None:
            wl["batch_sizes"] = batch_sizes  # refused by the schema, with its reason
        if concurrency is None and request_rates is None:
            concurrency = [1]
        if concurrency is not None:
            wl["concurrency"] = concurrency
        if request_rates is not None:
            wl["request_rates"] = request_rates
    else:
        wl["batch_sizes"] = batch_sizes if batch_sizes is not None else [1]
        if concurrency is not None:
            wl["concurrency"] = concurrency
        if request_rates is not None:
            wl["request_rates"] = request_rates
    if trials is not None:
        wl["trials"] = trials
    return {"name": _name(model), "models": [_model_entry(model)], "backend": be, "workload": wl}


def to_yaml(data: dict[str, Any], command: str) -> str:
    """The config as YAML to keep, headed by the command line it came from."""
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
    return f"# written by: {command}\n# run it with: python run_bench.py run THIS_FILE\n{body}"


def name_flags(exc: ConfigError, source: str) -> ConfigError:
    """A validation error of a quick config, each line led by the flag that set the field it names
    (the first field the line mentions), else by ``source``."""
    def one(line: str) -> str:
        rest = line.removeprefix(f"{source}: ").removeprefix("(top level): ")
        hits = [(rest.find(field), -len(field), flag) for field, flag in FIELD_FLAGS.items() if field in rest]
        return f"{min(hits)[2]}: {rest}" if hits else f"{source}: {rest}"
    lines = [one(x) for x in exc.problems]
    return ConfigError(lines[0], lines)


def resolve(config_path: str | None, flags: dict[str, Any]) -> tuple[Any, str, str]:
    """``run``'s config: (config, its text, its name in errors) from CONFIG, or from the quick-run ``flags``
    (argparse attribute -> value: ``model`` and those of ``QUICK_FLAGS``); the config is None for
    ``print_config`` (the text is the YAML to print)."""
    from bench.config.load import load_config, parse_config

    given = [f for a, f in QUICK_FLAGS.items() if flags.get(a) not in (None, False)]
    if config_path is not None:
        if flags.get("model") is not None or given:
            first = "--model" if flags.get("model") is not None else given[0]
            raise InputError(f"run: {first} is for a quick run without CONFIG; give CONFIG or the flags, not both "
                             "(edit the config's fields instead)")
        cfg, text = load_config(config_path)
        return cfg, text, config_path
    model = flags.get("model")
    if model is None:
        raise InputError("run: give a CONFIG file, or --model ID for a quick run from flags "
                         "(e.g. run --model tiny:llama --batch-sizes 1,4)")
    data = quick_config(
        model, backend=flags.get("backend") or "transformers", base_url=flags.get("base_url"),
        served_model_name=flags.get("served_model_name"),
        batch_sizes=int_list("--batch-sizes", flags.get("batch_sizes")),
        concurrency=int_list("--concurrency", flags.get("concurrency")),
        request_rates=rate_list("--request-rates", flags.get("request_rates")),
        input_tokens=flags.get("input_tokens"), output_tokens=flags.get("output_tokens"), trials=flags.get("trials"),
        dataset=dataset_spec(flags.get("dataset")))
    try:
        cfg = parse_config(data, "flags")
    except ConfigError as exc:
        raise name_flags(exc, "flags") from None
    argv = ["--model", model] + [x for a, f in QUICK_FLAGS.items()
                                 if flags.get(a) not in (None, False, True) for x in (f, str(flags[a]))]
    text = to_yaml(data, "run " + " ".join(argv))
    return (None if flags.get("print_config") else cfg), text, "flags"

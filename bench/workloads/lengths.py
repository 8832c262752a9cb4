"""Prompt and output lengths for a projected whole run (``project --num-prompts --dataset``): ``random`` gives
every prompt the same lengths; ``sharegpt`` keeps the stated means and gives the outputs ShareGPT's shape
(``shaped_lengths``, the shape's quantiles and source in bench/catalog/data/length_shapes.yaml); ``jsonl PATH``
reads one ``{"input_tokens": N, "output_tokens": M}`` a line through the bounded dataset reader (``files``), so the
same file limits and one-line errors apply as to a run's dataset."""
from __future__ import annotations

import functools
import random
from importlib import resources
from pathlib import Path

import yaml

from bench.errors import InputError
from bench.workloads import files
from bench.workloads.request import DatasetError


@functools.cache
def shape(name: str) -> dict:
    """A length shape from bench/catalog/data/length_shapes.yaml: its quantiles (every 5 %), mean and source."""
    text = resources.files("bench.catalog.data").joinpath("length_shapes.yaml").read_text()
    return yaml.safe_load(text)["shapes"][name]


def shaped_lengths(n: int, n_in: int, mean_out: float, context_length: int, seed: int = 0,
                   name: str = "sharegpt_output") -> list[tuple[int, int]]:
    """``n`` requests of ``n_in`` prompt tokens whose outputs follow the shape ``name`` with mean ``mean_out``: the
    i-th output at the shape's quantile (i + 0.5) / n (linear between its 5 % points), all scaled so that their mean
    is ``mean_out``, each at least 1 and at most ``context_length - n_in``; shuffled with ``seed`` (a benchmark
    client sends its sample in a random order)."""
    q = shape(name)["quantiles_tokens"]
    steps = len(q) - 1
    raw = []
    for i in range(n):
        x = (i + 0.5) / n * steps
        k = min(int(x), steps - 1)
        raw.append(q[k] + (q[k + 1] - q[k]) * (x - k))
    scale = mean_out * n / sum(raw)
    top = max(context_length - n_in, 1)
    out = [(n_in, min(max(round(v * scale), 1), top)) for v in raw]
    random.Random(seed).shuffle(out)
    return out


def dataset_lengths(spec: list[str], context_length: int, model_id: str, n_in: int, n_out: int, n: int = 1,
                    seed: int = 0) -> list[tuple[int, int]]:
    """``--dataset``: random -> [(n_in, n_out)]; sharegpt -> ``n`` requests of ``n_in`` in and ShareGPT-shaped
    outputs of mean ``n_out`` (``shaped_lengths``); jsonl PATH -> each line's (input, output) token counts."""
    kind = spec[0].lower() if spec else ""
    if kind == "random" and len(spec) == 1:
        return [(n_in, n_out)]
    if kind == "sharegpt" and len(spec) == 1:
        return shaped_lengths(n, n_in, n_out, context_length, seed)
    if kind != "jsonl" or len(spec) != 2:
        raise InputError(f"--dataset {' '.join(spec)}: give 'random', 'sharegpt' (the means given, ShareGPT's "
                         "output shape) or 'jsonl PATH'")
    path = Path(spec[1])
    out = []
    try:
        for no, row in files.json_lines(path, "lengths file", "--dataset jsonl PATH"):
            where = f"{path}:{no}"
            vals = (files.length(row.get("input_tokens"), "input_tokens", where),
                    files.length(row.get("output_tokens"), "output_tokens", where))
            if sum(vals) > context_length:
                raise InputError(f"{where}: {vals[0]} + {vals[1]} tokens exceed the context of '{model_id}' "
                                 f"({context_length:,}); fix or remove that row")
            out.append(vals)
    except DatasetError as exc:
        raise InputError(str(exc)) from None
    if not out:
        raise InputError(f"--dataset jsonl {path}: no lengths in it; one {{\"input_tokens\": N, \"output_tokens\": M}} "
                         "a line")
    return out

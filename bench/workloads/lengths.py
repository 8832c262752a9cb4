"""Prompt and output lengths for a projected whole run (``project --num-prompts --dataset``): ``random`` gives
every prompt the same lengths; ``jsonl PATH`` reads one ``{"input_tokens": N, "output_tokens": M}`` a line through
the bounded dataset reader (``files``), so the same file limits and one-line errors apply as to a run's dataset."""
from __future__ import annotations

from pathlib import Path

from bench.errors import InputError
from bench.workloads import files
from bench.workloads.request import DatasetError


def dataset_lengths(spec: list[str], context_length: int, model_id: str, n_in: int, n_out: int
                    ) -> list[tuple[int, int]]:
    """``--dataset``: random -> [(n_in, n_out)]; jsonl PATH -> each line's (input, output) token counts."""
    kind = spec[0].lower() if spec else ""
    if kind == "random" and len(spec) == 1:
        return [(n_in, n_out)]
    if kind == "sharegpt":
        raise InputError("--dataset sharegpt needs the prompts' token lengths, which need a tokenizer; give them as "
                         "--dataset jsonl PATH (one {\"input_tokens\": N, \"output_tokens\": M} a line)")
    if kind != "jsonl" or len(spec) != 2:
        raise InputError(f"--dataset {' '.join(spec)}: give 'random' or 'jsonl PATH'")
    path = Path(spec[1])
    out = []
    try:
        for no, row in files.json_lines(path, "lengths file", "--dataset jsonl PATH"):
            where = f"{path}:{no}"
            vals = (files.length(row.get("input_tokens"), "input_tokens", where),
                    files.length(row.get("output_tokens"), "output_tokens", where))
            if sum(vals) > context_length:
                raise InputError(f"{where}: {vals[0]} + {vals[1]} tokens exceed the context of '{model_id}' "
                                 f"({context_length:,})")
            out.append(vals)
    except DatasetError as exc:
        raise InputError(str(exc)) from None
    if not out:
        raise InputError(f"--dataset jsonl {path}: no lengths in it; one {{\"input_tokens\": N, \"output_tokens\": M}} "
                         "a line")
    return out

"""Phase rates per accelerator of a measured window (pure): what $/M charges input and output tokens at.

Prefill time = input tokens / prefill tok/s (the sum over batches of the time to first token); decode
time = window - prefill time. Measure writes these per trial (the ``trials`` block's
``cost_*_tok_s_per_accelerator``); ``bench.analysis.cost`` prices them when results are read.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rates:
    """Per-accelerator throughputs of one workload. input/output are phase rates (prefill, decode): they price
    input and output tokens apart; total is tokens over the whole window (used when there is no phase split);
    ``run_output_tok_s`` is output tokens over the whole window (prefill included), the figure ``project`` and a
    run's table print as output tok/s (None: the same as ``output_tok_s``, e.g. a rate the user gave)."""

    output_tok_s: float
    input_tok_s: float | None = None
    total_tok_s: float | None = None
    provenance: str = "user"
    run_output_tok_s: float | None = None

    def shown(self) -> dict:
        """The rates as every priced entry names them: output over the run (as ``project`` prints), and each
        phase's rate that its tokens are charged at."""
        return {"output_tok_s_per_accelerator": self.run_output_tok_s or self.output_tok_s,
                "decode_tok_s_per_accelerator": self.output_tok_s, "input_tok_s_per_accelerator": self.input_tok_s,
                "total_tok_s_per_accelerator": self.total_tok_s}


def phase_rates(window_s: float | None, prefill_tok_s: float | None, input_tokens: int | None,
                output_tokens: int | None, divisor: int, provenance: str = "measured") -> Rates | None:
    """Phase rates per accelerator of one window (``divisor``: the accelerator count, 1 on the CPU); None
    when the window has no output."""
    win, pre, n_in, n_out = window_s, prefill_tok_s, input_tokens, output_tokens
    if not win or not n_out:
        return None
    if pre and n_in:
        prefill_s = n_in / pre
        decode_s = win - prefill_s
        if decode_s > 0:
            return Rates(output_tok_s=n_out / decode_s / divisor, input_tok_s=pre / divisor,
                         total_tok_s=(n_in + n_out) / win / divisor, provenance=provenance,
                         run_output_tok_s=n_out / win / divisor)
    return Rates(output_tok_s=n_out / win / divisor, total_tok_s=(n_out + (n_in or 0)) / win / divisor,
                 provenance=provenance)

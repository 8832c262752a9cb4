"""The headline figures of one trial, and where each sits in a case summary (a dotted path for
``results.rundir.dig``): what the trials block summarises over trials (``measure/trials.py``) and
what ``check`` compares between runs (``analysis/check.py``). Kept here, below both, so that neither
imports the other."""
from __future__ import annotations

# headline metric -> where it is in one trial's summary (dotted path)
HEADLINE = {
    "output_tok_s": "output_tok_s", "total_tok_s": "total_tok_s",
    "output_tok_s_per_accelerator": "output_tok_s_per_accelerator", "prefill_tok_s": "prefill_tok_s",
    "requests_per_s": "requests_per_s",
    "ttft_p50_s": "ttft_s.p50", "ttft_p99_s": "ttft_s.p99", "tpot_p50_s": "tpot_s.p50", "tpot_p99_s": "tpot_s.p99",
    "e2e_p50_s": "e2e_s.p50", "e2e_p99_s": "e2e_s.p99",
    "j_per_output_tok": "energy.j_per_output_tok", "j_per_total_tok": "energy.j_per_total_tok",
    # the inputs of $/M (bench.analysis.cost.rates_from_case): phase rates per accelerator
    "cost_output_tok_s_per_accelerator": "cost_rates.output_tok_s", "cost_input_tok_s_per_accelerator": "cost_rates.input_tok_s",
}

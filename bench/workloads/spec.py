"""What every dataset spec shares: the length filters (``bench/workloads/sampling`` applies them, seeded).

A dataset kind is one module ``bench/workloads/<kind>.py`` holding its spec (a subclass of
``DatasetSpec`` with ``kind: Literal["<kind>"]``) and ``requests(spec, tokens, seed, n, input_tokens,
output_tokens) -> (requests, notes)``; ``SAMPLED`` says whether ``load_dataset`` samples its requests
down to ``n``. ``bench/workloads/registry.py`` names it in one line.
"""
from __future__ import annotations

from bench.config.types import Strict, Tokens


class DatasetSpec(Strict):
    """Filters and sampling shared by every source (bench/workloads applies them, seeded)."""

    min_input_tokens: Tokens | None = None
    max_input_tokens: Tokens | None = None
    max_output_tokens: Tokens | None = None

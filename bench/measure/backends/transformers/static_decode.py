"""Static-KV-cache decoding for ``kind: transformers`` with ``backend.compile: static | compiled``.

- ``static``: a transformers ``StaticCache`` (fixed-size KV tensors, updated in place), eager.
- ``compiled``: the same cache, and ``torch.compile`` of the prefill and of the decode step, each
  separately (``mode="reduce-overhead"`` on CUDA, which captures and replays CUDA graphs; the
  default inductor mode on the CPU). Shapes are static (``dynamic=False``), so there is one graph
  per (batch size, prompt length) for prefill and one per (batch size, cache length) for decode.

One ``ShapeState`` (cache + compiled callables) is kept per (batch size, input length, cache
length) and reused across batches (``cache.reset()`` zeroes it in place; the tensors keep their
addresses, which CUDA-graph replay needs). The first batch at a shape is the compile warm-up: the
backend runs it before the measured window and records its wall time as ``compile_s``.

Attention: a model on transformers' ``sdpa`` attention switches to ``GQA_DECODE_ATTENTION``, which is
sdpa except for a one-token decode step of a grouped-query layer. There, transformers repeats every KV
head ``groups`` times before calling SDPA whenever a mask is given (and a static cache always gives
one, for its unwritten slots): at batch 32 and 640 cache slots that writes and reads four copies of
Llama-3.1-8B's 2.7 GB cache per step, which on an H200 doubled the step time of batch 1 (13.5 vs
6.7 ms, measured 2026-11-28). Folding the ``groups`` query heads that share a KV head into the query
length gives SDPA the same products over the cache as it is.

Timestamps: the caller synchronises the device once after every step and reads the clock. Under
graph replay a step is one graph launch; the timestamp is when its last kernel finished, the same
meaning as in the eager loop (the host's launch cost is what replay removes).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# torch.compile gives up on recompiling a function after this many shapes and silently runs it
# eagerly; a sweep has one shape per (batch, input, output) case, so the limit is raised, and hitting
# it raises instead of falling back quietly (the backend then records the fallback in the result).
RECOMPILE_LIMIT = 256
# A shape compiles two graphs (prefill, decode step). More than this many new graphs in its first
# batch means some guard changes every step (e.g. a Python int in a sliding-window cache): the step
# would recompile token after token, so the warm-up stops and the backend falls back to eager.
MAX_GRAPHS_PER_SHAPE = 4


GQA_DECODE_ATTENTION = "bench_sdpa_gqa_decode"


def gqa_decode_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
                         **kwargs):
    """transformers' sdpa attention, except a one-token step of a grouped-query layer reads the KV heads as
    they are: query [B, H, 1, D] becomes [B, Hkv, G, D] (head ``kv * G + g``, the order ``repeat_kv``
    gives), each KV head's G query heads one "query length", so the [B, 1, 1, L] mask broadcasts."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1) or 1
    b, heads, q_len, dim = query.shape
    if (q_len != 1 or groups <= 1 or dropout or kwargs.get("position_bias") is not None
            or key.shape[1] * groups != heads or key.shape[-1] != value.shape[-1]
            or (attention_mask is not None and attention_mask.shape[-2] != 1)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    q = query.reshape(b, key.shape[1], groups, dim)
    out = torch.nn.functional.scaled_dot_product_attention(q, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(b, heads, 1, dim).transpose(1, 2).contiguous(), None


def use_gqa_decode_attention(model) -> bool:
    """Switch a model on sdpa attention to ``GQA_DECODE_ATTENTION`` (masks built as for sdpa). False, and
    the model untouched, where it runs another attention or transformers lacks the interfaces."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(GQA_DECODE_ATTENTION, gqa_decode_attention)
    AttentionMaskInterface.register(GQA_DECODE_ATTENTION, sdpa_mask)
    try:
        model.set_attn_implementation(GQA_DECODE_ATTENTION)
    except (ValueError, TypeError, AttributeError, NotImplementedError) as exc:  # a model that refuses custom attention
        log.info("keeping sdpa attention for %s: %s", type(model).__name__, exc)
        return False
    return True


class CompileUnstable(RuntimeError):
    """torch.compile keeps recompiling the decode step of one shape."""


def _full_layers_within_window(cache, cache_len: int) -> None:
    """A sliding-window layer whose window holds the whole sequence (window >= cache length) attends
    exactly like a full layer; make it one. The sliding layer keeps its fill level as a Python int
    and branches on it, which would recompile the compiled step at every token."""
    from transformers.cache_utils import StaticLayer, StaticSlidingWindowLayer

    for i, layer in enumerate(cache.layers):
        if isinstance(layer, StaticSlidingWindowLayer) and layer.max_cache_len >= cache_len:
            cache.layers[i] = StaticLayer(max_cache_len=cache_len)


@dataclass
class ShapeState:
    cache: object
    prefill: object  # callable(input_ids) -> next token ids [B, 1]
    step: object  # callable(input_ids) -> next token ids [B, 1]
    compiled_batches: int = 0


@dataclass
class StaticDecoder:
    """Greedy prefill + decode over a StaticCache; ``compiled`` wraps both steps in torch.compile."""

    model: object
    device: str
    compiled: bool
    compile_mode: str | None  # torch.compile mode (None: inductor's default)
    shapes: dict = field(default_factory=dict)

    def __post_init__(self):
        import torch

        self.torch = torch
        use_gqa_decode_attention(self.model)
        self.on_cuda = self.device.startswith("cuda")
        if self.compiled:
            import torch._dynamo

            cfg = torch._dynamo.config
            for name in ("recompile_limit", "cache_size_limit"):
                if hasattr(cfg, name):
                    setattr(cfg, name, max(getattr(cfg, name), RECOMPILE_LIMIT))
            if hasattr(cfg, "fail_on_recompile_limit_hit"):
                cfg.fail_on_recompile_limit_hit = True

    @property
    def attention(self) -> str | None:
        """The attention the decoder runs: the model's (GQA_DECODE_ATTENTION where it applied)."""
        return getattr(self.model.config, "_attn_implementation", None)

    # ------------------------------------------------------------------ the two steps
    def _prefill_fn(self, cache, mask):
        model = self.model

        # An explicit all-ones mask over the whole cache: transformers' "skip the mask when the cache
        # is empty" shortcut is a data-dependent branch that a full graph cannot hold; causality
        # still hides the not-yet-written positions.
        def prefill(ids):
            out = model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1, :].argmax(-1, keepdim=True)

        return prefill

    def _step_fn(self, cache):
        model = self.model

        def step(ids):
            out = model(input_ids=ids, past_key_values=cache, use_cache=True)
            return out.logits[:, -1, :].argmax(-1, keepdim=True)

        return step

    def _compile(self, fn):
        return self.torch.compile(fn, mode=self.compile_mode, dynamic=False, fullgraph=True)

    def state_for(self, batch: int, input_tokens: int, cache_len: int) -> tuple[ShapeState, bool]:
        """The cache and callables for one shape; True if this call created them (a compile warm-up)."""
        key = (batch, input_tokens, cache_len)
        st = self.shapes.get(key)
        if st is not None:
            return st, False
        from transformers import StaticCache

        torch = self.torch
        cache = StaticCache(config=self.model.config, max_cache_len=cache_len)
        _full_layers_within_window(cache, cache_len)
        mask = torch.ones((batch, cache_len), dtype=torch.long, device=self.device)
        prefill, step = self._prefill_fn(cache, mask), self._step_fn(cache)
        if self.compiled:
            # The cache allocates its tensors on first use; do that eagerly (outside any trace) so
            # that their addresses are fixed and marked static before compilation.
            with torch.no_grad():
                prefill(torch.zeros((batch, input_tokens), dtype=torch.long, device=self.device))
            cache.reset()
            prefill, step = self._compile(prefill), self._compile(step)
        st = ShapeState(cache=cache, prefill=prefill, step=step)
        self.shapes[key] = st
        return st, True

    # ------------------------------------------------------------------ one batch
    def generate(self, ids, output_tokens: int, sync, clock) -> tuple[list, list[float], float, object]:
        """Greedy decode ``output_tokens`` tokens. Returns (token tensors [B,1] per step, the time after
        each step, the start time, the cache). One synchronisation per step."""
        torch = self.torch
        batch, n_in = ids.shape
        st, _ = self.state_for(batch, n_in, n_in + output_tokens)
        st.cache.reset()
        mark = torch.compiler.cudagraph_mark_step_begin if (self.compiled and self.on_cuda) else (lambda: None)
        check = self._graph_budget() if (self.compiled and st.compiled_batches == 0) else (lambda: None)
        times: list[float] = []
        tokens = []
        sync()
        t0 = clock()
        with torch.no_grad():
            mark()
            nxt = st.prefill(ids)
            sync()
            times.append(clock())
            tokens.append(nxt.clone())  # a replayed graph overwrites its output on the next replay
            for _ in range(output_tokens - 1):
                mark()
                nxt = st.step(nxt.clone())
                check()
                sync()
                times.append(clock())
                tokens.append(nxt.clone())
        st.compiled_batches += 1
        return tokens, times, t0, st.cache

    def _graph_budget(self):
        from torch._dynamo.utils import counters

        start = counters["stats"]["unique_graphs"]

        def check():
            n = counters["stats"]["unique_graphs"] - start
            if n > MAX_GRAPHS_PER_SHAPE:
                raise CompileUnstable(f"torch.compile built {n} graphs for one shape in its first batch: the decode "
                                      "step recompiles as the cache fills")
        return check

    def forget(self) -> None:
        self.shapes.clear()
        if self.compiled:
            self.torch._dynamo.reset()

"""Model catalog: validated architecture numbers, and pure functions derived from them.

The data lives in ``bench/catalog/data/models.yaml`` with a source next to each entry. Nothing here
imports torch: ``list models``, cost and projection start fast.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import yaml
from pydantic import Field, PositiveInt

from bench.catalog.base import Frozen
from bench.catalog.dtypes import bytes_per_element
from bench.errors import ConfigError


class Arch(Frozen):
    layers: PositiveInt
    hidden: PositiveInt
    heads: PositiveInt
    kv_heads: PositiveInt
    head_dim: PositiveInt
    intermediate: PositiveInt  # dense MLP width (gated: gate, up, down)
    vocab: PositiveInt
    tied_embeddings: bool
    attention_bias: bool = False
    softmax_attention_every: PositiveInt = 1  # hybrid linear-attention models: 1 softmax layer in N


class Moe(Frozen):
    experts: PositiveInt
    top_k: PositiveInt
    shared_experts: int = Field(ge=0)
    expert_intermediate: PositiveInt
    first_dense_layers: int = Field(default=0, ge=0)
    moe_every: PositiveInt = 1  # 2 = every second layer is MoE (Llama 4 Maverick)


class Mla(Frozen):
    q_lora_rank: PositiveInt | None
    kv_lora_rank: PositiveInt
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class ApiPrice(Frozen):
    input: float | None = None
    output: float | None = None


class ModelEntry(Frozen):
    id: str
    hf_id: str
    origin: Literal["CN", "US"]
    license: str
    model_type: str
    context_length: PositiveInt
    published_params_b: float = Field(gt=0)
    published_active_params_b: float | None = None
    api_price_usd_per_mtok: ApiPrice | None = None
    arch: Arch
    moe: Moe | None = None
    mla: Mla | None = None
    source: str
    params_source: str
    notes: str | None = None


class _Catalog(Frozen):
    models: list[ModelEntry]


# ---------------------------------------------------------------------------- tiny test architectures
# model_type -> transformers config class name (what `AutoConfig.for_model` expects)
BUILDABLE = ("qwen2", "qwen3", "qwen3_moe", "llama", "deepseek_v3", "glm4", "gemma2", "phi3")

# head_dim 32: the smallest head size that vLLM's CPU attention kernels accept.
_TINY_DENSE = dict(layers=2, hidden=128, heads=4, kv_heads=2, head_dim=32, intermediate=256, vocab=512)


def _tiny(model_type: str, moe: Moe | None = None, mla: Mla | None = None, **arch) -> ModelEntry:
    fields = {**_TINY_DENSE, "tied_embeddings": False, **arch}
    return ModelEntry(
        id=f"tiny:{model_type}", hf_id="(built locally)", origin="CN" if model_type != "llama" else "US",
        license="n/a", model_type=model_type, context_length=2048, published_params_b=0.001,
        arch=Arch(**fields), moe=moe, mla=mla,
        source="bench/catalog/models.py (tiny random-weight test model)", params_source="n/a")


# Tiny random-weight models of the real architectures, used by tests and the smoke config.
TINY: dict[str, ModelEntry] = {
    "qwen2": _tiny("qwen2", attention_bias=True, tied_embeddings=True),
    "llama": _tiny("llama"),
    "qwen3": _tiny("qwen3"),
    "qwen3_moe": _tiny("qwen3_moe", moe=Moe(experts=4, top_k=2, shared_experts=0, expert_intermediate=32)),
    "deepseek_v3": _tiny(
        "deepseek_v3", heads=4, kv_heads=4, head_dim=24,
        moe=Moe(experts=4, top_k=2, shared_experts=1, expert_intermediate=32, first_dense_layers=1),
        mla=Mla(q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16)),
    "glm4": _tiny("glm4", attention_bias=True),
    "gemma2": _tiny("gemma2", tied_embeddings=True),
    "phi3": _tiny("phi3"),
}



@functools.cache
def models() -> dict[str, ModelEntry]:
    text = resources.files("bench.catalog.data").joinpath("models.yaml").read_text()
    cat = _Catalog.model_validate(yaml.safe_load(text))
    return {m.id: m for m in cat.models}


def resolve_model(label: str | None) -> ModelEntry | None:
    """The one place a model label becomes a catalog entry: ``tiny:<arch>``, a catalog id, or the id in
    another case (``llama-3.1-8b``). None when the label names nothing we know (a local directory)."""
    if not label:
        return None
    if label.startswith("tiny:"):
        return TINY.get(label.split(":", 1)[1])
    cat = models()
    if label in cat:
        return cat[label]
    return {k.lower(): v for k, v in cat.items()}.get(label.lower())


def get_model(model_id: str) -> ModelEntry:
    """``resolve_model`` for a label the user typed: unknown is an error that lists the known ids."""
    m = resolve_model(model_id)
    if m is None:
        raise ConfigError(f"model '{model_id}' is not in the catalog; known: {', '.join(models())}")
    return m


def rows() -> list[dict]:
    """``list models``: the catalog and the tiny architectures, with the numbers derived from them."""
    out = []
    for m in models().values():
        out.append({"id": m.id, "origin": m.origin, "type": m.model_type,
                    "params_b": round(param_count(m) / 1e9, 2),
                    "active_b": round(active_param_count(m) / 1e9, 2),
                    "published_b": m.published_params_b,
                    "kv_bytes_per_tok_bf16": int(kv_bytes_per_token(m, "bf16")),
                    "ctx": m.context_length, "random_weights": m.model_type in BUILDABLE,
                    "hf_id": m.hf_id})
    for name, m in TINY.items():
        out.append({"id": f"tiny:{name}", "origin": "-", "type": m.model_type,
                    "params_b": round(param_count(m) / 1e9, 6), "active_b": None,
                    "published_b": None, "kv_bytes_per_tok_bf16": int(kv_bytes_per_token(m, "bf16")),
                    "ctx": m.context_length, "random_weights": True, "hf_id": "(built locally)"})
    return out


# ---------------------------------------------------------------------------- derived numbers
def _moe_layer_count(m: ModelEntry) -> int:
    if m.moe is None:
        return 0
    return sum(1 for i in range(m.moe.first_dense_layers, m.arch.layers) if (i + 1) % m.moe.moe_every == 0)


def _attention_params(m: ModelEntry) -> int:
    """Attention weights of all layers (norms ignored: < 0.01 % of any catalog model)."""
    a = m.arch
    if m.mla is not None:
        x = m.mla
        qk = x.qk_nope_head_dim + x.qk_rope_head_dim
        q = (a.hidden * x.q_lora_rank + x.q_lora_rank * a.heads * qk) if x.q_lora_rank else a.hidden * a.heads * qk
        kv = a.hidden * (x.kv_lora_rank + x.qk_rope_head_dim) + x.kv_lora_rank * a.heads * (x.qk_nope_head_dim + x.v_head_dim)
        return a.layers * (q + kv + a.heads * x.v_head_dim * a.hidden)
    qo = 2 * a.hidden * a.heads * a.head_dim
    softmax = qo + 2 * a.hidden * a.kv_heads * a.head_dim
    if a.attention_bias:
        softmax += (a.heads + 2 * a.kv_heads) * a.head_dim
    n_soft = _softmax_layer_count(m)
    # Linear ("lightning") attention layers: full-width q, k, v, an output gate and the output projection.
    linear = 5 * a.hidden * a.heads * a.head_dim
    return n_soft * softmax + (a.layers - n_soft) * linear


def _softmax_layer_count(m: ModelEntry) -> int:
    return m.arch.layers // m.arch.softmax_attention_every


def _mlp_params(m: ModelEntry, active: bool) -> int:
    a = m.arch
    n_moe = _moe_layer_count(m)
    dense = (a.layers - n_moe) * 3 * a.hidden * a.intermediate
    if m.moe is None:
        return dense
    e = m.moe
    experts = e.top_k if active else e.experts
    per_layer = (experts + e.shared_experts) * 3 * a.hidden * e.expert_intermediate + a.hidden * e.experts
    return dense + n_moe * per_layer


def embedding_params(m: ModelEntry) -> int:
    return m.arch.vocab * m.arch.hidden


def lm_head_params(m: ModelEntry) -> int:
    return m.arch.vocab * m.arch.hidden


def param_count(m: ModelEntry) -> int:
    """Total parameters: embeddings, attention, MLP/experts, and an untied LM head."""
    head = 0 if m.arch.tied_embeddings else lm_head_params(m)
    return embedding_params(m) + _attention_params(m) + _mlp_params(m, active=False) + head


def active_param_count(m: ModelEntry, include_input_embedding: bool = False) -> int:
    """Parameters that take part in one token's forward pass (MoE: top-k + shared experts).

    The input embedding is a table lookup, not a matmul, so it is left out by default; the LM
    head always counts (it is a matmul even when tied).
    """
    n = _attention_params(m) + _mlp_params(m, active=True) + lm_head_params(m)
    return n + (embedding_params(m) if include_input_embedding else 0)


def weight_bytes(m: ModelEntry, dtype: str) -> float:
    return param_count(m) * bytes_per_element(dtype)


def kv_bytes_per_token(m: ModelEntry, dtype: str) -> float:
    """KV-cache bytes for one token of context, summed over layers.

    GQA: 2 (K and V) x kv_heads x head_dim per softmax-attention layer.
    MLA: the compressed latent (kv_lora_rank) plus the shared RoPE key, as vLLM and SGLang cache it.
    """
    b = bytes_per_element(dtype)
    if m.mla is not None:
        return m.arch.layers * (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * b
    return _softmax_layer_count(m) * 2 * m.arch.kv_heads * m.arch.head_dim * b


def _attn_flops_per_ctx_token(m: ModelEntry, decode: bool = False) -> float:
    """FLOPs of QK^T and AV for one query against one cached token, all layers.

    MLA: prefill decompresses K and V per head (QK^T over qk_nope + qk_rope, AV over v_head_dim); decode runs the
    weight-absorbed form over the cached latent, as vLLM's and SGLang's MLA kernels (FlashMLA) do: QK^T over
    kv_lora_rank + qk_rope_head_dim (576 for DeepSeek-V3) and AV over kv_lora_rank (512) for every head, about
    3.4x the FLOPs of the decompressed form, in exchange for reading only the latent."""
    if m.mla is not None:
        x = m.mla
        if decode:
            return 2 * m.arch.layers * m.arch.heads * (x.kv_lora_rank + x.qk_rope_head_dim + x.kv_lora_rank)
        return 2 * m.arch.layers * m.arch.heads * (x.qk_nope_head_dim + x.qk_rope_head_dim + x.v_head_dim)
    return 2 * _softmax_layer_count(m) * m.arch.heads * 2 * m.arch.head_dim


def decode_flops_per_token(m: ModelEntry, context_tokens: float) -> float:
    """FLOPs to generate one token with ``context_tokens`` already cached: 2 x active params + attention."""
    return 2 * active_param_count(m) + _attn_flops_per_ctx_token(m, decode=True) * context_tokens


def prefill_flops(m: ModelEntry, prompt_tokens: int) -> float:
    """FLOPs to prefill a prompt: 2 x active params per token, plus causal attention (n^2 / 2)."""
    return 2 * active_param_count(m) * prompt_tokens + _attn_flops_per_ctx_token(m) * prompt_tokens ** 2 / 2

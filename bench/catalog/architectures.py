"""Map catalog architecture numbers to a transformers config, and the tiny test architectures.

Pure data and dict-building: no torch import. The backend turns these dicts into models.
"""
from __future__ import annotations

from bench.catalog.models import Arch, Mla, ModelEntry, Moe

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
        source="bench/catalog/architectures.py (tiny random-weight test model)", params_source="n/a")


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


def hf_config_kwargs(m: ModelEntry, eos_token_id: int | None = None) -> dict:
    """Keyword arguments for ``AutoConfig.for_model(m.model_type, **kwargs)``."""
    a = m.arch
    kw: dict = dict(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        max_position_embeddings=m.context_length, tie_word_embeddings=a.tied_embeddings,
    )
    # Random weights have no tokenizer of their own: special ids are the tiny tokenizer's, or unset
    # (some configs default pad_token_id to an id outside a smaller vocabulary).
    kw.update(eos_token_id=eos_token_id, bos_token_id=eos_token_id, pad_token_id=eos_token_id)
    t = m.model_type
    if t in ("llama", "qwen3", "qwen3_moe", "glm4", "gemma2", "phi3"):
        kw["head_dim"] = a.head_dim
    if t in ("llama", "qwen3", "qwen3_moe", "glm4"):
        kw["attention_bias"] = a.attention_bias
    if t == "qwen3_moe" and m.moe is not None:
        e = m.moe
        kw.update(moe_intermediate_size=e.expert_intermediate, num_experts=e.experts,
                  num_experts_per_tok=e.top_k, decoder_sparse_step=e.moe_every,
                  mlp_only_layers=list(range(e.first_dense_layers)))
    if t == "deepseek_v3" and m.moe is not None and m.mla is not None:
        e, x = m.moe, m.mla
        groups = 8 if e.experts % 8 == 0 and e.experts >= 64 else 1
        kw.pop("num_key_value_heads")
        kw.update(num_key_value_heads=a.heads, moe_intermediate_size=e.expert_intermediate,
                  n_routed_experts=e.experts, num_experts_per_tok=e.top_k,
                  n_shared_experts=e.shared_experts, first_k_dense_replace=e.first_dense_layers,
                  n_group=groups, topk_group=min(4, groups), q_lora_rank=x.q_lora_rank,
                  kv_lora_rank=x.kv_lora_rank, qk_nope_head_dim=x.qk_nope_head_dim,
                  qk_rope_head_dim=x.qk_rope_head_dim, v_head_dim=x.v_head_dim)
    return kw

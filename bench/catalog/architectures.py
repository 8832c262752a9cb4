"""Map catalog architecture numbers to a transformers config (the tiny test architectures and the list of
buildable model types are entries of the model catalog: ``bench.catalog.models``).

Pure data and dict-building: no torch import. The backend turns these dicts into models.
"""
from __future__ import annotations

from bench.catalog.models import ModelEntry

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

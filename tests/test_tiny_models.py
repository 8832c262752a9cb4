"""Tiny builder: byte-identical rebuilds, and the decode loop agrees with `generate` (greedy)."""
import pytest
import torch

from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend
from bench.config.schema import ModelSpec, TransformersBackend
from bench.catalog.tiny import build_tiny

ARCHS = ["qwen2", "llama", "qwen3_moe", "deepseek_v3", "glm4"]


@pytest.mark.parametrize("arch", ARCHS)
def test_build_is_byte_identical(tmp_path, arch):
    a = build_tiny(arch, root=tmp_path / "a")
    b = build_tiny(arch, root=tmp_path / "b")
    files = sorted(p.name for p in a.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert files == sorted(p.name for p in b.iterdir())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_different_seed_gives_different_weights(tmp_path):
    a = build_tiny("llama", seed=0, root=tmp_path)
    b = build_tiny("llama", seed=1, root=tmp_path)
    assert (a / "model.safetensors").read_bytes() != (b / "model.safetensors").read_bytes()


@pytest.mark.parametrize("arch", ARCHS)
def test_decode_loop_matches_generate_greedy(arch):
    backend = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu", dtype="float32"))
    loaded = backend.load(ModelSpec(id=f"tiny:{arch}"))
    prompts = [[(7 * i + 3 * j) % (loaded.vocab_size - 1) + 1 for j in range(12)] for i in range(3)]
    records = backend.run_batch(prompts, 20, "b0")
    assert all(r.output_tokens == 20 and len(r.token_times_s) == 20 for r in records)
    ref = backend.model.generate(torch.tensor(prompts), max_new_tokens=20, do_sample=False, eos_token_id=None,
                                 pad_token_id=0, attention_mask=torch.ones(3, 12, dtype=torch.long))
    assert ref[:, 12:].tolist() == backend.last_tokens


def test_eos_is_ignored_every_request_gets_all_tokens():
    backend = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu"))
    backend.load(ModelSpec(id="tiny:llama"))
    # force EOS (id 0) to be the argmax at every step: the loop must still produce every token
    class EosHead(torch.nn.Module):  # logits with their maximum at id 0, whatever the hidden state
        def forward(self, h):
            out = torch.zeros(*h.shape[:-1], backend.model.config.vocab_size, dtype=h.dtype)
            out[..., 0] = 1.0
            return out

    backend.model.lm_head = EosHead()
    recs = backend.run_batch([[5] * 6], 9, "b")
    assert backend.last_tokens == [[0] * 9] and len(recs[0].token_times_s) == 9

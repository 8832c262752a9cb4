"""Deterministic, offline tiny random-weight models of real architectures.

``build_tiny(arch)`` writes a Hugging Face model directory (config, safetensors weights and a
byte-level BPE tokenizer trained with ``tokenizers`` on a seeded synthetic corpus) into a cache
directory and returns its path. The same arch, seed and library versions give byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from bench.catalog.architectures import hf_config_kwargs
from bench.catalog.models import TINY

BUILDER_VERSION = 1
VOCAB_SIZE = 512
EOS = "<|endoftext|>"


def cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "bench"))


def synthetic_corpus(seed: int, lines: int = 2000) -> list[str]:
    """Pseudo-words from a seeded RNG: enough structure for BPE to learn merges."""
    rng = random.Random(seed)
    syllables = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(400)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 16))) + rng.choice(".!?,;") for _ in range(lines)]


def train_tokenizer(seed: int = 0):
    """A byte-level BPE tokenizer with VOCAB_SIZE entries, EOS id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(synthetic_corpus(seed), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def _key(arch: str, seed: int) -> str:
    versions = {p: metadata.version(p) for p in ("torch", "transformers", "tokenizers", "safetensors")}
    spec = {"arch": TINY[arch].model_dump(mode="json"), "seed": seed, "builder": BUILDER_VERSION, **versions}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def build_tiny(arch: str, seed: int = 0, root: Path | None = None) -> Path:
    """Build (or reuse from the cache) the tiny model directory for ``arch``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    entry = TINY[arch]
    out = (root or cache_root()) / "tiny" / f"{arch}-{_key(arch, seed)}"
    if (out / "config.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{arch}-"))
    try:
        tokenizer = train_tokenizer(seed)
        cfg = AutoConfig.for_model(entry.model_type, **hf_config_kwargs(entry, eos_token_id=tokenizer.eos_token_id))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.eos_token_id
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out

"""Model catalog: parameter counts from architecture numbers match the published totals."""
import pytest

from bench.catalog import models as catalog
from bench.catalog.models import TINY

MODELS = list(catalog.models().values())


@pytest.mark.parametrize("m", MODELS, ids=lambda m: m.id)
def test_total_params_match_published_within_2pct(m):
    assert catalog.param_count(m) / 1e9 == pytest.approx(m.published_params_b, rel=0.02)


# Publishers count "active" differently: DeepSeek and gpt-oss leave the input embedding out, Meta and
# Qwen keep it in. Either convention must land within 2 %.
@pytest.mark.parametrize("m", [m for m in MODELS if m.published_active_params_b
                               and m.id not in ("MiniMax-Text-01", "GLM-4.5-Air")], ids=lambda m: m.id)
def test_active_params_match_published_within_2pct(m):
    pub = m.published_active_params_b
    options = [catalog.active_param_count(m) / 1e9, catalog.active_param_count(m, True) / 1e9]
    assert min(abs(x / pub - 1) for x in options) <= 0.02, options


def test_glm45_air_active_leaves_out_both_embeddings():
    # Zhipu's "12B active" counts neither the input embedding nor the LM head (151552 x 4096 = 0.62B each):
    # with the head 12.80B, without it 12.18B.
    m = catalog.get_model("GLM-4.5-Air")
    assert catalog.lm_head_params(m) == 151552 * 4096
    assert (catalog.active_param_count(m) - catalog.lm_head_params(m)) / 1e9 == pytest.approx(12, rel=0.02)
    assert catalog.active_param_count(m) / 1e9 == pytest.approx(12.80, abs=0.01)


def test_known_values_by_hand():
    llama8 = catalog.get_model("Llama-3.1-8B")
    assert catalog.param_count(llama8) == pytest.approx(8.03e9, rel=0.005)
    # KV bytes/token bf16: 2 (K,V) x 32 layers x 8 kv heads x 128 dims x 2 bytes = 131072
    assert catalog.kv_bytes_per_token(llama8, "bf16") == 131072
    dsv3 = catalog.get_model("DeepSeek-V3")
    # MLA: 61 layers x (512 latent + 64 rope) x 2 bytes = 70272
    assert catalog.kv_bytes_per_token(dsv3, "bf16") == 61 * 576 * 2
    assert catalog.param_count(dsv3) / 1e9 == pytest.approx(671, rel=0.01)
    assert catalog.weight_bytes(llama8, "fp8") == catalog.param_count(llama8)


def test_flops_per_token():
    m = catalog.get_model("Llama-3.1-8B")
    n = catalog.active_param_count(m)
    # 2 FLOPs per active parameter, + attention 2 x 32 layers x 32 heads x 2 x 128 per cached token
    assert catalog.decode_flops_per_token(m, 0) == 2 * n
    assert catalog.decode_flops_per_token(m, 1000) == 2 * n + 2 * 32 * 32 * 2 * 128 * 1000
    assert catalog.prefill_flops(m, 10) == 2 * n * 10 + 2 * 32 * 32 * 2 * 128 * 50


def test_mla_attention_flops_absorbed_in_decode_decompressed_in_prefill():
    m = catalog.get_model("DeepSeek-V3")
    n = catalog.active_param_count(m)
    # decode (weight-absorbed, FlashMLA): 2 x 61 layers x 128 heads x (512 + 64 for QK, 512 for AV) per cached token
    assert catalog.decode_flops_per_token(m, 1000) == 2 * n + 2 * 61 * 128 * (576 + 512) * 1000
    # prefill (K and V decompressed per head): QK over 128 + 64, AV over 128; causal, n^2 / 2
    assert catalog.prefill_flops(m, 10) == 2 * n * 10 + 2 * 61 * 128 * (192 + 128) * 50


@pytest.mark.parametrize("arch", sorted(TINY))
def test_formula_matches_a_built_model(arch):
    """The catalog formula counts what transformers builds (norms aside: < 1 %)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from bench.catalog.architectures import hf_config_kwargs

    m = TINY[arch]
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(m.model_type, **hf_config_kwargs(m)))
    built = sum(p.numel() for p in model.parameters())
    assert catalog.param_count(m) == pytest.approx(built, rel=0.01)


def test_unknown_id_lists_known():
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="known: Qwen2.5-0.5B"):
        catalog.get_model("nope")


USER_CHIP = """
chips:
  - id: my-npu
    vendor: Example
    name: Example NPU 1
    year: 2026
    tflops: {bf16: 500, fp16: 500}
    memory_gb: 64
    bandwidth_tbs: 2.0
    interconnect_gbs: 400
    tdp_w: 450
    sources: {tflops: vendor sheet, memory_gb: vendor sheet, bandwidth_tbs: vendor sheet,
              interconnect_gbs: vendor sheet, tdp_w: vendor sheet}
"""


def test_a_user_adds_a_chip_with_a_yaml_file(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "mine.yaml").write_text(USER_CHIP)
    env = {**os.environ, "BENCH_HARDWARE_DIR": str(tmp_path)}

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "run_bench.py"), *args], capture_output=True, text=True,
                              env=env, cwd=ROOT)

    p = cli("list", "hardware", "--format", "json")
    assert p.returncode == 0, p.stderr
    mine = [r for r in json.loads(p.stdout) if r["id"] == "my-npu"]
    assert mine and mine[0]["bandwidth_tbs"] == 2.0 and mine[0]["memory_gb"] == 64
    p = cli("cost", "--hardware", "my-npu", "--output-tok-s", "1000", "--rental-usd-per-hour", "2", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["usd_per_mtok_output"] == pytest.approx(2 / 3.6, rel=1e-4)
    # a number without its source is refused, naming the file
    (tmp_path / "mine.yaml").write_text(USER_CHIP.replace("tdp_w: vendor sheet", "").replace(", \n", "\n"))
    p = cli("list", "hardware")
    assert p.returncode == 2 and "mine.yaml" in p.stderr and "Traceback" not in p.stderr

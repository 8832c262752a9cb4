"""The inter-server network term of the projection kernel: hand-computed numbers.

A replica larger than one server (``Chip.accelerators_per_node``) sends its collectives' inter-server share over
each accelerator's scale-out network (``Chip.scale_out_gbs``): an HGX H20 server is 8 GPUs with 400 Gb/s a GPU
(100 GB/s bidirectional, the convention of the 900 GB/s NVLink figure)."""
import math

import pytest

from bench.analysis import projection as P
from bench.catalog import collectives, hardware
from bench.catalog import models as catalog


def test_nodes_spanned_needs_a_server_size_and_a_network():
    h20, b910 = hardware.get_chip("h20"), hardware.get_chip("910b")
    assert (h20.accelerators_per_node, h20.scale_out_gbs) == (8, 100)
    assert P.nodes_spanned(h20, 8) == 1
    assert P.nodes_spanned(h20, 16) == 2
    assert P.nodes_spanned(h20, 32) == 4
    assert P.nodes_spanned(h20, 12) == 2  # a partly used second server still is one
    assert b910.scale_out_gbs is None and P.nodes_spanned(b910, 32) == 1  # no sourced figure: no network term


def test_expert_parallel_decode_over_four_servers_scales_deepeps_published_latency():
    # DeepSeek-R1: 58 MoE layers, hidden 7168, top-8; 2048 tokens over EP32 on 32 H20 (4 servers of 8, one 400 Gb/s
    # NIC a GPU, as DeepEP's H800 table): 64 tokens a rank = half the table's 128; the table's EP32 dispatch 155 us +
    # combine 273 us = 428 us a layer at 128 tokens -> 214 us, x 58 layers = 12.412 ms
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    assert P._ep_comm_s(m, h20, 2048, 32) == pytest.approx(58 * 428e-6 * 64 / 128, rel=1e-12)
    assert P._ep_comm_s(m, h20, 2048, 32) == pytest.approx(12.412e-3, rel=1e-9)
    # at the table's own conditions (128 tokens a rank, EP64 on 8 servers) a layer costs the published 173 + 314 us
    assert P._ep_comm_s(m, h20, 128 * 64, 64) == pytest.approx(58 * 487e-6, rel=1e-12)
    # half the NIC, twice the time; more tokens, proportionally more
    half_nic = h20.model_copy(update={"scale_out_gbs": 50.0})
    assert P._ep_comm_s(m, half_nic, 2048, 32) == pytest.approx(2 * P._ep_comm_s(m, h20, 2048, 32), rel=1e-12)
    assert P._ep_comm_s(m, h20, 4096, 32) == pytest.approx(2 * P._ep_comm_s(m, h20, 2048, 32), rel=1e-12)


def test_deepep_table_is_read_on_log2_of_the_degree():
    ep = collectives.deepep()
    assert ep.latency_us(32) == (155.0, 273.0) and ep.normal_gbs(32) == (58.0, 57.0)
    f = math.log2(24) - 4  # EP24: 0.585 of the way from EP16 to EP32
    assert ep.latency_us(24) == pytest.approx((118 + f * 37, 195 + f * 78), rel=1e-12)
    assert ep.latency_us(24) == pytest.approx((139.64, 240.63), abs=0.01)
    assert ep.latency_us(4) == (77.0, 114.0) and ep.latency_us(512) == (194.0, 360.0)  # the ends outside the table
    assert (ep.tokens_per_rank, ep.hidden, ep.top_k, ep.scale_out_gbs) == (128, 7168, 8, 100.0)
    assert "deepseek-ai/DeepEP" in ep.source


def test_expert_parallel_prefill_over_servers_sends_one_copy_per_server():
    # prefill runs DeepEP's normal kernels: a token crosses the network once per server holding one of its experts,
    # 4 x (1 - (3/4)^8) = 3.5995 of 4 servers for top-8 under uniform routing; 64 tokens a rank x 3.5995 x 7168 =
    # 1,651,318 elements; the normal kernels' EP32 RDMA bandwidth 58 (dispatch, FP8) and 57 GB/s (combine, BF16):
    # 28.47 + 57.94 us a layer, x 58 = 5.012 ms
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    sent = 64 * 4 * (1 - 0.75 ** 8) * 7168
    want = 58 * (sent / 58e9 + 2 * sent / 57e9)
    assert P._ep_comm_s(m, h20, 2048, 32, prefill=True) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(5.012e-3, rel=1e-3)


def test_one_server_is_priced_on_the_scale_up_link_at_deepeps_intranode_share():
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    sent = (512 / 8) * 8 * 7 / 8 * 7168  # elements a rank sends to the 7 others, each way
    want = 58 * (sent / (900e9 * 153 / 400) + 2 * sent / (900e9 * 158 / 400))
    assert P._ep_comm_s(m, h20, 512, 8) == pytest.approx(want, rel=1e-12)
    # prefill (normal kernels) sends a token once to each other rank holding one of its experts: 7 x (1 - (7/8)^8)
    # = 4.5947 of 7 others; 100 tokens a rank x 4.5947 x 7168 = 3,293,509 elements, 28.10 us a layer, 1.6296 ms
    sent = 100 * 7 * (1 - (7 / 8) ** 8) * 7168
    want = 58 * (sent / (900e9 * 153 / 400) + 2 * sent / (900e9 * 158 / 400))
    assert P._ep_comm_s(m, h20, 800, 8, prefill=True) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(1.6296e-3, rel=1e-3)
    d = catalog.get_model("Llama-3.1-70B")
    size = 64 * d.arch.hidden * 2.0
    assert P._tp_comm_s(d, h20, 64, 8) == pytest.approx(d.arch.layers * 2 * 2 * 7 / 8 * size / 900e9, rel=1e-12)


def test_tensor_parallel_over_two_servers_reduces_hierarchically_by_hand():
    # Llama-3.1-70B (80 layers, hidden 8192), 64 tokens, TP16 on 16 H20 = 2 servers of 8:
    # in-server reduce-scatter + all-gather 2 x 7/8 x bytes over NVLink, then 2 x 1/2 x bytes/8 over the NIC
    d, h20 = catalog.get_model("Llama-3.1-70B"), hardware.get_chip("h20")
    size = 64 * 8192 * 2.0
    per_reduce = 2 * 7 / 8 * size / 900e9 + 2 * 1 / 2 * size / 8 / 100e9
    assert P._tp_comm_s(d, h20, 64, 16) == pytest.approx(80 * 2 * per_reduce, rel=1e-12)
    # slower than the same 16 ranks on one scale-up domain would be
    assert P._tp_comm_s(d, h20, 64, 16) > 80 * 2 * 2 * 15 / 16 * size / 900e9


def test_the_network_slows_a_multi_server_replica_in_the_kernel():
    # the kernel's decode communication of a DP32 EP32 step grows by the NIC's share, never shrinks
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    w = P.Shape(128, 1024, 2048, 32, "fp8", parallelism="DP32 EP32")
    t = P.kernel(m, h20, w)
    assert t.d_comm == pytest.approx(P._ep_comm_s(m, h20, 2048, 32), rel=1e-12)
    assert t.p_comm == pytest.approx(P._ep_comm_s(m, h20, 2048 * 128, 32, prefill=True), rel=1e-12)
    # the same ranks on NVLink alone
    one_server = P._ep_comm_s(m, h20.model_copy(update={"accelerators_per_node": 32}), 2048, 32)
    assert t.d_comm > 5 * one_server

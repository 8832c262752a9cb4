"""The inter-server network term of the projection kernel: hand-computed numbers.

A replica larger than one server (``Chip.accelerators_per_node``) sends its collectives' inter-server share over
each accelerator's scale-out network (``Chip.scale_out_gbs``): an HGX H20 server is 8 GPUs with 400 Gb/s a GPU
(100 GB/s bidirectional, the convention of the 900 GB/s NVLink figure)."""
import pytest

from bench.analysis import projection as P
from bench.catalog import hardware
from bench.catalog import models as catalog


def test_nodes_spanned_needs_a_server_size_and_a_network():
    h20, b910 = hardware.get_chip("h20"), hardware.get_chip("910b")
    assert (h20.accelerators_per_node, h20.scale_out_gbs) == (8, 100)
    assert P.nodes_spanned(h20, 8) == 1
    assert P.nodes_spanned(h20, 16) == 2
    assert P.nodes_spanned(h20, 32) == 4
    assert P.nodes_spanned(h20, 12) == 2  # a partly used second server still is one
    assert b910.scale_out_gbs is None and P.nodes_spanned(b910, 32) == 1  # no sourced figure: no network term


def test_expert_parallel_all_to_all_over_four_servers_by_hand():
    # DeepSeek-R1: 58 MoE layers, hidden 7168, top-8; 2048 tokens over EP32 on 32 H20 (4 servers of 8)
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    payload = 58 * 2 * (2048 / 32) * 8 * 7168 * 2.0  # dispatch + combine, bytes a rank sends (incl. its own share)
    off = 1 - 8 / 32  # 24 of the 32 destinations are on other servers
    on = 31 / 32 - off  # 7 others on this server
    want = payload * max(on / 900e9, off / 100e9)  # the NIC is the slower path: 6.39 ms
    assert want == pytest.approx(payload * 0.75 / 100e9)
    assert P._ep_comm_s(m, h20, 2048, 32) == pytest.approx(want, rel=1e-12)
    assert P._ep_comm_s(m, h20, 2048, 32) == pytest.approx(6.39e-3, rel=1e-3)


def test_one_server_is_priced_on_the_scale_up_link_alone_as_before():
    m, h20 = catalog.get_model("DeepSeek-R1"), hardware.get_chip("h20")
    payload = 58 * 2 * (512 / 8) * 8 * 7168 * 2.0
    assert P._ep_comm_s(m, h20, 512, 8) == pytest.approx(payload * 7 / 8 / 900e9, rel=1e-12)
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
    nvlink_only = 58 * 2 * (2048 / 32) * 8 * 7168 * 2.0 * 31 / 32 / 900e9
    assert t.d_comm > 5 * nvlink_only

"""Published measurements of expert-parallel all-to-all kernels (``bench/catalog/data/collectives.yaml``): DeepEP's
dispatch and combine latencies by EP degree, and its intranode NVLink bandwidth, each with its conditions."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class AllToAll:
    """DeepEP's published kernels, as the projection uses them (``projection._ep_comm_s``)."""

    by_ep: tuple[tuple[int, float, float], ...]  # (EP degree, dispatch us, combine us) of the low-latency kernels
    tokens_per_rank: int  # the low-latency table's conditions
    hidden: int
    top_k: int
    scale_out_gbs: float  # the catalog's figure for the table's NIC (400 Gb/s ConnectX-7: 100 GB/s bidirectional)
    normal_by_ep: tuple[tuple[int, float, float], ...]  # (EP degree, dispatch GB/s, combine GB/s) over RDMA
    intranode_dispatch_share: float  # measured NVLink bandwidth / the catalog's interconnect_gbs of the H800
    intranode_combine_share: float
    source: str

    def latency_us(self, ranks: int) -> tuple[float, float]:
        """(dispatch, combine) latency in us of the low-latency kernels at ``ranks`` EP ranks under the table's
        conditions (``_on_log2``)."""
        return _on_log2(self.by_ep, ranks)

    def normal_gbs(self, ranks: int) -> tuple[float, float]:
        """(dispatch, combine) RDMA bandwidth in GB/s of the normal kernels at ``ranks`` EP ranks over servers."""
        return _on_log2(self.normal_by_ep, ranks)


def _on_log2(pts, ranks: int) -> tuple[float, float]:
    """A published (degree, a, b) table read at ``ranks``: linear in log2 of the degree between the published
    degrees, the end values outside them."""
    if ranks <= pts[0][0]:
        return pts[0][1], pts[0][2]
    for (e0, d0, c0), (e1, d1, c1) in zip(pts, pts[1:]):
        if ranks <= e1:
            f = (math.log2(ranks) - math.log2(e0)) / (math.log2(e1) - math.log2(e0))
            return d0 + f * (d1 - d0), c0 + f * (c1 - c0)
    return pts[-1][1], pts[-1][2]


@functools.cache
def deepep() -> AllToAll:
    d = yaml.safe_load(resources.files("bench.catalog.data").joinpath("collectives.yaml").read_text())["deepep"]
    ll, nv, ni = d["low_latency"], d["normal_intranode"], d["normal_internode"]
    c = ll["conditions"]
    rows = tuple(sorted((int(ep), float(v[0]), float(v[2])) for ep, v in ll["by_ep"].items()))
    normal = tuple(sorted((int(ep), float(v[0]), float(v[1])) for ep, v in ni["by_ep"].items()))
    return AllToAll(rows, int(c["tokens_per_rank"]), int(c["hidden"]), int(c["top_k"]), float(c["scale_out_gbs"]),
                    normal,
                    nv["dispatch_gbs"] / nv["catalog_interconnect_gbs"],
                    nv["combine_gbs"] / nv["catalog_interconnect_gbs"], " ".join(d["source"].split()))

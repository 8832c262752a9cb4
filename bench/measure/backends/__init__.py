"""Backends registry: kind -> "module:Class", imported only when a run needs it (torch stays out of
``import bench``)."""
from __future__ import annotations

import importlib

from bench.errors import ConfigError

REGISTRY = {
    "transformers": "bench.measure.backends.transformers.decode_loop:DecodeLoopBackend",
    "vllm": "bench.measure.backends.vllm.offline_engine:OfflineEngineBackend",
    "openai": "bench.measure.backends.openai.http_endpoint:EndpointBackend",
}


def create(backend_cfg):
    target = REGISTRY.get(backend_cfg.kind)
    if target is None:
        raise ConfigError(f"backend.kind '{backend_cfg.kind}' is unknown; known: {', '.join(REGISTRY)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(backend_cfg)

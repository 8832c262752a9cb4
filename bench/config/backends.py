"""The ``backend:`` union, keyed by ``kind``. Each spec lives in its backend's folder beside the implementation
(``bench/measure/backends/<kind>/spec.py``, a leaf importing only pydantic and config's types and limits), and
``bench/config/schema.py`` re-exports them. Adding a backend: its folder with ``spec.py``, one line here and one
in ``bench/measure/backends/__init__.py``'s REGISTRY.
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from bench.measure.backends.openai.spec import OpenAIBackend
from bench.measure.backends.transformers.spec import DEVICE_RE, TransformersBackend
from bench.measure.backends.vllm.spec import VllmBackend

__all__ = ["DEVICE_RE", "Backend", "OpenAIBackend", "TransformersBackend", "VllmBackend"]

Backend = Annotated[Union[TransformersBackend, VllmBackend, OpenAIBackend], Field(discriminator="kind")]

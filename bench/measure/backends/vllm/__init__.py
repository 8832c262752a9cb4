"""``backend: {kind: vllm}``: vLLM's offline engine.

``spec.py`` holds its config (a leaf the config schema composes); ``offline_engine.py`` the implementation."""

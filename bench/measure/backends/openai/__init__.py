"""``backend: {kind: openai}``: a load generator against an OpenAI-compatible server.

``spec.py`` holds its config (a leaf the config schema composes); ``http_endpoint.py`` the implementation."""

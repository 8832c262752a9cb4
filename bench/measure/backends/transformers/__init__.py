"""``backend: {kind: transformers}``: the eager/static/compiled decode loop over a Hugging Face model.

``spec.py`` holds its config (a leaf the config schema composes); ``decode_loop.py`` and ``static_decode.py`` the
implementation."""

from __future__ import annotations


SCHEMA_VERSION = 1

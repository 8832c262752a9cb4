"""Secrets never reach a result file: an API key's value and any ``Bearer …`` token are cut from every
stored string (a server may echo the key back in its error text)."""
from __future__ import annotations

import re

_SECRETS: set[str] = set()
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI-style keys
    re.compile(r"(?i)((?:api[_-]?key|authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
)
REDACTED = "[REDACTED]"


def register_secret(value: str | None) -> None:
    """Remember a secret (e.g. the value of ``backend.api_key_env``) so that it is cut wherever it appears."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for s in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    for p in _PATTERNS:
        text = p.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def redact_obj(obj):
    """A copy of a JSON-like object with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj

"""Secrets never reach a result file, by structure and by value.

- **By structure**: the value of a known secret key at any depth of a stored object (``api_key``,
  ``authorization``, ``token``, ``password``, ``secret``, ... in ``extra_body``, ``engine_args`` or
  anywhere), and the argument after a known secret flag in an argument list (``--api-key KEY``,
  ``--hf-token=KEY`` in ``serve_args``), are replaced by ``[REDACTED]``.
- **By value**: every secret found that way, and every value registered (the key read from
  ``backend.api_key_env``), is cut wherever else it appears: in the stored config text, an error message a
  server echoed back, a command line.
- **By pattern**: ``Bearer …`` tokens, ``sk-…`` keys, ``api_key=…`` / ``--api-key …`` and the password of a
  ``scheme://user:password@host`` URL in free text.

Every writer of a run directory (``results.rundir``) passes what it writes through ``redact_obj``.
"""
from __future__ import annotations

import re

REDACTED = "[REDACTED]"
_SECRETS: set[str] = set()

# keys whose value is a secret, compared in lower case with '-' read as '_'
SECRET_KEYS = frozenset({
    "api_key", "apikey", "x_api_key", "authorization", "proxy_authorization", "token", "access_token",
    "auth_token", "api_token", "bearer_token", "refresh_token", "id_token", "session_token", "hf_token",
    "huggingface_token", "hugging_face_hub_token", "github_token", "password", "passwd", "secret",
    "client_secret", "secret_key", "aws_secret_access_key", "private_key", "cookie", "set_cookie",
})
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_secret", "_password", "_passwd", "_secret_key", "_access_token",
                    "_auth_token", "_private_key")
# flags whose next argument (or the part after '=') is a secret
SECRET_FLAGS = frozenset({
    "--api-key", "--apikey", "--hf-token", "--token", "--access-token", "--auth-token", "--password", "--secret",
    "--client-secret", "--secret-key", "--authorization", "--hf_token", "--api_key",
})

_FLAG_ALT = "|".join(sorted((re.escape(f) for f in SECRET_FLAGS), key=len, reverse=True))
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI-style keys
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:)(?!\[REDACTED\])[^@\s/\"']+(?=@)"),  # https://user:PASSWORD@host
    re.compile(r"(?i)((?<![\w-])(?:" + _FLAG_ALT + r")(?:=|\s+))(?!-)(?!\[REDACTED\])[^\s\"',;\]}]+"),  # --api-key KEY, --hf-token=KEY
    re.compile(r"(?i)((?<![\w-])(?:[a-z_-]*(?:api[_-]?key|secret|password|passwd)|(?:hf_|access_|auth_|api_|x-)?"
               r"token|authorization)[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"',;\]}]+"),
)


def is_secret_key(key) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``Authorization``, ``hf-token``, ``db_password``...);
    ``api_key_env`` (the *name* of the variable holding the key) is not one."""
    if not isinstance(key, str):
        return False
    k = key.strip().lower().replace("-", "_")
    return k in SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def register_secret(value: str | None) -> None:
    """Remember a secret (e.g. the value of ``backend.api_key_env``) so that it is cut wherever it appears."""
    if isinstance(value, str) and len(value) >= 4 and value != REDACTED:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for s in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    for p in _PATTERNS:
        text = p.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def _collect(obj) -> None:
    """Register every secret that ``obj``'s structure names (see the module docstring), iteratively."""
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                if is_secret_key(k):
                    _register_value(x)
                else:
                    stack.append(x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                if isinstance(x, str):
                    flag, eq, rest = x.partition("=")
                    if flag.lower() in SECRET_FLAGS:
                        if eq:
                            register_secret(rest)
                        elif i + 1 < len(v):
                            _register_value(v[i + 1])
                stack.append(x)


def register_secrets_in(obj) -> None:
    """Register every secret that ``obj``'s structure names (a config as loaded), so that its value is cut
    from any text written later (a server's error message, a log line, the stored config text)."""
    _collect(obj)


def _register_value(x) -> None:
    if isinstance(x, str):
        register_secret(x)
        m = re.match(r"(?i)^\s*(?:bearer|basic|token)\s+(\S+)", x)
        if m:
            register_secret(m.group(1))
    elif isinstance(x, (int, float)) and not isinstance(x, bool) and len(str(x)) >= 6:
        register_secret(str(x))
    elif isinstance(x, (dict, list, tuple)):
        for y in (x.values() if isinstance(x, dict) else x):
            _register_value(y)


def _scrub(obj):
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_key(k) and obj[k] not in (None, "", [], {}) else _scrub(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out, hide = [], False
        for x in obj:
            if hide:
                out.append(REDACTED)
                hide = False
                continue
            if isinstance(x, str) and x.lower() in SECRET_FLAGS:
                hide = True
            out.append(_scrub(x))
        return out
    return obj


def redact_obj(obj):
    """A copy of a JSON-like object with every secret cut: first every secret its structure names is
    registered (so that the same value is cut from free text anywhere, e.g. the stored config text), then
    secret keys and flag arguments are replaced and every string is redacted."""
    _collect(obj)
    return _scrub(obj)


# secret flags of `vllm serve` that have an environment variable of their own
SECRET_FLAG_ENV = {"--api-key": "VLLM_API_KEY", "--hf-token": "HF_TOKEN"}


def secret_args_to_env(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """``args`` without ``--api-key KEY`` / ``--hf-token=KEY`` (each registered as a secret), and the
    environment variables that carry them instead (``SECRET_FLAG_ENV``)."""
    out, env, i = [], {}, 0
    while i < len(args):
        a = args[i]
        flag, eq, rest = a.partition("=") if isinstance(a, str) else (a, "", "")
        if flag in SECRET_FLAG_ENV and (eq or i + 1 < len(args)):
            value = rest if eq else args[i + 1]
            register_secret(value)
            env[SECRET_FLAG_ENV[flag]] = value
            i += 1 if eq else 2
            continue
        out.append(a)
        i += 1
    return out, env

from __future__ import annotations
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from pydantic import (BaseModel, ValidationError)
from bench.errors import ConfigError, plain_message
from bench.config.energy import SPEC_BY_KIND
from bench.config.schema import DATASET_KINDS, SOURCE_KINDS, BenchConfig
from bench.config.yaml_reader import parse_yaml


MAX_CONFIG_BYTES = 1_000_000


# ---------------------------------------------------------------------------- loading and errors
def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for i, p in enumerate(loc):
        if i == 1 and loc[0] == "energy" and p in SOURCE_KINDS:
            continue  # the energy union's branch (its tag, the source), not a config key
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in ("TransformersBackend", "transformers", "vllm", "openai", "int", "float", "str", *DATASET_KINDS) \
                or "[" in p or p.startswith(
                ("function-", "constrained-")):
            continue  # pydantic's names for union branches, not config keys
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = BenchConfig
    for i, p in enumerate(loc[:-1]):
        if i == 1 and loc[0] == "energy" and p in SPEC_BY_KIND:
            model = SPEC_BY_KIND[p]  # the chosen source's spec
            continue
        if isinstance(p, int) or model is None:
            continue
        fields = getattr(model, "model_fields", {})
        if p in fields:
            ann = fields[p].annotation
            model = _first_model(ann)
    return list(getattr(model, "model_fields", {}))


def _first_model(ann) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    meta = getattr(ann, "__origin__", None)
    return _first_model(meta) if meta not in (None, ann) else None


def _describe(err: dict) -> str:
    loc = _loc(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key; allowed here: {', '.join(_allowed_keys(err['loc']))}"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    if err["type"] == "union_tag_invalid":
        key = str(err["ctx"].get("discriminator", "kind")).strip("'")
        return f"{loc}.{key}: {err['ctx'].get('tag')!r} is unknown; known: {err['ctx'].get('expected_tags')}"
    msg = plain_message(err)
    if isinstance(err.get("input"), dict):  # a check over the whole block: its message names the key
        return f"{loc}.{msg}" if re.match(r"^\w+: ", msg) else f"{loc}: {msg}"
    found = json.dumps(err.get("input"), default=str)
    if len(found) > 80:
        found = found[:77] + "..."
    return f"{loc}: {msg}; found {found}"


def parse_config(data: Any, source: str) -> BenchConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys (name, models, backend, workload, "
                          f"...); found {type(data).__name__}")
    try:
        return BenchConfig.model_validate(data)
    except ValidationError as exc:
        problems, seen = [], set()
        for e in exc.errors():  # a value failing every branch of `int | list` is one problem, not two
            if _loc(e["loc"]) not in seen:
                seen.add(_loc(e["loc"]))
                problems.append(f"{source}: {_describe(e)}")
        raise ConfigError(problems[0], problems) from None


def load_config(path: str | Path) -> tuple[BenchConfig, str]:
    """Read and validate a YAML config; returns the config and the raw text (hashed into the manifest)."""
    p = Path(path)
    try:
        if p.exists() and not p.is_dir() and not p.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(f"{p}: not a regular file; give a YAML config file")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory; give a YAML config file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: {len(raw):,} bytes is too large for a config (at most {MAX_CONFIG_BYTES:,}); "
                          "give a YAML config file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the config as UTF-8 "
                          "YAML") from None
    if "\x00" in text:
        raise ConfigError(f"{p}: contains NUL bytes (a binary file?); give a YAML config file") from None
    data = parse_yaml(text, str(p))
    if _too_big(data):
        raise ConfigError(f"{p}: more than {MAX_CONFIG_NODES:,} values once YAML aliases are expanded; give a plain "
                          "config")
    cfg = parse_config(data, str(p))
    from bench.redact import register_secrets_in

    register_secrets_in(data)  # an api_key in extra_body, --api-key in serve_args: cut wherever they appear
    return cfg, text


MAX_CONFIG_NODES = 100_000


def _too_big(data) -> bool:
    """True when the document has more than MAX_CONFIG_NODES values (aliases counted each time they are used:
    a 'billion laughs' document is refused before validation walks it)."""
    stack, n = [data], 0
    while stack:
        n += 1
        if n > MAX_CONFIG_NODES:
            return True
        v = stack.pop()
        if isinstance(v, (dict, list)):
            n += len(v)
            if n > MAX_CONFIG_NODES:
                return True
            stack.extend(v.values() if isinstance(v, dict) else v)
    return False


def config_doc(cfg: BenchConfig) -> dict:
    """The config as a run's manifest stores it (and its hash reads it). The energy block keeps the one flat
    shape runs have always written: before each source's spec stood beside its code, one model held every
    source's fields, so the others' are written at their defaults (``prometheus: null``, ``tdp_w: null``,
    ``utilisation: 1.0``), in their old order; such a block loads back as the chosen source's spec."""
    doc = cfg.model_dump(mode="json")
    flat = {"source": None, "prometheus": None, "sample_hz": None, "idle_baseline_s": None, "tdp_w": None,
            "utilisation": 1.0}
    flat.update(doc["energy"])
    doc["energy"] = flat
    return doc


def config_sha256(cfg: BenchConfig) -> str:
    """What a run measures, hashed: where it runs (``executor``) is left out, so --resume works across
    executors, and fields added later are left out at their defaults, so older runs keep their hash."""
    doc = config_doc(cfg)
    doc.pop("executor")
    for block, key, default in (("workload", "clients", 1), ("workload", "client_placement", "local"),
                                ("energy", "prometheus", None)):
        if doc[block].get(key) == default:
            doc[block].pop(key, None)
    blob = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()

from __future__ import annotations
import hashlib
import json
from pathlib import Path
from typing import Any
import yaml
from pydantic import (BaseModel, ValidationError)
from bench.errors import ConfigError
from bench.config.schema import BenchConfig


# ---------------------------------------------------------------------------- loading and errors
def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in ("TransformersBackend", "transformers", "vllm", "openai", "int", "float", "str") or "[" in p or p.startswith(
                ("function-", "constrained-")):
            continue  # pydantic's names for union branches, not config keys
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = BenchConfig
    for p in loc[:-1]:
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
        return f"{loc}.kind: {err['ctx'].get('tag')!r} is unknown; known: {err['ctx'].get('expected_tags')}"
    msg = err["msg"].removeprefix("Value error, ")
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
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}{where}: YAML syntax error: {problem}; fix the YAML at that line") from None
    return parse_config(data, str(p)), text


def config_sha256(cfg: BenchConfig) -> str:
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()

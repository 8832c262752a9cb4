"""The ``energy:`` union, keyed by ``source``. Each source's spec lives beside its code (a leaf module named in
``bench/measure/energy_registry.py``, one line per source) and this module composes them; it knows no source's
fields. The YAML is the flat block it always was (``energy: {source: estimate-tdp, tdp_w: 400}``); a block
without ``source`` is ``auto``.

Older versions kept every source's fields on one model and wrote them all into a run's manifest
(``prometheus: null, tdp_w: null, utilisation: 1.0``): a field of another source at that source's default is
dropped, so such a block still loads; at any other value it is refused, naming the source it belongs to.
"""
from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter

from bench.measure import energy_registry as registry

SOURCE_KINDS = tuple(registry.SOURCES)
SPECS = registry.specs()
SPEC_BY_KIND = {kind: registry.spec(kind) for kind in SOURCE_KINDS}
_BASE = set(SPEC_BY_KIND["auto"].model_fields) - {"source"}


def _owners(key: str) -> list[str]:
    """The source kinds whose spec has the field ``key`` (beyond what every source shares)."""
    return [k for k in SOURCE_KINDS if key not in _BASE and key != "source" and key in SPEC_BY_KIND[k].model_fields]


def _flat(v: Any) -> Any:
    """``source`` defaults to ``auto``; fields of another source are dropped at their defaults, else refused."""
    if isinstance(v, BaseModel):
        return v  # a spec already validated
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of the source's fields, e.g. {source: auto}")
    v = dict(v)
    kind = v.setdefault("source", "auto")
    if not isinstance(kind, str) or kind not in registry.SOURCES:
        return v  # the union names the known kinds
    own = SPEC_BY_KIND[kind].model_fields
    for key in [k for k in v if k not in own]:
        owners = _owners(key)
        if not owners:
            continue  # an unknown key: the spec refuses it, listing its own
        default = SPEC_BY_KIND[owners[0]].model_fields[key].default
        if (v[key] is None and default is None) or (not isinstance(v[key], bool) and v[key] == default):
            del v[key]
            continue
        raise ValueError(f"{key}: is for energy.source {' or '.join(owners)}, not '{kind}'; remove it or set "
                         f"source: {owners[0]}")
    return v


Energy = Annotated[Union[SPECS], Field(discriminator="source"), BeforeValidator(_flat)]  # type: ignore[valid-type]
_ADAPTER: TypeAdapter = TypeAdapter(Energy)


def energy_spec(**fields: Any):
    """The validated spec of an ``energy:`` block given as keywords (``energy_spec(source="rapl")``)."""
    return _ADAPTER.validate_python(fields)


def default_energy():
    """``energy:`` left out: ``auto``."""
    return energy_spec()

"""What a command names on its command line, resolved against the catalog: chip ids (``--hardware``,
``--compare``), ``CHIP=VALUE`` lists (``--profile``, ``--sw-efficiency``), a parallelism string and whether
the lengths fit a model's context. The CLI calls these after building its request and prints what they
return; a bad name is one line naming the flag, what was found and what is known (an ``InputError``, exit 2).
"""
from __future__ import annotations

import re

from bench.analysis.requests import fraction_error
from bench.config import limits
from bench.errors import InputError


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise InputError(problem)


def chip_pairs(name: str, spec: str | None, what: str, example: str) -> list[tuple[str, str, str]]:
    """``CHIP=VALUE,CHIP=VALUE`` as (lower-case chip, value, the part as typed) in order; a part without
    '=' is refused, naming the flag (``what`` names the value: FACTOR, NAME), and so is a chip named twice (which
    value would count?)."""
    out = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"{name} '{part}': expected CHIP={what}, e.g. {example}")
        k, v = part.split("=", 1)
        if any(k.strip().lower() == seen for seen, _, _ in out):
            raise InputError(f"{name} '{spec}': names {k.strip()} twice; give each chip one {what}")
        out.append((k.strip().lower(), v.strip(), part))
    return out


def sw_efficiency(spec: str | None, chips_asked=()) -> dict[str, float]:
    """``--sw-efficiency 910b=0.725,h20=0.9`` as {chip id: factor in (0, 1]}; each chip must be one of
    ``chips_asked`` (else it would be silently ignored)."""
    known = {c.id for c in chips_asked}
    out = {}
    for k, v, part in chip_pairs("--sw-efficiency", spec, "FACTOR", "910b=0.725"):
        try:
            out[k] = float(v)
        except ValueError:
            raise InputError(f"--sw-efficiency '{part}': factor must be a number") from None
        _raise(fraction_error(f"--sw-efficiency {k}", out[k]))
        if known and k not in known:
            raise InputError(f"--sw-efficiency '{part}': '{part.split('=', 1)[0].strip()}' is not one of the chips "
                             f"asked for ({', '.join(sorted(known))}); use one of them")
    if spec is not None and not out:
        raise InputError(f"--sw-efficiency '{spec}': no CHIP=FACTOR given, e.g. 910b=0.725")
    return out


def chips(ids: str, name: str = "--hardware", exactly: int | None = None) -> list:
    """``--hardware h100-sxm,h20``: the catalog chips, in order; an unknown id is an error listing the known,
    an empty list or an id named twice is refused; ``exactly``: that many chips or an error (``--compare``)."""
    from bench.catalog import hardware

    out = id_list(name, ids, hardware.get_chip)
    if exactly is not None and len(out) != exactly:
        raise InputError(f"{name} '{ids}': give exactly {'two' if exactly == 2 else exactly} chip ids, e.g. h20,910b")
    return out


def parallelism(text: str | None, accelerators: int, model=None) -> str | None:
    """``--parallelism 'TP4 PP2'``: read as a published row's parallelism is (TP, PP, EP, DP degrees); every
    stated degree is a whole number from 1 up, and the pipeline stages must split the replica evenly; expert
    parallelism needs a MoE ``model``. Returns the text the projection reads (``projection.read_parallelism``)."""
    from bench.analysis.projection import expert_parallel, read_parallelism

    if text is None:
        return read_parallelism(text, accelerators)
    if len(text) > 200 or not text.isprintable():
        raise InputError("--parallelism: at most 200 printable characters, e.g. 'TP4 PP2' or 'attention DP8 + EP8'")
    for deg in re.findall(r"\b(?:TP|PP|EP|DP) ?(\d+)", text):
        if not 1 <= int(deg) <= limits.MAX_ACCELERATORS:
            raise InputError(f"--parallelism '{text}': degree {deg} is out of range (1 to {limits.MAX_ACCELERATORS:g})")
    from bench.analysis.projection import stated_pipeline_stages

    stages = stated_pipeline_stages(text)
    stages = 1 if stages is None else stages
    if stages < 1 or stages > limits.MAX_ACCELERATORS:
        raise InputError(f"--parallelism '{text}': {stages} pipeline stages is out of range (1 to "
                         f"{limits.MAX_ACCELERATORS:g})")
    if accelerators % stages:
        raise InputError(f"--parallelism '{text}': {stages} pipeline stages do not split {accelerators} accelerators "
                         "evenly; give --accelerators a multiple of the PP degree")
    canon = read_parallelism(text, accelerators)
    if model is not None and model.moe is None and expert_parallel(canon):
        raise InputError(f"--parallelism '{canon}': expert parallelism needs a MoE model; '{model.id}' is dense "
                         "(use TP/PP)")
    return canon


def fits_context(model, n_in: int, n_out: int) -> None:
    """--input-tokens + --output-tokens must fit the catalog model's context."""
    if n_in + n_out > model.context_length:
        raise InputError(f"--input-tokens + --output-tokens = {n_in + n_out} exceeds the context of '{model.id}' "
                         f"({model.context_length} tokens); use shorter lengths")


def id_list(name: str, text: str, resolve) -> list:
    """A comma-separated list of ids, each resolved by ``resolve`` (which raises for an unknown id);
    an empty list is refused."""
    ids = [i.strip() for i in text.split(",") if i.strip()]
    if not ids:
        raise InputError(f"{name} '{text}': no id given; pass one or more comma-separated ids")
    out = [resolve(i) for i in ids]
    keys = [getattr(x, "id", x) for x in out]
    if len(set(keys)) != len(keys):
        raise InputError(f"{name} '{text}': names one id twice; name each once")
    return out


def profile_names(spec: str | None, chips_asked: list) -> dict[str, str]:
    """``--profile CHIP=NAME,...`` as {chip id: name}: each CHIP resolved as ``--hardware`` resolves it and one of the
    chips asked for, each NAME non-empty, and a given flag names at least one pair -- never read and then ignored."""
    from bench.catalog import hardware

    if spec is None:
        return {}
    asked = {c.id for c in chips_asked}
    out = {}
    for k, v, part in chip_pairs("--profile", spec, "NAME", "h20=sglang or 910b=all"):
        if not k or not v:
            raise InputError(f"--profile '{part}': give CHIP=NAME with both parts, e.g. h20=sglang or 910b=all")
        chip = hardware.get_chip(k)
        if chip.id not in asked:
            raise InputError(f"--profile '{part}': '{k}' is not one of the chips asked for ({', '.join(sorted(asked))}); "
                             "name one of them")
        out[chip.id] = v
    if not out:
        raise InputError(f"--profile '{spec}': no CHIP=NAME given, e.g. h20=sglang")
    return out

"""Hostile inputs to `cost` and `capacity` (issue 26 follow-up): what was tried, and what each must do. Every case
exits 0 with a table that fits 80 columns and shows no nan/inf/markup, or exits 2 with one line naming the flag;
never a traceback, never exit 0 with blanks. The rows marked 'was:' were defects this round fixed."""
import json

import pytest

from conftest import cli

COST = ["cost", "--hardware", "h20", "--output-tok-s", "500"]
CAP = ["capacity", "--model", "Qwen3-32B", "--input-tokens", "1024", "--output-tokens", "256"]
OWN_TCO = ["--life-years", "5", "--pue", "1.2", "--electricity-usd-per-kwh", "0.1"]

REFUSED = [
    # numbers: NaN, inf, huge, tiny, negative, zero, empty, text, markup -- each names its flag
    *[(COST + [f, v], f) for f in ("--input-tok-s", "--rental-usd-per-hour", "--fx", "--blend-ratio", "--pue",
                                    "--utilisation", "--other-opex-fraction", "--server-overhead", "--power-w",
                                    "--life-years", "--electricity-usd-per-kwh")
      for v in ("nan", "inf", "-inf", "1e308", "1e-320", "-1", "", "<b>1</b>")],
    *[(["cost", "--hardware", "h20", "--output-tok-s", v], "--output-tok-s") for v in ("nan", "inf", "0", "-1", "1e308")],
    *[(COST + ["--capex-usd", v, *OWN_TCO], "--capex-usd") for v in ("nan", "inf", "0", "-5", "1e308")],
    *[(COST + ["--pricing", v], "--pricing") for v in ("", "<b>x</b>", "nope", "electricity:ningxia", "a" * 3000)],
    # chip lists: empty, unknown, markup, duplicates (case too)
    *[(["cost", "--hardware", v, "--output-tok-s", "500"], w) for v, w in (
        ("", "--hardware"), (",", "--hardware"), ("h20,h20", "names one id twice"), ("h20,H20", "names one id twice"),
        ("h20,nope", "hardware 'nope' is unknown"), ("<b>h20</b>", "hardware '<b>h20</b>' is unknown"),
        ("h20;910b", "is unknown"), ("a" * 5000, "is unknown"))],
    (COST + ["--model", "<b>x</b>"], "model '<b>x</b>' is not in the catalog"),
    # an ownership preset of another chip (was: the 910B priced at the H20's capex, exit 0)
    (["cost", "--hardware", "h20,910b", "--output-tok-s", "500", "--pricing", "h20-china-tco"], "--pricing"),
    # ownership figures that would change nothing (was: silently dropped)
    (["cost", "--hardware", "h200", "--output-tok-s", "500", "--pue", "1.2"], "--pue"),
    # capacity numbers
    *[(CAP + ["--hardware", "h20", f, v], f) for f in ("--power-mw", "--accelerators", "--tokens-per-day")
      for v in ("nan", "inf", "0", "-1", "1e308", "")],
    *[(CAP + ["--hardware", "h20", "--power-mw", "10", f, v], f)
      for f in ("--pue", "--utilisation", "--rental-usd-per-hour", "--tok-s-per-accelerator", "--replica-accelerators")
      for v in ("nan", "inf", "0", "-1", "")],
    *[(CAP + ["--compare", v, "--power-mw", "10"], "--compare") for v in ("", ",", "h20,h20", "h20", "h20,910b,910c")],
    (CAP + ["--compare", "h20,nope", "--power-mw", "10"], "hardware 'nope' is unknown"),
    (CAP + ["--hardware", "<b>h20</b>", "--power-mw", "10"], "hardware '<b>h20</b>' is unknown"),
    # a chip without any power figure: its fleet cannot be sized (was: no fix in the message)
    (CAP + ["--hardware", "h20,910c", "--power-mw", "10"], "leave it out of --hardware/--compare"),
    *[(CAP + ["--compare", "h20,910b", "--power-mw", "10", "--sw-efficiency", v], "--sw-efficiency")
      for v in ("910b=nan", "910b=inf", "910b=-1", "910b=<b>", "nope=0.5", "", "910b")],
    # a chip given two factors (was: the last one counted, silently)
    (CAP + ["--compare", "h20,910b", "--power-mw", "10", "--sw-efficiency", "910b=0.7,910b=0.8"], "names 910b twice"),
    (CAP + ["--compare", "h20,910b", "--power-mw", "10", "--profile", "h20=all,H20=defaults"], "names H20 twice"),
]


@pytest.mark.parametrize("args,named", REFUSED, ids=lambda a: " ".join(a)[-60:] if isinstance(a, list) else None)
def test_refused_in_one_line(args, named):
    p = cli(*args)
    assert p.returncode == 2, (args, p.stdout[-300:])
    assert "Traceback" not in p.stderr and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], p.stderr


ACCEPTED = [
    ["cost", "--hardware", "h20,910b,910c,h200,mi300x,h100-sxm,h800,a100,b200,l20,rtx4090,cpu", "--output-tok-s", "500"],
    ["cost", "--hardware", "h20, 910b", "--output-tok-s", "500"],  # spaces around ids are not part of them
    ["cost", "--hardware", "H20", "--output-tok-s", "500"],  # ids are case-insensitive
    ["cost", "--hardware", "h20,910b", "--output-tok-s", "1e-9"],
    ["cost", "--hardware", "h20,910b", "--output-tok-s", "1e18"],
    ["cost", "--hardware", "h20,910b", "--output-tok-s", "500", "--rental-usd-per-hour", "1e6"],
    ["cost", "--hardware", "h20,910b", "--output-tok-s", "500", "--input-tok-s", "1e18", "--blend-ratio", "1e6"],
    [*CAP, "--hardware", "h20,910b,h200,mi300x,h100-sxm,h800,a100,b200", "--power-mw", "10"],
    [*CAP, "--hardware", "h20", "--accelerators", "1", "--tok-s-per-accelerator", "1e-9"],
]


@pytest.mark.parametrize("args", ACCEPTED, ids=lambda a: " ".join(a)[-60:])
def test_accepted_with_a_table_that_fits(monkeypatch, args):
    monkeypatch.setenv("COLUMNS", "80")
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() and max(len(line) for line in p.stdout.splitlines()) <= 80
    assert not any(w in p.stdout.lower().split() for w in ("nan", "inf", "-inf"))


def test_a_price_that_rounds_to_zero_is_not_shown_as_free(monkeypatch):
    # was: $/h 0.000 and $/M 0.0000 for a rental of $1e-9/h
    monkeypatch.setenv("COLUMNS", "120")
    p = cli("cost", "--hardware", "h20", "--output-tok-s", "500", "--rental-usd-per-hour", "1e-9")
    assert p.returncode == 0 and "<0.001" in p.stdout and "<0.0001" in p.stdout and " 0.0000 " not in p.stdout
    doc = json.loads(cli("cost", "--hardware", "h20", "--output-tok-s", "500", "--rental-usd-per-hour", "1e-9",
                         "--format", "json").stdout)
    assert doc["usd_per_mtok_output"] == pytest.approx(1e-9 / 1.8)  # the JSON keeps the number itself


def test_present_fixed_by_hand():
    from bench.present import fixed

    assert fixed(0.0, 2) == "0.00" and fixed(0.004, 2) == "<0.01" and fixed(0.005, 2) == "0.01"
    assert fixed(-0.004, 2) == ">-0.01" and fixed(0.4, 0) == "<1" and fixed(1234.5, 1) == "1,234.5"

"""The shape of the package: every module imports, no import cycles, a CLI that only parses, calls and prints.

Import graph: built with ``ast``, two ways. The import-time graph holds the statements that run when a
module is imported (the module body, ``if``/``try``/``with`` blocks and class bodies; not ``if
TYPE_CHECKING:``). The full graph adds the imports inside functions, which is how the package defers heavy
or optional imports (torch, vllm, pandas, matplotlib). Both must be free of cycles: a deferred import cannot
break an import, but it still ties two modules together (the CLI circle of issue 10 was made of deferred
imports). A parent package is not counted as imported by its submodules (it is in ``sys.modules`` already).
"""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PKG = ROOT / "bench"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(stmt: ast.stmt, importer: str, is_package: bool) -> list[str]:
    """The bench modules one import statement loads."""
    if isinstance(stmt, ast.Import):
        names = [a.name for a in stmt.names]
    else:
        mod = _resolve(stmt, importer, is_package)
        names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in stmt.names]
    return [n for n in names if n in MODULES]


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_time_statements(body: list[ast.stmt]):
    """Statements executed at import time: descend into if/try/with/class, never into functions."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(stmt, ast.If):
            if not _is_type_checking(stmt):
                yield from _import_time_statements(stmt.body)
            yield from _import_time_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody):
                yield from _import_time_statements(block)
        elif isinstance(stmt, (ast.With, ast.ClassDef)):
            yield from _import_time_statements(stmt.body)
        else:
            yield stmt


def import_graph(top_level_only: bool = True) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        stmts = _import_time_statements(tree.body) if top_level_only else ast.walk(tree)
        edges = set()
        for s in stmts:
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in _targets(s, name, is_pkg) if t != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# ---------------------------------------------------------------------------- the checker itself
def test_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_graph_sees_the_edges_it_should():
    g = import_graph()
    assert "bench.catalog.models" in g["bench.analysis.projection"]  # `from bench.catalog import models as catalog`
    assert "bench.errors" in g["bench.catalog.models"]
    # an import inside a function is not an import-time edge, but it is in the full graph
    assert "bench.analysis.report" not in g["bench.cli.run"]
    assert "bench.analysis.report" in import_graph(top_level_only=False)["bench.cli.run"]


# ---------------------------------------------------------------------------- the package
@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("top_level_only", [True, False], ids=["import-time", "with-deferred-imports"])
def test_no_import_cycles_between_bench_modules(top_level_only):
    found = cycles(import_graph(top_level_only))
    assert found == [], f"import cycles: {found}"


def test_light_modules_do_not_import_torch_vllm_or_transformers():
    light = [m for m in MODULES if not m.startswith(("bench.measure", "bench.vllm_entry"))] + [
        "bench.measure.runner", "bench.measure.sysinfo"]
    code = ("import importlib, sys\n"
            f"for m in {light!r}: importlib.import_module(m)\n"
            "print(sorted(h for h in ('torch', 'vllm', 'transformers') if h in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- the layers
def layer(module: str) -> str:
    """'bench.measure.runner' -> 'measure'; a top-level module is its own layer ('bench.present' -> 'present')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


# What each layer may import besides itself: the floors from the top (cli) to the ground (errors). measure
# produces raw measurements and the case's summary, results stores and reads them, analysis derives from
# what results read; catalog and config stand at the bottom and see only each other's faces (ALLOWED_FACES).
FOUNDATION = {"errors", "redact", "present"}
LAYERS = {
    "cli": {"analysis", "catalog", "config", "measure", "results", "summary", "workloads", *FOUNDATION},
    "measure": {"catalog", "config", "results", "summary", "workloads", *FOUNDATION},
    "analysis": {"catalog", "config", "results", "summary", "workloads", *FOUNDATION},  # config: only its face
    # config.limits; workloads: only workloads.lengths (a projected whole run's prompt and output lengths)
    "results": {"summary", *FOUNDATION},  # summary: the request records and metrics it stores (summary.metrics)
    "workloads": {"config", "summary", *FOUNDATION},  # only its faces config.limits and config.types (a spec's base)
    "summary": {*FOUNDATION},  # the pure maths of a case: metrics, stats, windows, SLOs, rates, power, validity
    "config": {"catalog", "workloads", "measure", *FOUNDATION},  # workloads: its registry; measure: the backend specs
    "catalog": {"config", *FOUNDATION},
    "errors": set(), "redact": set(), "present": set(), "vllm_entry": set(), "bench": set(),
}
# catalog and config: each may use only these modules of the other (the model resolver; the documented
# limits and the strict YAML reader, leaves that import nothing but bench.errors).
BACKEND_SPECS = {f"bench.measure.backends.{kind}.spec" for kind in ("transformers", "vllm", "openai")}
# The energy sources: each spec a leaf beside its source's code, named in the registry (one line per source).
ENERGY_REGISTRY = "bench.measure.energy_registry"
ENERGY_SPECS = {target.split(":")[0] for target in importlib.import_module(ENERGY_REGISTRY).SOURCES.values()}
ALLOWED_FACES = {"config": {"catalog": {"bench.catalog.models"}, "workloads": {"bench.workloads.registry"},
                            "measure": BACKEND_SPECS | ENERGY_SPECS | {ENERGY_REGISTRY}},
                 "catalog": {"config": {"bench.config.limits", "bench.config.yaml_reader"}},
                 "workloads": {"config": {"bench.config.limits", "bench.config.types"}},
                 "analysis": {"config": {"bench.config.limits"}, "workloads": {"bench.workloads.lengths"}}}
# The arrows from measure into analysis: none. Measure writes what it measured and the case's own summary;
# efficiency, roofline and cost are derived when results are read (bench.analysis.derived). Any new arrow
# fails here and in the layer test.
MEASURE_TO_ANALYSIS: list[str] = []


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that crosses to a layer its own may not import ('a -> b'), the listed exceptions aside."""
    out = []
    for name, targets in sorted(graph.items()):
        src = layer(name)
        for t in sorted(targets):
            dst = layer(t)
            if dst == src:
                continue
            edge = f"{name} -> {t}"
            if dst not in LAYERS.get(src, set()) and edge not in MEASURE_TO_ANALYSIS:
                out.append(edge)
            elif dst in ALLOWED_FACES.get(src, {}) and t not in ALLOWED_FACES[src][dst]:
                out.append(edge)
    return out


def test_the_layer_checker_finds_a_violation():
    assert layer_violations({"bench.catalog.models": {"bench.measure.runner", "bench.errors"},
                             "bench.analysis.cost": {"bench.measure.trials", "bench.catalog.pricing"},
                             "bench.config.schema": {"bench.catalog.models", "bench.catalog.base"},
                             "bench.results.rundir": {"bench.cli"}}) == [
        "bench.analysis.cost -> bench.measure.trials", "bench.catalog.models -> bench.measure.runner",
        "bench.config.schema -> bench.catalog.base", "bench.results.rundir -> bench.cli"]
    assert layer_violations({"bench.cli.run": {"bench.measure.runner", "bench.analysis.report"}}) == []


def test_every_layer_imports_only_the_layers_below_it():
    """cli on top (nothing imports it); analysis never imports measure; catalog and config at the bottom, seeing
    only each other's faces and nothing of measure, analysis, results or the CLI."""
    assert set(layer(m) for m in MODULES) <= set(LAYERS), "a new layer: give it its row in LAYERS"
    assert layer_violations(import_graph(top_level_only=False)) == []


def test_measure_to_analysis_arrows_only_shrink():
    g = import_graph(top_level_only=False)
    found = sorted(f"{a} -> {b}" for a, ts in g.items() for b in ts if layer(a) == "measure" and layer(b) == "analysis")
    assert found == MEASURE_TO_ANALYSIS


def test_backend_specs_are_leaves():
    """Each backend's spec sits in its folder beside the implementation; config composes it, so the spec imports only
    config's number types and limits (never the implementation, torch or anything of measure)."""
    g = import_graph(top_level_only=False)
    for name in BACKEND_SPECS:
        assert g[name] <= {"bench.config.types", "bench.config.limits"}, f"{name} imports {g[name]}"


def test_energy_specs_are_leaves_named_by_the_registry():
    """Each energy source's spec sits beside its code and is named in ``measure/energy_registry.py``; config composes
    them, so at import time a spec imports only config's model base (and the shared ``EnergySpec``); its source's
    code is imported inside ``open``, when a run opens it, and only from measure."""
    assert {"bench.measure.energy_spec", "bench.measure.vendors.nvidia_spec",
            "bench.measure.trackers.prometheus_spec"} <= ENERGY_SPECS <= set(MODULES)
    at_import, full = import_graph(), import_graph(top_level_only=False)
    for name in ENERGY_SPECS:
        assert at_import[name] <= {"bench.config.types", "bench.measure.energy_spec"}, f"{name} imports {at_import[name]}"
        assert all(layer(t) == "measure" for t in full[name] - at_import[name]), f"{name} opens {full[name]}"
    assert import_graph()[ENERGY_REGISTRY] == set()
    assert at_import["bench.config.energy"] == {ENERGY_REGISTRY}, "config composes the specs from the registry only"
    for module in ("bench.config.energy", "bench.config.schema"):  # the code, its docstrings and comments aside
        tree = ast.parse(MODULES[module].read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body.pop(0)
        code = ast.unparse(tree)
        for field in ("tdp_w", "sample_hz", "idle_baseline_s", "min_samples", "selector", "estimate-tdp", "nvml"):
            assert field not in code, f"{module} knows the energy field {field!r}: it belongs in its source's spec"


def test_the_config_loads_without_any_energy_source_code():
    code = ("import sys, bench.config.load\n"
            "print(sorted(m for m in sys.modules if m.startswith(('bench.measure.vendors.', 'bench.measure.trackers.',"
            " 'bench.measure.energy')) and not m.endswith(('_spec', 'energy_registry', 'vendors', 'trackers'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_vendor_parsers_are_pure():
    """Parsers of tool output stand apart from the code that runs the tools: no subprocess, ctypes or I/O."""
    parsers = [m for m in MODULES if m.startswith("bench.measure.vendors.parsers.")]
    assert parsers
    g = import_graph(top_level_only=False)
    for name in parsers:
        text = MODULES[name].read_text()
        assert not re.search(r"^\s*(import|from) (subprocess|ctypes|shutil|os)\b", text, re.M), name
        assert g[name] == set(), f"{name} imports {g[name]}"


# ---------------------------------------------------------------------------- the CLI only parses, calls, prints
CLI = {m: p for m, p in MODULES.items() if m == "bench.cli" or m.startswith("bench.cli.")}
CLI_MAY_IMPORT = ("bench.analysis", "bench.catalog", "bench.config", "bench.measure", "bench.results",
                  "bench.workloads", "bench.present", "bench.errors", "bench.cli.args")
CLI_FUNCTION = re.compile(r"^(cmd_|add_|_?print_)")


@pytest.mark.parametrize("name", sorted(CLI))
def test_cli_imports_only_the_pure_layers(name):
    g = import_graph(top_level_only=False)
    bad = [t for t in g[name] if not t.startswith(CLI_MAY_IMPORT)
           and not (name == "bench.cli" and t.startswith("bench.cli."))]  # the parser registers the commands
    assert bad == [], f"{name} imports {bad}: a CLI module calls the package, never another CLI module's helpers"


@pytest.mark.parametrize("name", sorted(set(CLI) - {"bench.cli.args"}))
def test_cli_defines_only_commands_and_printing(name):
    """Domain maths has no place to live in the CLI: top-level functions are add_* (flags), cmd_* (commands)
    and print helpers only; ``bench.cli`` also has build_parser/main and its argparse subclass."""
    tree = ast.parse(CLI[name].read_text())
    allowed = {"build_parser", "main"} if name == "bench.cli" else set()
    funcs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [f for f in funcs if not CLI_FUNCTION.match(f) and f not in allowed] == []
    assert classes == (["_Parser"] if name == "bench.cli" else [])


def test_the_analysis_commands_check_no_flag_bound_themselves():
    """cost, project and capacity build a typed request (bench/analysis/requests.py) that holds each flag's rule and
    takes its bound from config/limits.py; the command module states no bound and calls no bound check."""
    text = CLI["bench.cli.analysis"].read_text()
    assert not re.search(r"checks\.(positives?|whole|fraction|pue|request_rate)\(", text)
    assert "MAXIMA" not in text


CATALOG_LOOKUPS = ("chips", "profile_names", "parallelism", "fits_context", "sw_efficiency", "id_list", "chip_pairs")


def test_the_cli_resolves_no_flag_against_the_catalog_itself():
    """What a flag names in the catalog (chip ids, --profile and --sw-efficiency pairs, a parallelism, a model's
    context) is resolved by bench/analysis/asked.py; the CLI calls it there. cli/args.py checks values only: it
    imports neither the catalog nor the projection, defines none of the lookups, and no CLI module calls one
    through anything but ``asked``."""
    g = import_graph(top_level_only=False)
    assert g["bench.cli.args"] <= {"bench.analysis.requests", "bench.config.limits", "bench.errors"}, g["bench.cli.args"]
    for name, path in CLI.items():
        tree = ast.parse(path.read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert not defined & set(CATALOG_LOOKUPS), f"{name} defines {defined & set(CATALOG_LOOKUPS)}"
        calls = [f"{n.func.value.id}.{n.func.attr}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                 and n.func.attr in CATALOG_LOOKUPS and n.func.value.id != "asked"]
        assert calls == [], f"{name} resolves flags itself: {calls}; call bench.analysis.asked"


# compare, report, check, validate, list and run build a typed request (bench/analysis/requests_results.py) holding each
# flag's rule; the command is left with parsing, calling and printing
CLEANED_COMMANDS = [("bench.cli.reports", "cmd_compare"), ("bench.cli.reports", "cmd_report"),
                    ("bench.cli.reports", "cmd_check"), ("bench.cli.validate", "cmd_validate"),
                    ("bench.cli.run", "cmd_list"), ("bench.cli.run", "cmd_run")]
BOUND_CHECK = re.compile(r"\b\w+\.(positives?|whole|fraction|pue|request_rate|output_path|get_chip|parse_tolerance|"
                         r"known_metrics|known_engines)\(")


def _function(module: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(CLI[module].read_text())
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _raises_outside_a_failed_write(fn: ast.FunctionDef) -> list[int]:
    """Lines of ``raise`` statements that are not inside ``except OSError`` (a write that failed is reported by the
    command that writes; every other refusal is a rule of the request)."""
    inside = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name) and node.type.id == "OSError":
            inside |= {id(n) for n in ast.walk(node)}
    return [n.lineno for n in ast.walk(fn) if isinstance(n, ast.Raise) and id(n) not in inside]


@pytest.mark.parametrize("module,command", CLEANED_COMMANDS)
def test_the_result_commands_check_no_flag_themselves(module, command):
    fn = _function(module, command)
    text = ast.unparse(fn)
    assert re.search(r"\w+Request\.from_flags\((vars\(args\)\)|\{\*\*vars\(args\), )", text), \
        f"{command} builds no typed request"
    assert not BOUND_CHECK.search(text), f"{command} checks a flag itself: {BOUND_CHECK.search(text).group(0)}"
    assert _raises_outside_a_failed_write(fn) == [], f"{command} refuses input itself"
    bounds = [n.value for n in ast.walk(fn) if isinstance(n, ast.Constant) and type(n.value) in (int, float)
              and abs(n.value) > 1]
    assert bounds == [], f"{command} states a number: {bounds}"


def test_the_cleaned_modules_read_no_limits_and_no_cli_helpers():
    for module in {m for m, _ in CLEANED_COMMANDS}:
        g = import_graph(top_level_only=False)[module]
        assert "bench.config.limits" not in g and "bench.cli.args" not in g, module


def test_the_raise_finder_sees_a_refusal():
    fn = ast.parse("def cmd_x(args):\n    if args.n > 3:\n        raise InputError('no')\n    try:\n        w()\n"
                   "    except OSError:\n        raise InputError('cannot write')\n").body[0]
    assert _raises_outside_a_failed_write(fn) == [3]


def test_nothing_outside_the_cli_imports_the_cli_or_argparse():
    """Pure modules take plain values, not argparse Namespaces (``gpu-check`` is a command like the others)."""
    g = import_graph(top_level_only=False)
    for name, path in MODULES.items():
        if name in CLI:
            continue
        assert not any(t in CLI for t in g[name]), f"{name} imports the CLI"
        assert not re.search(r"^\s*(import argparse|from argparse)", path.read_text(), re.M), name


# ---------------------------------------------------------------------------- module size
MAX_LINES = 400
REASON = re.compile(r"Above 400 lines because \S")


def long_modules_without_a_reason(modules: dict[str, Path]) -> list[str]:
    """Modules above MAX_LINES whose opening docstring does not say why ('Above 400 lines because ...')."""
    out = []
    for name, path in sorted(modules.items()):
        text = path.read_text()
        n = len(text.splitlines())
        if n > MAX_LINES and not REASON.search(ast.get_docstring(ast.parse(text)) or ""):
            out.append(f"{name} ({n} lines)")
    return out


def test_the_size_checker_finds_a_long_module_without_a_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    (tmp_path / "a.py").write_text('"""Long."""\n' + body)
    (tmp_path / "b.py").write_text('"""Long.\n\nAbove 400 lines because one table needs it."""\n' + body)
    (tmp_path / "c.py").write_text('"""Short."""\n')
    assert long_modules_without_a_reason({m: tmp_path / f"{m}.py" for m in "abc"}) == [f"a ({MAX_LINES + 1} lines)"]


def test_no_module_above_400_lines_without_a_reason_in_its_opening_comment():
    """A module grows past 400 lines only with a reason a reader can weigh, stated in its opening docstring; else
    split it along a real seam (as report/ and endpoint/clients.py were)."""
    assert long_modules_without_a_reason(MODULES) == []


# ---------------------------------------------------------------------------- one definition of each concept
def _constants(value: float) -> list[str]:
    """Where a numeric literal appears in code (not in strings or comments)."""
    out = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == value:
                out.append(f"{name}:{node.lineno}")
    return out


def test_hours_per_year_is_defined_once():
    assert [w.split(":")[0] for w in _constants(8760)] == ["bench.analysis.cost"]


def test_missing_values_are_formatted_in_present_only():
    """None -> "—" lives in bench.present; other modules call it (a literal "—" may still label a cell)."""
    offenders = []
    for name, path in MODULES.items():
        if name == "bench.present":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.IfExp) and any(isinstance(b, ast.Constant) and b.value == "—"
                                                   for b in (node.body, node.orelse)):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], f"format through bench.present instead: {offenders}"

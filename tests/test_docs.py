"""The documentation: generated reference pages are current, nothing points at files a user does not have, and
the README stays short. (`mkdocs build --strict`, which fails on a broken link, is a step of `make test`.)"""
import importlib.util
import json
import re
from pathlib import Path

from conftest import cli

ROOT = Path(__file__).resolve().parent.parent


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_reference_pages_are_current():
    gen = _gen_docs()
    for key, path in gen.PAGES.items():
        assert path.exists(), f"{path} is missing: run `make docs-ref`"
        assert path.read_text() == gen.GENERATORS[key](), f"{path.relative_to(ROOT)} is stale: run `make docs-ref`"


def test_the_cli_page_names_every_flag_of_run():
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for flag in ("--model", "--batch-sizes", "--print-config", "--resume", "--report"):
        assert f"`{flag}`" in text


def test_docs_and_outputs_never_point_at_files_users_do_not_have():
    pages = [ROOT / "README.md", ROOT / "mkdocs.yml", *sorted((ROOT / "docs").rglob("*.md"))]
    for p in pages:
        text = p.read_text()
        for bad in ("shared/", "REFERENCE.md", "PUBLISHED.md"):
            assert bad not in text, f"{p.relative_to(ROOT)} mentions {bad}"
    for what in ("pricing", "hardware", "models", "published"):
        out = cli("list", what, "--format", "json").stdout
        assert "REFERENCE.md" not in out and "shared/" not in out, what
        json.loads(out)


# Pages written on other branches (the lead adds them to mkdocs.yml's nav when merging; then this set empties).
PENDING: set[str] = set()  # pages linked before they exist (none)


def test_readme_is_short_and_its_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert links
    for link in links:
        assert (ROOT / link).exists() or link in PENDING, f"README links to {link}, which does not exist"
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert str(page.relative_to(ROOT / "docs")) in nav, f"{page} is not in mkdocs.yml's nav"

"""Reports built around runs: one self-contained HTML file (charts inline as PNG data URIs, nothing fetched
when it is opened) and a GitHub-friendly Markdown report with the same PNG charts beside it.

The page is rendered by Jinja2 from ``templates/report.html.j2`` with autoescape on: every string that
reaches HTML (case ids, model labels, reasons, manifests, config text) is escaped by the template engine,
in text and in attributes alike; nothing here builds markup by hand and nothing is marked safe.

What a reader sees, in order: a header per run (hardware, machine, engine and versions, date, config,
validity counts), the Warnings (every warn/invalid/failed case with its reasons, then notes about the runs),
the summary table (units in the headers, "—" for missing, ± the 95 % interval over trials, validity badges;
one row per case, and with several runs each metric's runs side by side with their ratio to the first run:
``side.py``), workload facts (dataset shape, prefix-cache hit rate, TTFT by turn) where a case has them,
then charts: one series per run × model × backend config, points in batch/concurrency order, one colour per
run. A chart with nothing to show is one sentence saying why and what to pass instead.

Names, units and formats come from the metric registry (bench/results/registry.py); the values, the figures a case does
not hold ($/M, MBU, the roofline limit) from ``compare.case_rows``, as in every other view.

matplotlib, not plotly: static PNGs need no JavaScript library, render the same in a browser, on GitHub and
in a PDF, and the Markdown report reuses the very same images.
"""
from __future__ import annotations

from bench.analysis.report.charts import Chart, build_charts
from bench.analysis.report.data import Point, Report, Series, build
from bench.analysis.report.tables import capacity_token_rows, context
from bench.analysis.report.writing import render_html, write_html, write_markdown, write_reports

__all__ = ["Chart", "Point", "Report", "Series", "build", "build_charts", "capacity_token_rows", "context",
           "render_html", "write_html", "write_markdown", "write_reports"]

"""The benchmark command keeps working: a short run writes the budget figures it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flask_prodready.alerts.rules import DEFAULT_RULES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def run_benchmark(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in the repository, which must succeed."""
    run = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_a_quick_run_reports_the_headline_and_the_memory_budget(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    run = run_benchmark("benchmarks", "headline", "memory", "--quick", "--results", results)
    assert "**Headline**: the defaults as users get them" in run.stdout
    assert "flask-prodready's defaults: " in run.stdout
    assert "(budget 1.5x: " in run.stdout
    assert "(budget 10 MB)" in run.stdout
    document = json.loads(results.read_text())
    rows = {row["variant"]: row for row in document["headline"]}
    assert list(rows)[:2] == ["bare Flask", "flask-prodready, defaults"]
    assert rows["defaults without logs"]["group"] == "decomposition"
    assert all(row["median_us"] > 0 for row in rows.values())
    assert document["memory"]["requests"] == 20_000
    assert "machine" in document
    # The Markdown beside the JSON is what --write-docs puts into the README.
    assert results.with_suffix(".md").read_text() in run.stdout


def test_the_docs_block_is_replaced_between_its_marks(tmp_path: Path) -> None:
    from benchmarks.headline import write_into

    page = tmp_path / "page.md"
    page.write_text("before\n<!-- bench:headline -->\nold\n<!-- /bench:headline -->\nafter\n")
    write_into(page, "new table\n")
    assert page.read_text() == (
        "before\n<!-- bench:headline -->\nnew table\n<!-- /bench:headline -->\nafter\n"
    )
    page.write_text("no marks\n")
    with pytest.raises(ValueError, match="has no <!-- bench:headline -->"):
        write_into(page, "x")


def test_the_scale_figures_are_reported_against_their_budgets(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    run = run_benchmark("benchmarks", "scale", "--quick", "--results", results)
    assert "| dashboard overview, 20 error groups of 2 occurrences" in run.stdout
    assert f"| one alert evaluation, {len(DEFAULT_RULES)} rules, 20 routes |" in run.stdout
    scale = json.loads(results.read_text())["scale"]
    assert scale["overview"]["groups"] == 20
    assert scale["alerts"]["evaluate_median_ms"] > 0


def test_the_json_provider_benchmark_checks_both_providers_agree() -> None:
    run = run_benchmark("benchmarks.json_provider", "--quick")
    rows = [line for line in run.stdout.splitlines() if line.startswith("| jsonify")]
    assert len(rows) == 2  # compact and debug: each compared before it is timed


def test_the_init_benchmark_reports_the_budget_for_the_defaults(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    run = run_benchmark("benchmarks", "init", "--quick", "--results", results)
    assert "Budget 3 ms median for ProdReady(app) with production defaults" in run.stdout
    init = json.loads(results.read_text())["init"]
    assert init["warm_median_ms"]["ProdReady(app), production defaults"] > 0
    assert init["cold_median_ms"] > 0


def test_the_outgoing_benchmark_times_each_client_bare_and_followed(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    run = run_benchmark("benchmarks", "outgoing", "--quick", "--results", results)
    assert "| client | bare | in a request, part off | followed |" in run.stdout
    rows = json.loads(results.read_text())["outgoing"]["rows"]
    assert [row["client"] for row in rows] == ["requests", "httpx"]
    assert all(row["bare_us"] > 0 and row["followed_us"] > 0 for row in rows)

"""The benchmark command keeps working: a short run writes the budget figures it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_a_quick_run_reports_each_part_and_the_memory_budget(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    run = run_benchmark("benchmarks", "parts", "memory", "--quick", "--results", results)
    assert "## Each part" in run.stdout
    assert "(budget 10 MB)" in run.stdout
    document = json.loads(results.read_text())
    variants = [row["variant"] for row in document["parts"]]
    assert variants[0] == "flask"
    assert "all parts on" in variants
    assert all(row["median_us"] > 0 for row in document["parts"])
    assert document["memory"]["requests"] == 20_000
    assert "machine" in document


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

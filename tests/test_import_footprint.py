"""A part that is off imports nothing of its own: its libraries stay out of the process.

This matters beyond start-up time. ``prometheus_client`` decides on import whether its values
live in memory or in ``PROMETHEUS_MULTIPROC_DIR``, so an app with our metrics off that sets
the variable later for metrics of its own must find the library not yet imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: What each part brings into the process, beyond what the core needs.
PART_LIBRARIES = {
    "metrics": ("prometheus_client", "prometheus_flask_exporter"),
    "profiling": ("cProfile", "pstats"),
    "dashboard": ("flask_htmx",),
}

_SET_UP = textwrap.dedent(
    """
    import json, sys
    from flask import Flask
    from flask_prodready import ProdReady

    app = Flask("shop")
    app.config.update(PRODREADY_CONFIG_ENABLED=False, TESTING=True)
    app.config.update(json.loads(sys.argv[1]))
    ProdReady(app)
    app.test_client().get("/livez")
    print(json.dumps(sorted(sys.modules)))
    """
)


def _modules_after_set_up(config: dict[str, object]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _SET_UP, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_parts_that_are_off_import_none_of_their_libraries() -> None:
    modules = _modules_after_set_up(
        {
            "PRODREADY_METRICS_ENABLED": False,
            "PRODREADY_PROFILING_ENABLED": False,
            "PRODREADY_DASHBOARD_ENABLED": False,
        }
    )
    imported = {
        library
        for libraries in PART_LIBRARIES.values()
        for library in libraries
        if library in modules
    }
    assert imported == set()


@pytest.mark.parametrize("part", ["metrics", "dashboard"])
def test_a_part_that_is_on_imports_its_libraries(part: str) -> None:
    modules = _modules_after_set_up(
        {"PRODREADY_DASHBOARD_TOKEN": "t" * 32} if part == "dashboard" else {}
    )
    assert set(PART_LIBRARIES[part]) <= modules


def test_the_lazy_names_of_the_part_packages_resolve() -> None:
    from flask_prodready.dashboard.views import BLUEPRINT_NAME

    from flask_prodready import dashboard, metrics
    from flask_prodready.metrics.app_metrics import Metrics

    assert metrics.Metrics is Metrics
    assert dashboard.BLUEPRINT_NAME == BLUEPRINT_NAME
    with pytest.raises(AttributeError, match="no attribute 'Metric'"):
        _ = metrics.Metric  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'VIEWS'"):
        _ = dashboard.VIEWS  # type: ignore[attr-defined]

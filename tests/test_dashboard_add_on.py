"""The dashboard is an add-on: the core never imports it and runs without it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import flask_prodready

PACKAGE = Path(flask_prodready.__file__).parent

_WITHOUT_DASHBOARD = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoDashboard(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "flask_prodready.dashboard" or name.startswith("flask_prodready.dashboard."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoDashboard())

    from flask import Flask
    from flask_prodready import ProdReady, get_state

    app = Flask("shop")
    app.config.update(PRODREADY_CONFIG_ENABLED=False, TESTING=True)
    ProdReady(app)
    client = app.test_client()
    assert client.get("/livez").status_code == 200, "health"
    assert client.get("/metrics").status_code == 200, "metrics"
    assert client.get("/_prod/").status_code == 404, "no dashboard"
    assert "dashboard" not in get_state(app).parts
    assert not any(m.startswith("flask_prodready.dashboard") for m in sys.modules)
    print("ok", ",".join(get_state(app).parts))
    """
)


def test_the_core_sets_an_app_up_without_the_dashboard_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DASHBOARD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("ok request_id,logs,errors,metrics,health")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("flask_prodready", *path.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_core_module_imports_the_dashboard() -> None:
    importers = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(
            name == "flask_prodready.dashboard" or name.startswith("flask_prodready.dashboard.")
            for name in _imported_modules(path)
        )
    ]
    assert importers == []

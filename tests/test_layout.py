"""The package's layout: every module has tests that name it, the architecture page names it,
and no module grows too big.

The modules are the files under ``flask_prodready/`` and ``dashboard/`` (installed as
``flask_prodready.dashboard``). A test file names a module when it imports it, imports from
it, or spells its dotted name (for instance in ``monkeypatch.setattr("a.b.c.name", ...)``).
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

from .support import REPO

PACKAGES = ("flask_prodready", "dashboard")
#: The dashboard's name once installed; tests may use either.
INSTALLED = {"flask_prodready.dashboard": "dashboard"}
MAX_LINES = 600


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py"))


def _canonical(name: str) -> str:
    for installed, folder in INSTALLED.items():
        if name == installed or name.startswith(installed + "."):
            return folder + name[len(installed) :]
    return name


def _test_files() -> list[Path]:
    return sorted((REPO / "tests").rglob("*.py"))


@cache
def _named_in(path: Path) -> frozenset[str]:
    """The dotted names a test file imports, imports from, or spells out."""
    text = path.read_text(encoding="utf-8")
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    pattern = r"(?<![\w.])(?:flask_prodready|dashboard)(?:\.\w+)+"
    names.update(re.findall(pattern, text))
    return frozenset(_canonical(name) for name in names)


def _is_named(module: str, named: frozenset[str]) -> bool:
    return any(name == module or name.startswith(module + ".") for name in named)


def test_every_module_is_named_by_a_test_file() -> None:
    modules = [_dotted(path) for path in _files() if path.stem not in ("__init__", "_version")]
    named = [_named_in(path) for path in _test_files()]
    unnamed = [module for module in modules if not any(_is_named(module, n) for n in named)]
    assert unnamed == [], "modules that no test file names: " + ", ".join(unnamed)


def test_the_architecture_page_names_every_module() -> None:
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    spelt = {
        _canonical(n) for n in re.findall(r"`((?:flask_prodready|dashboard)(?:\.\w+)*)`", page)
    }
    modules = [_dotted(path) for path in _files()]
    missing = [module for module in modules if module not in spelt]
    assert missing == [], "docs/architecture.md does not name: " + ", ".join(missing)
    gone = sorted(name for name in spelt - set(modules) if not _resolves(name, modules))
    assert gone == [], "docs/architecture.md names what does not exist: " + ", ".join(gone)


def _resolves(name: str, modules: list[str]) -> bool:
    """Whether ``name`` is an attribute (at any depth) of the longest module it starts with."""
    home = max((m for m in modules if name.startswith(m + ".")), key=len)
    target: object = importlib.import_module(
        "flask_prodready." + home if home.split(".")[0] == "dashboard" else home
    )
    for attribute in name[len(home) + 1 :].split("."):
        if not hasattr(target, attribute):
            return False
        target = getattr(target, attribute)
    return True


def test_no_module_is_longer_than_600_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in _files()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({lines})" for name, lines in sorted(long.items())
    )


def test_the_benchmark_tables_in_the_readme_and_docs_are_what_make_bench_wrote() -> None:
    """``make bench`` writes ``benchmarks/results/latest.md`` and puts it between the marks of
    both pages; a hand edit of either, or a stale page, fails here."""
    written = (REPO / "benchmarks" / "results" / "latest.md").read_text(encoding="utf-8")
    for page in ("README.md", "docs/performance.md"):
        text = (REPO / page).read_text(encoding="utf-8")
        start = text.index("<!-- bench:headline -->") + len("<!-- bench:headline -->\n")
        assert text[start : text.index("<!-- /bench:headline -->")] == written, page

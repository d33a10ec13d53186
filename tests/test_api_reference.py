"""docs/api.md is generated from the public surface by scripts/api_reference.py."""

from __future__ import annotations

import difflib
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .support import REPO

SCRIPT = REPO / "scripts" / "api_reference.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


api_reference = _load_script()


@pytest.fixture(scope="module")
def surface() -> Any:
    """The public modules of the package and the dashboard, imported."""
    return api_reference.read_surface()


def test_every_public_module_has_an_all(surface: Any) -> None:
    missing = surface.without_all
    assert missing == [], f"public modules without __all__: {', '.join(missing)}"


def test_the_page_is_what_the_script_generates(surface: Any) -> None:
    expected = api_reference.render(surface)
    current = api_reference.PAGE.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            "docs/api.md",
            "generated",
        )
    )
    assert current == expected, f"run {api_reference.COMMAND}\n{diff}"


def _package(root: Path, name: str, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_a_name_is_documented_once_in_the_public_module_that_defines_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "apiref_demo_home"
    _package(
        tmp_path,
        name,
        {
            "__init__.py": '''
                """Demo."""
                from .core import Engine as Engine
                from .hidden import Stored as Stored
                __all__ = ["Engine", "Stored"]
            ''',
            "core.py": '''
                """The core."""
                class Engine:
                    """An engine."""
                __all__ = ["Engine"]
            ''',
            "_private.py": '''
                class Stored:
                    """Defined in a private module."""
                __all__ = ["Stored"]
            ''',
            "hidden.py": '''
                """Re-exports a private class."""
                from ._private import Stored
                __all__ = ["Stored"]
            ''',
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    surface = api_reference.read_surface(tmp_path, (name,))
    sections = {s.module: s for s in api_reference.sections(surface)}
    assert sorted(sections) == [name, f"{name}.core", f"{name}.hidden"]
    assert sections[name].documented == []
    assert sections[name].reexported == [
        ("Engine", f"{name}.core.Engine"),
        ("Stored", f"{name}.hidden.Stored"),
    ]
    assert sections[f"{name}.core"].documented == [f"{name}.core.Engine"]
    assert sections[f"{name}.hidden"].documented == [f"{name}.hidden.Stored"]
    page = api_reference.render(surface)
    assert page.count(f"::: {name}.core.Engine\n") == 1
    assert "_private" not in page


def test_a_listed_name_the_module_lacks_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "apiref_demo_lacking"
    _package(tmp_path, name, {"__init__.py": '__all__ = ["Gone"]\n'})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(api_reference.SurfaceError, match=rf"{name}.__all__ lists 'Gone'"):
        api_reference.read_surface(tmp_path, (name,))


def test_a_public_module_without_all_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "apiref_demo_without"
    _package(tmp_path, name, {"__init__.py": "__all__ = []\n", "loose.py": "X = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert api_reference.read_surface(tmp_path, (name,)).without_all == [f"{name}.loose"]


def test_a_name_only_a_module_getattr_provides_is_named_not_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "apiref_demo_lazy"
    source = '''
        """Lazy."""
        __all__ = ["LAZY", "plain"]
        def plain():
            """Plain."""
        def __getattr__(attribute):
            if attribute == "LAZY":
                return 1
            raise AttributeError(attribute)
    '''
    _package(tmp_path, name, {"__init__.py": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    surface = api_reference.read_surface(tmp_path, (name,))
    [section] = api_reference.sections(surface)
    assert section.dynamic == ["LAZY"]
    assert section.documented == [f"{name}.plain"]
    assert f"::: {name}.LAZY" not in api_reference.render(surface)

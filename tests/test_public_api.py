"""The public surface of ``flask_prodready`` is exactly what ``__all__`` says, all documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import flask_prodready
from flask_prodready.settings import SETTINGS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(flask_prodready) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(flask_prodready, name))}
    assert set(flask_prodready.__all__) == (public - modules) | {"__version__"}


def test_every_public_name_has_a_docstring() -> None:
    for name in flask_prodready.__all__:
        value = getattr(flask_prodready, name)
        if callable(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_every_setting_is_in_the_configuration_reference() -> None:
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if s.name not in reference]
    assert not missing, f"undocumented settings: {missing}"
    assert all(f"FLASK_{s.name}" in reference for s in SETTINGS)


def test_version_is_a_string() -> None:
    assert isinstance(flask_prodready.__version__, str)

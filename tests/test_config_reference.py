"""The settings reference of docs/configuration.md is generated from the schema, and kept so.

Covers ``flask_prodready.settings.reference`` and ``scripts/config_reference.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flask_prodready.settings import INT, SETTINGS, Setting, at_least
from flask_prodready.settings.reference import (
    BEGIN,
    END,
    render_default,
    render_reference,
    replace_reference,
)

from .support import REPO

PAGE = REPO / "docs" / "configuration.md"
SCRIPT = REPO / "scripts" / "config_reference.py"


def _generated_block() -> str:
    page = PAGE.read_text(encoding="utf-8")
    return page[page.index(BEGIN) : page.index(END) + len(END)]


def test_the_page_holds_what_the_schema_gives() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert replace_reference(page) == page, (
        "docs/configuration.md differs from the schema: run make references"
    )


def test_the_check_fails_with_a_diff_when_the_page_drifts(tmp_path: Path) -> None:
    drifted = PAGE.read_text(encoding="utf-8").replace(
        SETTINGS[0].doc.splitlines()[0], "An outdated description."
    )
    copy = tmp_path / "configuration.md"
    copy.write_text(drifted, encoding="utf-8")
    program = (
        "import runpy, sys, pathlib\n"
        f"namespace = runpy.run_path({str(SCRIPT)!r})\n"
        "main = namespace['main']\n"
        f"main.__globals__['PAGE'] = pathlib.Path({str(copy)!r})\n"
        "sys.exit(main(['--check']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "-An outdated description." in result.stdout
    assert "run make references" in result.stderr


def test_the_check_passes_on_the_repository() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_has_one_row_and_one_section_in_schema_order() -> None:
    block = _generated_block()
    rows = re.findall(r"^\| \[`(PRODREADY_\w+)`\]", block, flags=re.MULTILINE)
    sections = re.findall(r"^### `(PRODREADY_\w+)`$", block, flags=re.MULTILINE)
    names = [setting.name for setting in SETTINGS]
    assert rows == names
    assert sections == names


def test_every_setting_is_described() -> None:
    undescribed = [setting.name for setting in SETTINGS if len(setting.doc.strip()) < 20]
    assert undescribed == []


def test_a_section_gives_type_default_variable_and_keyword() -> None:
    example = Setting("PRODREADY_EXAMPLE_LIMIT", 5, at_least(INT, 1), "How many.")
    text = render_reference([example], prefix="MYAPP")
    assert "### `PRODREADY_EXAMPLE_LIMIT`" in text
    assert "- **Type:** a whole number of at least 1" in text
    assert "- **Default:** `5`" in text
    assert "- **Environment variable:** `MYAPP_PRODREADY_EXAMPLE_LIMIT`" in text
    assert "- **Keyword:** `example_limit=`" in text
    assert text.rstrip().endswith(END)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "unset"),
        ("", "unset"),
        (True, "`true`"),
        (False, "`false`"),
        ("json", '`"json"`'),
        ([0.005, 0.01, 0.1, 1, 10], "`[0.005, 0.01, …, 10]`"),
    ],
)
def test_defaults_are_written_as_in_settings_toml(value: object, shown: str) -> None:
    assert render_default(value) == shown


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="BEGIN GENERATED"):
        replace_reference("# Configuration\n\nNo generated block here.\n")

"""What a test needs from the machine: under CI a missing part fails, elsewhere it skips.

Every message says how to install the missing part.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True under CI, where a missing external part fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(message: str) -> NoReturn:
    """Fail with ``message`` under CI, skip with it elsewhere."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_executable(name: str, install_hint: str) -> str:
    """The path of ``name``; under CI a missing one fails, elsewhere the test skips."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed; {install_hint}")
    return path


def require_module(name: str, install_hint: str) -> None:
    """Like :func:`require_executable`, for a Python package of the test environment."""
    if importlib.util.find_spec(name) is None:
        missing(f"the Python package {name} is not installed; {install_hint}")

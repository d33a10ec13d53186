"""The built wheel installs cleanly; the lock file pins everything and names no host."""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("flask_prodready-*.whl")
    return path


@pytest.mark.slow
def test_wheel_carries_the_dashboard_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "flask_prodready/py.typed" in names
    assert "flask_prodready/dashboard/__init__.py" in names
    assert "flask_prodready/health/__init__.py" in names
    assert "flask_prodready/dashboard/templates/prodready/overview.html" in names
    assert "flask_prodready/dashboard/static/prodready/prodready.css" in names
    assert "flask_prodready/dashboard/static/prodready/vendor/htmx.min.js" in names
    for package in (REPO / "flask_prodready").rglob("__init__.py"):
        relative = package.relative_to(REPO).as_posix()
        assert relative in names, f"{relative} is missing from the wheel"
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"flask_prodready"}
    metadata = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert (
        "prodready = flask_prodready.cli:prodready_cli"
        in zipfile.ZipFile(wheel).read(metadata).decode()
    )


@pytest.mark.slow
def test_installed_wheel_imports_and_has_no_top_level_dashboard(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "fresh"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies come from the development environment, behind the fresh venv's own.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    script = """
import importlib.resources, sys, flask_prodready, flask_prodready.dashboard as d
assert flask_prodready.__file__.startswith(sys.argv[1]), flask_prodready.__file__
files = importlib.resources.files(d)
assert files.joinpath("templates/prodready/overview.html").is_file()
assert files.joinpath("static/prodready/prodready.css").is_file()
try:
    import dashboard
except ImportError:
    print("ok")
else:
    raise SystemExit("a top-level dashboard module is importable: " + dashboard.__file__)
"""
    result = subprocess.run(
        [str(python), "-I", "-c", script, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == "ok"


@pytest.mark.slow
def test_wheel_declares_flask_smorest_only_under_its_extra(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    headers = email.parser.HeaderParser().parsestr(archive.read(metadata).decode())
    assert "smorest" in headers.get_all("Provides-Extra", [])
    requirements = [Requirement(line) for line in headers.get_all("Requires-Dist", [])]

    def needed(extra: str) -> set[str]:
        return {
            canonicalize_name(r.name)
            for r in requirements
            if r.marker is None or r.marker.evaluate({"extra": extra})
        }

    # Nothing of flask-smorest's world for an app without it (make test-lowest checks that
    # nothing pulls them in either).
    assert not needed("") & {"flask-smorest", "marshmallow", "apispec", "webargs"}
    assert "flask-smorest" in needed("smorest")
    assert "flask-smorest" not in needed("redis")
    # Imported directly, so declared directly; and every requirement has a floor.
    assert {"flask", "prometheus-client", "prometheus-flask-exporter"} <= needed("")
    for requirement in requirements:
        assert any(s.operator == ">=" for s in requirement.specifier), str(requirement)


def test_lock_file_pins_every_package_with_hashes_and_no_host() -> None:
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    requirements = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert requirements
    for line in requirements:
        assert re.match(r"^[a-z0-9][a-z0-9._-]*==[^ ]+ ", line + " "), line
    assert text.count("--hash=sha256:") >= len(requirements)
    assert not re.search(
        r"https?://|file:|--index-url|--extra-index-url|--find-links|/(home|root|tmp|work)/", text
    )
    for package in (
        "flask",
        "dynaconf",
        "loguru",
        "prometheus-flask-exporter",
        "prometheus-client",
        "flask-smorest",
        "flask-htmx",
        "pytest-flask",
        "ruff",
        "mypy",
        "mkdocs",
    ):
        assert any(line.startswith(f"{package}==") for line in requirements), package

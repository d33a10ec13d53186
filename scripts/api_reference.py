"""Write docs/api.md, the API reference, from the public surface of the package.

The public surface is the ``__all__`` of every public module: each module under
``flask_prodready/`` and ``dashboard/`` whose dotted name has no part starting with an
underscore (``flask_prodready`` itself included). The page gets one section per public module
with a ``::: module.Name`` directive (mkdocstrings) for each name of its ``__all__``.

A name is documented once, in its home: the module that defines it, or, when that module is
private or does not list the name, the last public module on the import chain that lists it.
A section whose module re-exports names from elsewhere links to their home instead::

    .venv/bin/python scripts/api_reference.py          # write docs/api.md
    .venv/bin/python scripts/api_reference.py --check  # exit 1 with a diff if it differs

Exit status 2: a module failed to import, or lists in ``__all__`` a name it lacks. A public
module without ``__all__`` is left out with a warning (tests/test_api_reference.py fails on
it). The prose of the page (the introduction, a few lines for some modules) is kept here, in
:data:`INTRO` and :data:`PROSE`.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "api.md"
PACKAGES = ("flask_prodready", "dashboard")
COMMAND = ".venv/bin/python scripts/api_reference.py"

INTRO = f"""\
# API reference

<!-- Generated from the __all__ of every public module by scripts/api_reference.py: do not
edit this page; change the modules or the prose in that script, then run
{COMMAND} -->

One section per public module, with the names of its `__all__`. Each name is documented once,
in the module that defines it; the sections of modules that re-export it link there. The names
used most are importable from `flask_prodready` itself, for example
`from flask_prodready import ProdReady, ConfigError`.

The dashboard is the package `dashboard` of the repository, installed as
`flask_prodready.dashboard`.
"""

#: Sections come in this order: a module goes with the longest entry that is it or one of its
#: packages (``flask_prodready`` stands for itself only); modules under no entry come last.
#: Within an entry, by dotted name.
ORDER = (
    "flask_prodready",
    "flask_prodready.extension",
    "flask_prodready.state",
    "flask_prodready.exceptions",
    "flask_prodready.settings",
    "flask_prodready.errors",
    "flask_prodready.store",
    "flask_prodready.recording",
    "flask_prodready.request_id",
    "flask_prodready.logs",
    "flask_prodready.health",
    "flask_prodready.metrics",
    "flask_prodready.snapshots",
    "flask_prodready.gunicorn",
    "flask_prodready.alerts",
    "flask_prodready.sql",
    "flask_prodready.profiling",
    "flask_prodready.redaction",
    "flask_prodready.access",
    "flask_prodready.testing",
    "flask_prodready.scaffold",
    "flask_prodready.cli",
    "dashboard",
)

#: Prose under a module's heading (Markdown), after its docstring's summary.
PROSE = {
    "flask_prodready.exceptions": """\
All errors that the extension itself raises derive from `ProdReadyError`:

```text
ProdReadyError                  root of every error raised by the extension itself
 ├── ConfigError                settings are missing, malformed or invalid
 └── SetupError (RuntimeError)  the extension was set up wrongly
      └── NotInitialisedError   an app was used before init_app
```""",
    "flask_prodready.health": """\
Health checks are described on the [Health checks](health.md) page. `ProdReady.health` is a
`HealthRegistry`; each app gets a `HealthRunner`, which `get_health(app)` returns.""",
    "flask_prodready.metrics": """\
The metrics part is described in [Metrics](metrics.md). Its object, `Metrics`, is
`get_state(app).metrics`.""",
    "flask_prodready.gunicorn": """\
Import them into `gunicorn.conf.py`; see [gunicorn](metrics.md#gunicorn).""",
    "flask_prodready.alerts": "Alerts are described on the [Alerts](alerts.md) page.",
    "flask_prodready.sql": "See [Performance](performance.md).",
    "flask_prodready.profiling": "See [Performance](performance.md).",
    "flask_prodready.access": """\
`flask_prodready.access` holds the one rule that guards `/metrics`, health details and the
dashboard: clients on the loopback interface are let in (unless `loopback=False`), other
clients need the bearer token (compared in constant time) or an address in an allowed
network, and `open=True` lets everyone in. Behind a reverse proxy, set
`PRODREADY_TRUSTED_PROXIES` (werkzeug's `ProxyFix`) so that `request.remote_addr` is the
client's address.""",
    "flask_prodready.testing": """\
The pytest fixtures are described on [Testing your app](testing.md).""",
    "flask_prodready.scaffold": """\
`flask prodready init` is described on [Deploying](deploying.md).""",
    "dashboard": "The dashboard is described on the [Dashboard](dashboard.md) page.",
}


class SurfaceError(Exception):
    """The public surface cannot be read: a module fails to import or lacks a listed name."""


@dataclass
class Section:
    """One public module on the page."""

    module: str
    summary: str
    #: Directive targets (``module.Name``) documented in this section.
    documented: list[str] = field(default_factory=list)
    #: Names of ``__all__`` documented elsewhere: (name, target of its home).
    reexported: list[tuple[str, str]] = field(default_factory=list)
    #: Names of ``__all__`` that only the module's ``__getattr__`` provides: mkdocstrings,
    #: which reads the source, cannot render them.
    dynamic: list[str] = field(default_factory=list)


@dataclass
class Surface:
    """The public modules, read by importing them."""

    modules: dict[str, ModuleType]
    #: Public modules without ``__all__``.
    without_all: list[str]


def module_names(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """The dotted names of the modules of ``packages``, private ones included."""
    names = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return sorted(names)


def is_public(module: str) -> bool:
    """No part of the dotted name starts with an underscore."""
    return not any(part.startswith("_") for part in module.split("."))


def public_modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """The dotted names of the public modules."""
    return [name for name in module_names(root, packages) if is_public(name)]


def read_surface(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> Surface:
    """Import every public module of ``packages`` (folders of ``root``).

    Fails naming the modules that do not import, and the names that an ``__all__`` lists but
    its module lacks.
    """
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    modules: dict[str, ModuleType] = {}
    failures = []
    for name in public_modules(root, packages):
        try:
            modules[name] = importlib.import_module(name)
        except Exception as exc:
            failures.append(f"{name} does not import: {type(exc).__name__}: {exc}")
    if failures:
        raise SurfaceError("\n".join(failures))
    without = [name for name, module in modules.items() if not hasattr(module, "__all__")]
    surface = Surface({n: m for n, m in modules.items() if n not in without}, without)
    lacking = [
        f"{name}.__all__ lists {listed!r}, which {name} lacks"
        for name, module in surface.modules.items()
        for listed in module.__all__
        if not hasattr(module, listed)
    ]
    if lacking:
        raise SurfaceError("\n".join(lacking))
    return surface


@dataclass(frozen=True)
class Bindings:
    """The names a module binds at module level, read from its source."""

    #: Imported names: name -> (absolute module, name there).
    imports: dict[str, tuple[str, str]]
    #: Every name bound at module level: defined, assigned or imported.
    static: frozenset[str]


@cache
def _bindings(name: str, path: str | None, package: str) -> Bindings:
    """The module-level bindings of the module ``name`` (source file ``path``).

    Statements under ``if``, ``try`` and ``with`` count; functions and classes do not. A name
    that only a module ``__getattr__`` provides is not static.
    """
    if not path or not path.endswith(".py"):
        return Bindings({}, frozenset())
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    imports: dict[str, tuple[str, str]] = {}
    static: set[str] = set()

    def targets(node: ast.expr) -> Iterator[str]:
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                yield from targets(element)

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - statement.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in statement.names:
                    imports[alias.asname or alias.name] = (base, alias.name)
            elif isinstance(statement, ast.Import):
                static.update(a.asname or a.name.split(".")[0] for a in statement.names)
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                static.add(statement.name)
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    static.update(targets(target))
            elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
                static.update(targets(statement.target))
            elif isinstance(statement, ast.If | ast.With):
                visit(statement.body)
                visit(getattr(statement, "orelse", []))
            elif isinstance(statement, ast.Try):
                for block in (statement.body, statement.orelse, statement.finalbody):
                    visit(block)
                for handler in statement.handlers:
                    visit(handler.body)

    visit(tree.body)
    return Bindings(imports, frozenset(static | set(imports)))


def bindings(module: ModuleType) -> Bindings:
    """The module-level bindings of ``module``."""
    path = getattr(module, "__file__", None)
    is_package = bool(path and path.endswith("__init__.py"))
    package = module.__name__ if is_package else module.__package__ or ""
    return _bindings(module.__name__, path, package)


def home(surface: Surface, module: str, name: str) -> str:
    """The directive target of ``name`` of ``module``'s ``__all__``: where it is documented.

    Follows the imports while the next module is public, lists the name and holds the same
    object; the last module on that chain is the home.
    """
    seen = set()
    while (module, name) not in seen:
        seen.add((module, name))
        source = bindings(surface.modules[module]).imports.get(name)
        if source is None:
            break
        origin, original = source
        target = surface.modules.get(origin)
        if (
            target is None
            or original not in target.__all__
            or getattr(target, original) is not getattr(surface.modules[module], name)
        ):
            break
        module, name = origin, original
    return f"{module}.{name}"


_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")


def summary(module: ModuleType) -> str:
    """The first paragraph of the module's docstring, as Markdown."""
    first = (module.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(line.strip() for line in first.splitlines())
    text = _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    text = text.replace("``", "`")
    return text[:-1] if text.endswith("::") else text


def _rank(module: str) -> tuple[int, str]:
    """Where ``module`` goes: see :data:`ORDER` (``flask_prodready`` holds only itself)."""
    matches = [
        (len(entry), index)
        for index, entry in enumerate(ORDER)
        if module == entry or (module.startswith(entry + ".") and entry != "flask_prodready")
    ]
    return (max(matches)[1] if matches else len(ORDER), module)


def sections(surface: Surface) -> list[Section]:
    """The page's sections, in :data:`ORDER`."""
    result = []
    for module in sorted(surface.modules, key=_rank):
        section = Section(module, summary(surface.modules[module]))
        for name in surface.modules[module].__all__:
            target = home(surface, module, name)
            if target != f"{module}.{name}":
                section.reexported.append((name, target))
            elif name in bindings(surface.modules[module]).static:
                section.documented.append(target)
            else:
                section.dynamic.append(name)
        result.append(section)
    return result


def _render_section(section: Section, dynamic: set[str]) -> Iterator[str]:
    yield f"## `{section.module}`"
    yield ""
    if section.summary:
        yield section.summary
        yield ""
    if section.module in PROSE:
        yield PROSE[section.module]
        yield ""
    if section.reexported:
        links = ", ".join(
            f"`{name}` (`{target}`)" if target in dynamic else f"[`{name}`][{target}]"
            for name, target in section.reexported
        )
        lead = "Also importable from here" if section.documented else "Importable from here"
        yield textwrap.fill(f"{lead}: {links}.", width=100, break_on_hyphens=False)
        yield ""
    if section.dynamic:
        names = ", ".join(f"`{name}`" for name in section.dynamic)
        yield f"Computed on first use (the module's `__getattr__`), so not rendered here: {names}."
        yield ""
    for target in section.documented:
        yield f"::: {target}"
        yield ""


def render(surface: Surface) -> str:
    """The text of docs/api.md."""
    lines = [INTRO]
    every = sections(surface)
    dynamic = {f"{s.module}.{name}" for s in every for name in s.dynamic}
    for section in every:
        lines.extend(_render_section(section, dynamic))
    return "\n".join(lines).rstrip("\n") + "\n"


def stale_prose(surface: Surface) -> list[str]:
    """Modules of :data:`PROSE` that are no public module with ``__all__`` any more."""
    return sorted(set(PROSE) - set(surface.modules))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff if docs/api.md differs"
    )
    args = parser.parse_args(argv)
    try:
        surface = read_surface()
        text = render(surface)
    except SurfaceError as exc:
        print(f"api_reference: {exc}", file=sys.stderr)
        return 2
    for name in surface.without_all:
        print(f"api_reference: warning: {name} has no __all__; left out", file=sys.stderr)
    for name in stale_prose(surface):
        print(f"api_reference: warning: PROSE names {name}, not on the page", file=sys.stderr)
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if args.check:
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            "docs/api.md",
            "docs/api.md (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"api_reference: docs/api.md is out of date; run {COMMAND}", file=sys.stderr)
        return 1
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
    count = sum(len(s.documented) for s in sections(surface))
    print(f"api_reference: docs/api.md has {count} objects in {len(surface.modules)} sections")
    return 0


if __name__ == "__main__":
    sys.exit(main())

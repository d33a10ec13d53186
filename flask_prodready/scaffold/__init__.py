"""The files ``flask prodready init`` writes: Dockerfile, gunicorn, compose, nginx, Kubernetes.

The templates live in ``templates/`` beside this module and are filled from the app's real
settings (health paths, metrics path, drain time), so that the probes, the shutdown timing
and the proxy set-up agree with the app::

    files = render_files(scaffold_context(app, target=Path("."), wsgi_app="myapp:app"))
    write_files(files, Path("."), force=False)

Two numbers tie the graceful shutdown together: gunicorn's ``graceful_timeout`` is
``PRODREADY_HEALTH_DRAIN_SECONDS`` plus :data:`REQUEST_TIMEOUT`, and Kubernetes'
``terminationGracePeriodSeconds`` is :data:`PRESTOP_SECONDS` plus that plus a margin.

:func:`find_wsgi_app` tells what gunicorn must load for the app that ``flask --app`` named
(``module:app``, or ``module:create_app()`` for a factory), and :func:`scaffold_context` finds
what the image installs: a lock or requirements file, else a ``requirements.txt`` generated
from ``pyproject.toml``; what it could not find is in the context's ``notes``.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import Environment, StrictUndefined, select_autoescape

from flask_prodready.state import get_state

__all__ = [
    "PRESTOP_SECONDS",
    "PYTHON_VERSION",
    "REQUEST_TIMEOUT",
    "ScaffoldFile",
    "WriteAction",
    "existing_files",
    "find_wsgi_app",
    "render_files",
    "scaffold_context",
    "write_files",
]

#: Seconds gunicorn gives one request before it kills the worker; also what the graceful
#: shutdown allows in-flight requests after the drain.
REQUEST_TIMEOUT = 30
#: Seconds the Kubernetes ``preStop`` hook waits before SIGTERM, while endpoints update.
PRESTOP_SECONDS = 5
#: Seconds added to the sum of the waits for the last SIGKILL (compose and Kubernetes).
SHUTDOWN_MARGIN = 5
#: The Python of the image (``docker build --build-arg PYTHON_VERSION=3.13`` changes it).
PYTHON_VERSION = "3.12"
#: Lock or requirements files looked for in the project root, then in the target folder; the
#: first one found is used.
REQUIREMENTS_FILES = ("requirements.lock", "requirements.txt")
#: What the image needs beyond the app's own dependencies: gunicorn, its ENTRYPOINT.
GUNICORN_REQUIREMENT = "flask-prodready[gunicorn]"
# Other tools' lock files, and the command that exports one for the Dockerfile.
_LOCK_EXPORTS = (
    ("uv.lock", "uv export --no-dev --no-emit-project --output-file requirements.lock"),
    ("poetry.lock", "poetry export --output requirements.lock"),
    ("pdm.lock", "pdm export --prod --output requirements.lock"),
    ("Pipfile.lock", "pipenv requirements > requirements.lock"),
)
# A PEP 508 requirement's project name and, right after it, its extras.
_REQUIREMENT_NAME_RE = re.compile(
    r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?"
)

# (template, output path): the output paths are relative to the target folder.
_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Dockerfile.j2", "Dockerfile"),
    ("gunicorn.conf.py.j2", "gunicorn.conf.py"),
    ("docker-compose.yml.j2", "docker-compose.yml"),
    ("prometheus.yml.j2", "prometheus/prometheus.yml"),
    ("nginx.conf.j2", "nginx.conf"),
    ("k8s/deployment.yaml.j2", "k8s/deployment.yaml"),
    ("k8s/service.yaml.j2", "k8s/service.yaml"),
    ("k8s/configmap.yaml.j2", "k8s/configmap.yaml"),
    ("k8s/secret.yaml.j2", "k8s/secret.yaml"),
)


class WriteAction(Enum):
    """What :func:`write_files` did with one file.

    .. versionadded:: 0.1
    """

    WRITTEN = "written"
    OVERWRITTEN = "overwritten"
    MERGED = "merged"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ScaffoldFile:
    """One generated file.

    :param path: where it goes, relative to the target folder (``/`` separated).
    :param text: its content.
    :param merge: an ignore file: its lines are added to an existing file that lacks them,
        never replacing it.

    .. versionadded:: 0.1
    """

    path: str
    text: str
    merge: bool = False


def scaffold_context(
    app: Flask,
    *,
    target: Path,
    wsgi_app: str,
    port: int = 8000,
    project_root: Path | None = None,
) -> dict[str, Any]:
    """The values the templates are filled with, read from ``app``'s settings.

    :param app: the app, set up with flask-prodready.
    :param target: the folder the files go to.
    :param wsgi_app: gunicorn's ``module:variable`` (or ``module:factory()``) of the app.
    :param port: the port gunicorn listens on in the container.
    :param project_root: the Docker build context and the image's working directory;
        defaults to the current working directory.

    What the image installs is the first of :data:`REQUIREMENTS_FILES` found in the project
    root, then in ``target``. Without one, a ``requirements.txt`` for ``target`` is generated
    from ``[project.dependencies]`` of the project's ``pyproject.toml``, plus
    :data:`GUNICORN_REQUIREMENT` (the context's ``generated_requirements``, written by
    :func:`render_files`). Without that either, the Dockerfile still names
    ``requirements.txt``, which the user must provide. The context's ``notes`` say what the
    user should know or do: ``flask prodready init`` prints them.

    .. versionadded:: 0.1
    """
    settings = get_state(app).settings.values
    root = (project_root or Path.cwd()).resolve()
    target = target.resolve()
    if not target.is_relative_to(root):
        raise ValueError(
            f"{target} is outside the project ({root}): the Dockerfile could not copy the "
            "files it needs. Run `flask prodready init` from the project root with a folder "
            "inside it, e.g. `flask prodready init deploy`."
        )
    drain = float(settings["PRODREADY_HEALTH_DRAIN_SECONDS"])
    graceful = math.ceil(drain) + REQUEST_TIMEOUT
    name = re.sub(r"[^a-z0-9]+", "-", wsgi_app.partition(":")[0].lower()).strip("-") or "app"
    requirements = _find_requirements(root, target)
    app_dir = _relative(Path(app.root_path).resolve(), root)
    return {
        "name": name,
        "image": name,
        "wsgi_app": wsgi_app,
        "port": port,
        "python_version": PYTHON_VERSION,
        "requirements": requirements.path,
        "requirements_source": requirements.source,
        "generated_requirements": requirements.generated,
        "notes": list(requirements.notes),
        "context_dir": _relative(root, target),
        "context_note": "this folder" if root == target else "the project root",
        "dockerfile_path": _relative(target / "Dockerfile", root),
        "gunicorn_conf_path": _relative(target / "gunicorn.conf.py", root),
        "compose_path": _relative(target / "docker-compose.yml", root),
        "dockerignore": ".dockerignore" if root == target else "Dockerfile.dockerignore",
        "app_dir": "" if app_dir == "." else app_dir + "/",
        "live_path": settings["PRODREADY_HEALTH_LIVE_PATH"],
        "ready_path": settings["PRODREADY_HEALTH_READY_PATH"],
        "startup_path": settings["PRODREADY_HEALTH_STARTUP_PATH"],
        "metrics_path": settings["PRODREADY_METRICS_PATH"],
        "dashboard_prefix": settings["PRODREADY_DASHBOARD_URL_PREFIX"],
        "drain_seconds": int(drain) if drain.is_integer() else drain,
        "request_timeout": REQUEST_TIMEOUT,
        "graceful_timeout": graceful,
        "prestop_seconds": PRESTOP_SECONDS,
        "stop_grace_seconds": graceful + SHUTDOWN_MARGIN,
        "termination_grace_seconds": PRESTOP_SECONDS + graceful + SHUTDOWN_MARGIN,
    }


def render_files(context: Mapping[str, Any]) -> list[ScaffoldFile]:
    """Fill every template with ``context`` (from :func:`scaffold_context`).

    .. versionadded:: 0.1
    """
    environment = Environment(
        autoescape=select_autoescape(enabled_extensions=(), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    templates = resources.files(__name__).joinpath("templates")

    def render(name: str) -> str:
        text = templates.joinpath(name).read_text(encoding="utf-8")
        return environment.from_string(text).render(**context)

    files = [ScaffoldFile(path, render(name)) for name, path in _TEMPLATES]
    if context.get("generated_requirements"):
        files.append(ScaffoldFile("requirements.txt", context["generated_requirements"]))
    files.append(ScaffoldFile(context["dockerignore"], render("dockerignore.j2"), merge=True))
    files.append(ScaffoldFile(".gitignore", render("gitignore.j2"), merge=True))
    return files


def existing_files(files: Iterable[ScaffoldFile], target: Path) -> list[str]:
    """The paths of ``files`` (ignore files aside) that already exist under ``target``.

    .. versionadded:: 0.1
    """
    return [f.path for f in files if not f.merge and (target / f.path).exists()]


def write_files(
    files: Iterable[ScaffoldFile], target: Path, *, force: bool = False
) -> list[tuple[str, WriteAction]]:
    """Write ``files`` under ``target``; nothing is written if one would be overwritten.

    Ignore files are merged: the lines they lack are appended.

    :param force: overwrite existing files.
    :raises FileExistsError: naming every existing file, unless ``force``.

    .. versionadded:: 0.1
    """
    files = list(files)
    clashes = existing_files(files, target)
    if clashes and not force:
        raise FileExistsError(
            f"these files exist in {target}: {', '.join(clashes)}; nothing was written. "
            "Use --force to overwrite them."
        )
    done = []
    for file in files:
        path = target / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if file.merge and path.exists():
            action = _merge_lines(path, file.text)
        else:
            action = WriteAction.OVERWRITTEN if path.exists() else WriteAction.WRITTEN
            path.write_text(file.text, encoding="utf-8")
        done.append((file.path, action))
    return done


def find_wsgi_app(app: Flask, import_path: str | None, *, default_files: bool = True) -> str | None:
    """gunicorn's ``wsgi_app`` for ``app``, loaded by ``flask`` from ``import_path``.

    The reference is resolved the way ``flask --app`` resolves it, without calling anything:
    a name bound to a Flask app gives ``module:name``; a function (an app factory, which
    gunicorn would otherwise call as the WSGI app, answering 500) gives ``module:name()``; a
    call with literal arguments (``module:create_app("prod")``) is kept, gunicorn parses the
    same. A bare ``module`` is searched like Flask does: ``app``, ``application``, the only
    Flask app of the module, then a ``create_app`` or ``make_app`` factory.

    :param app: the app ``flask`` loaded.
    :param import_path: ``--app`` or ``FLASK_APP`` (``module``, ``path/to/file.py``,
        ``module:name``, ``module:factory(args)``); ``None`` when neither was given.
    :param default_files: without ``import_path``, look where ``flask`` looks: ``wsgi.py``
        and ``app.py`` in the working directory. ``False`` when the app came from a
        ``create_app`` callback (``FlaskGroup(create_app=...)``, ``app.test_cli_runner()``);
        then only the module named by ``app.import_name`` is searched.
    :returns: ``module:name`` or ``module:factory(...)``, or ``None`` when the module or the
        name is not found.

    .. versionadded:: 0.1
    """
    if import_path:
        # Like flask.cli.ScriptInfo.load_app: a Windows drive's colon is not the separator.
        parts = re.split(r":(?![\\/])", import_path, maxsplit=1)
        name = parts[1] if len(parts) == 2 else None
        candidates: list[tuple[str, str | None]] = [(_import_name(parts[0]), name)]
    else:
        found = [file for file in ("wsgi.py", "app.py") if default_files and Path(file).is_file()]
        candidates = [*((_import_name(file), None) for file in found), (app.import_name, None)]
    for module_name, name in candidates:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        attribute = _find_attribute(vars(module), name)
        if attribute is not None:
            return f"{module_name}:{attribute}"
    return None


def _import_name(path: str) -> str:
    """The module ``flask.cli.prepare_import`` makes of ``path``, without changing sys.path."""
    path = os.path.realpath(path)
    stem, extension = os.path.splitext(path)
    if extension == ".py":
        path = stem
    if os.path.basename(path) == "__init__":
        path = os.path.dirname(path)
    parts = []
    while True:
        path, part = os.path.split(path)
        parts.append(part)
        if not os.path.exists(os.path.join(path, "__init__.py")):
            break
    return ".".join(reversed(parts))


def _find_attribute(namespace: Mapping[str, Any], name: str | None) -> str | None:
    """What gunicorn must look up in a module for the app Flask found there by ``name``."""
    if name is None:  # flask.cli.find_best_app's order
        for candidate in ("app", "application"):
            if isinstance(namespace.get(candidate), Flask):
                return candidate
        apps = [key for key, value in namespace.items() if isinstance(value, Flask)]
        if len(apps) == 1:
            return apps[0]
        for candidate in ("create_app", "make_app"):
            if inspect.isfunction(namespace.get(candidate)):
                return f"{candidate}()"
        return None
    try:
        expression = ast.parse(name.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
        return name.strip() if inspect.isfunction(namespace.get(expression.func.id)) else None
    if isinstance(expression, ast.Name):
        value = namespace.get(expression.id)
        if isinstance(value, Flask):
            return expression.id
        if inspect.isfunction(value):  # flask called it: a factory
            return f"{expression.id}()"
    return None


@dataclass(frozen=True)
class _Requirements:
    path: str  # for the Dockerfile's COPY, relative to the project root
    source: str  # "file", "pyproject" or "none"
    generated: str | None = None  # the requirements.txt to write into the target folder
    notes: tuple[str, ...] = ()


def _find_requirements(root: Path, target: Path) -> _Requirements:
    """What the image installs (see :func:`scaffold_context`)."""
    for folder in dict.fromkeys((root, target)):
        for name in REQUIREMENTS_FILES:
            if (folder / name).is_file():
                path = _relative(folder / name, root)
                text = (folder / name).read_text(encoding="utf-8", errors="replace")
                notes: tuple[str, ...] = ()
                if "gunicorn" not in text.lower():
                    notes = (
                        f"{path} does not list gunicorn, which the image runs: add "
                        f"{GUNICORN_REQUIREMENT} to it (or to what it is locked from).",
                    )
                return _Requirements(path, "file", notes=notes)
    path = _relative(target / "requirements.txt", root)
    lock_hint = "".join(
        f" {lock} is there: `{command}` writes a lock the Dockerfile installs instead."
        for lock, command in _LOCK_EXPORTS
        if (root / lock).is_file()
    )
    dependencies, problem = _pyproject_dependencies(root / "pyproject.toml")
    if dependencies is not None:
        generated = _requirements_text(dependencies)
        note = (
            f"generated {path} from [project.dependencies] of pyproject.toml, with "
            f"{GUNICORN_REQUIREMENT}; its versions are not pinned. For repeatable images, "
            f"put a lock in {REQUIREMENTS_FILES[0]} in the project root (it is used before "
            f"{path}) and run `flask prodready init --force` again.{lock_hint}"
        )
        return _Requirements(path, "pyproject", generated=generated, notes=(note,))
    note = (
        f"the Dockerfile installs {path}, which does not exist: "
        f"{problem or 'there is no pyproject.toml'}, and no "
        f"{' or '.join(REQUIREMENTS_FILES)} in the project root. Create {path} (your app's "
        f"dependencies and {GUNICORN_REQUIREMENT}) before `docker build`.{lock_hint}"
    )
    return _Requirements(path, "none", notes=(note,))


def _pyproject_dependencies(path: Path) -> tuple[list[str] | None, str | None]:
    """``[project.dependencies]`` of ``path``, or ``None`` and why they cannot be read."""
    if not path.is_file():
        return None, None
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, f"pyproject.toml cannot be read ({exc})"
    if not isinstance(project, dict):
        return None, "pyproject.toml has no [project] table"
    if "dependencies" in project.get("dynamic", ()):
        return None, "the dependencies in pyproject.toml are dynamic"
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        return None, "[project.dependencies] of pyproject.toml is not a list of requirements"
    return [d.strip() for d in dependencies], None


def _requirements_text(dependencies: list[str]) -> str:
    """A requirements.txt of ``dependencies``, with gunicorn through flask-prodready's extra."""
    lines = list(dependencies)
    names = [_requirement_name(line) for line in lines]
    if "gunicorn" not in names:
        if "flask-prodready" in names:
            index = names.index("flask-prodready")
            lines[index] = _with_gunicorn_extra(lines[index])
        else:
            lines.append(GUNICORN_REQUIREMENT)
    header = (
        "# Generated by `flask prodready init` from [project.dependencies] of pyproject.toml,\n"
        "# with gunicorn (the image's ENTRYPOINT). Not pinned: for repeatable images, replace\n"
        "# it with a lock (requirements.lock in the project root) and run init --force again.\n"
    )
    return header + "".join(f"{line}\n" for line in lines)


def _requirement_name(requirement: str) -> str | None:
    match = _REQUIREMENT_NAME_RE.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def _with_gunicorn_extra(requirement: str) -> str:
    match = _REQUIREMENT_NAME_RE.match(requirement)
    assert match is not None
    extras = match.group(2)
    if extras is None:
        return requirement[: match.end(1)] + "[gunicorn]" + requirement[match.end(1) :]
    present = [extra.strip().lower() for extra in extras[1:-1].split(",") if extra.strip()]
    if "gunicorn" in present:
        return requirement
    extras = ",".join([*present, "gunicorn"])
    return f"{requirement[: match.start(2)]}[{extras}]{requirement[match.end(2) :]}"


def _merge_lines(path: Path, text: str) -> WriteAction:
    current = path.read_text(encoding="utf-8")
    present = {line.strip() for line in current.splitlines()}
    missing = [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and line.strip() not in present
    ]
    if not missing:
        return WriteAction.UNCHANGED
    prefix = "" if not current or current.endswith("\n") else "\n"
    addition = "# Added by `flask prodready init`: never commit or ship secrets.\n"
    path.write_text(current + prefix + addition + "\n".join(missing) + "\n", encoding="utf-8")
    return WriteAction.MERGED


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()

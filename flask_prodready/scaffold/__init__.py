"""The files ``flask prodready init`` writes: Dockerfile, gunicorn, compose, nginx, Kubernetes.

The templates live in ``templates/`` beside this module and are filled from the app's real
settings (health paths, metrics path, drain time), so that the probes, the shutdown timing
and the proxy set-up agree with the app::

    files = render_files(scaffold_context(app, target=Path("."), wsgi_app="myapp:app"))
    write_files(files, Path("."), force=False)

Two numbers tie the graceful shutdown together: gunicorn's ``graceful_timeout`` is
``PRODREADY_HEALTH_DRAIN_SECONDS`` plus :data:`REQUEST_TIMEOUT`, and Kubernetes'
``terminationGracePeriodSeconds`` is :data:`PRESTOP_SECONDS` plus that plus a margin.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import Environment, StrictUndefined, select_autoescape

from flask_prodready.extension import get_state

__all__ = [
    "PRESTOP_SECONDS",
    "PYTHON_VERSION",
    "REQUEST_TIMEOUT",
    "ScaffoldFile",
    "WriteAction",
    "existing_files",
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
#: Lock or requirements files looked for in the project, the first one found is used.
REQUIREMENTS_FILES = ("requirements.lock", "requirements.txt")

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
    requirements = next(
        (name for name in REQUIREMENTS_FILES if (root / name).is_file()), REQUIREMENTS_FILES[-1]
    )
    app_dir = _relative(Path(app.root_path).resolve(), root)
    return {
        "name": name,
        "image": name,
        "wsgi_app": wsgi_app,
        "port": port,
        "python_version": PYTHON_VERSION,
        "requirements": requirements,
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

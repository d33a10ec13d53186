"""The app's release: which version of the app is running, and where that was read.

One value for every place that shows it: the ``version`` label of ``prodready_app_info``,
the dashboard's Instances table and ``flask prodready config``. It is found in this order:

1. the setting ``PRODREADY_RELEASE``, from a settings file or from the environment with the
   settings prefix (``FLASK_PRODREADY_RELEASE`` by default);
2. the older setting ``PRODREADY_METRICS_APP_VERSION``;
3. the first environment variable of :data:`RELEASE_VARIABLES` that is set, such as the git
   SHA a build platform or an image sets;
4. the installed distribution named like the app's top-level package;
5. else ``unknown``.

.. versionadded:: 0.2
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

__all__ = ["RELEASE_VARIABLES", "UNKNOWN_RELEASE", "Release", "find_release"]

#: The release when nothing names one.
UNKNOWN_RELEASE = "unknown"

#: Environment variables that name the running release, read in this order when no setting
#: does: Sentry's own, then those of build and hosting platforms (mostly a git SHA).
RELEASE_VARIABLES: tuple[str, ...] = (
    "SENTRY_RELEASE",
    "SOURCE_VERSION",  # Heroku and Cloud Native buildpacks
    "HEROKU_SLUG_COMMIT",
    "RENDER_GIT_COMMIT",
    "RAILWAY_GIT_COMMIT_SHA",
    "VERCEL_GIT_COMMIT_SHA",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",  # GitLab
    "CIRCLE_SHA1",
    "K_REVISION",  # Cloud Run and Knative
    "GAE_VERSION",
)

#: Longer values are cut: a release is a label and a table cell, not a document.
_MAX_LENGTH = 100


@dataclass(frozen=True)
class Release:
    """The running release and where it was read: ``get_state(app).release``.

    :param version: e.g. ``2.4.1`` or a git SHA; ``unknown`` when nothing names one.
    :param source: where it came from, for people: ``setting PRODREADY_RELEASE``,
        ``environment variable GITHUB_SHA``, ``package metadata of shop`` or ``none``.

    .. versionadded:: 0.2
    """

    version: str
    source: str


def find_release(
    import_name: str,
    settings: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
) -> Release:
    """The release of the app imported as ``import_name``, in the order of this module.

    :param import_name: the app's ``import_name``; its top-level package names the
        distribution whose metadata is read last.
    :param settings: the validated ``PRODREADY_*`` settings.
    :param environ: the environment variables (``os.environ`` by default).
    """
    for name in ("PRODREADY_RELEASE", "PRODREADY_METRICS_APP_VERSION"):
        value = _cleaned(settings.get(name))
        if value:
            return Release(value, f"setting {name}")
    environ = os.environ if environ is None else environ
    for variable in RELEASE_VARIABLES:
        value = _cleaned(environ.get(variable))
        if value:
            return Release(value, f"environment variable {variable}")
    top = import_name.partition(".")[0]
    version = _distribution_version(top)
    if version is not None:
        return Release(version, f"package metadata of {top}")
    return Release(UNKNOWN_RELEASE, "none")


def _cleaned(value: object) -> str:
    if not isinstance(value, str):
        return ""
    # One line, printable: it ends up in a Prometheus label and an HTML cell.
    text = " ".join(value.split())
    return "".join(char for char in text if char.isprintable())[:_MAX_LENGTH]


@functools.lru_cache(maxsize=64)
def _distribution_version(top: str) -> str | None:
    """The installed version of the distribution named ``top`` (read once per process)."""
    if not top or top == "__main__":
        return None
    try:
        return metadata.version(top)
    except (metadata.PackageNotFoundError, ValueError):
        return None

"""The app's release: which version of the app is running, and where that was read.

One value for every place that shows it: the ``version`` label of ``prodready_app_info``,
the dashboard's Instances table and ``flask prodready config``. It is found in this order:

1. the setting ``PRODREADY_RELEASE``, from a settings file or from the environment with the
   settings prefix (``FLASK_PRODREADY_RELEASE`` by default);
2. the older setting ``PRODREADY_METRICS_APP_VERSION``;
3. the first environment variable of :data:`RELEASE_VARIABLES` that is set, such as the git
   SHA a hosting platform sets;
4. the installed distribution named like the app's top-level package;
5. else ``unknown``.

.. versionadded:: 0.2
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata

__all__ = ["RELEASE_VARIABLES", "UNKNOWN_RELEASE", "Release", "find_release"]

#: The release when nothing names one.
UNKNOWN_RELEASE = "unknown"

#: Environment variables that name the running release, read in this order when no setting
#: does: Sentry's own, then those that hosting platforms set in the running app (mostly a git
#: SHA). Variables that exist only while building or in a CI job (``SOURCE_VERSION``,
#: ``GITHUB_SHA``) are left out: they would be missing in production, and would name a
#: release in the app's own test suite.
RELEASE_VARIABLES: tuple[str, ...] = (
    "SENTRY_RELEASE",
    "HEROKU_SLUG_COMMIT",  # with Heroku's runtime-dyno-metadata feature
    "RENDER_GIT_COMMIT",
    "RAILWAY_GIT_COMMIT_SHA",
    "VERCEL_GIT_COMMIT_SHA",
    "K_REVISION",  # Cloud Run and Knative
    "GAE_VERSION",  # App Engine
)

#: Longer values are cut: a release is a label and a table cell, not a document.
_MAX_LENGTH = 100


@dataclass(frozen=True)
class Release:
    """The running release and where it was read: ``get_state(app).release``.

    :param version: e.g. ``2.4.1`` or a git SHA; ``unknown`` when nothing names one.
    :param source: where it came from, for people: ``setting PRODREADY_RELEASE from
        environment variable FLASK_PRODREADY_RELEASE``, ``environment variable
        K_REVISION``, ``package metadata of shop`` or ``none``.

    .. versionadded:: 0.2
    """

    version: str
    source: str


def find_release(
    import_name: str,
    settings: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
    sources: Callable[[str], list[str]] | None = None,
) -> Release:
    """The release of the app imported as ``import_name``, in the order of this module.

    :param import_name: the app's ``import_name``; its top-level package names the
        distribution whose metadata is read last.
    :param settings: the validated ``PRODREADY_*`` settings.
    :param environ: the environment variables (``os.environ`` by default).
    :param sources: where a setting was set, newest first
        (:meth:`~flask_prodready.settings.LoadedSettings.sources`), for :attr:`Release.source`.
    """
    for name in ("PRODREADY_RELEASE", "PRODREADY_METRICS_APP_VERSION"):
        value = _cleaned(settings.get(name))
        if value:
            where = sources(name) if sources is not None else []
            return Release(value, f"setting {name}" + (f" from {where[0]}" if where else ""))
    environ = os.environ if environ is None else environ
    for variable in RELEASE_VARIABLES:
        value = _cleaned(environ.get(variable))
        if value:
            return Release(value, f"environment variable {variable}")
    top = import_name.partition(".")[0]
    found = _distribution_version(top)
    if found is not None:
        distribution, version = found
        return Release(_cleaned(version) or UNKNOWN_RELEASE, f"package metadata of {distribution}")
    return Release(UNKNOWN_RELEASE, "none")


def _cleaned(value: object) -> str:
    if not isinstance(value, str):
        return ""
    # One printable line: it ends up in a Prometheus label and an HTML cell.
    printable = "".join(char if char.isprintable() else " " for char in value)
    return " ".join(printable.split())[:_MAX_LENGTH].rstrip()


@functools.lru_cache(maxsize=64)
def _distribution_version(top: str) -> tuple[str, str] | None:
    """The distribution named like the package ``top``, and its version (read once per
    process). A package shipped under another name (``src/shop`` as ``acme-shop``) is not
    found: finding it means reading every installed distribution's file list, 200 ms at
    start-up; set ``PRODREADY_RELEASE`` for it."""
    if not top or top == "__main__":
        return None
    try:
        return top, metadata.version(top)
    except (metadata.PackageNotFoundError, ValueError):
        return None

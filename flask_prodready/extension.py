"""The :class:`ProdReady` extension: ``init_app`` wires the parts in a fixed order."""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dynaconf.validator import Validator
from flask import Flask

from .exceptions import ConfigError, SetupError
from .health.registry import HealthRegistry
from .release import find_release
from .settings import (
    DEFAULT_ENVVAR_PREFIX,
    load_settings,
    setting_names,
    warn_about_secret_key,
)
from .state import EXTENSION_KEY, ProdReadyState, get_state

__all__ = ["EXTENSION_KEY", "PARTS", "Part", "ProdReady", "ProdReadyState", "get_state"]


@dataclass(frozen=True)
class Part:
    """One part of the extension, registered by ``init_app`` when its setting is on.

    :param name: the part's name, e.g. ``dashboard``.
    :param setting: the boolean setting that switches it on, e.g.
        ``PRODREADY_DASHBOARD_ENABLED``.
    :param init: ``module:function`` called as ``function(app, state)``; the module is only
        imported when the part is on.
    :param add_on: a part the core can run without (the dashboard): when its module is not
        installed, ``init_app`` skips it.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``add_on``.
    """

    name: str
    setting: str
    init: str
    add_on: bool = False

    def installed(self) -> bool:
        """Whether the part's module can be imported (always true for a core part)."""
        return not self.add_on or _module_installed(self.init.partition(":")[0])

    def load(self) -> Callable[[Flask, ProdReadyState], None]:
        """Import and return the part's set-up function."""
        module_name, _, function_name = self.init.partition(":")
        module = importlib.import_module(module_name)
        function: Callable[[Flask, ProdReadyState], None] = getattr(module, function_name)
        return function


#: The parts, in the order ``init_app`` registers them. Settings come first, before any
#: part, because every part reads them. An add-on reads only the parts before it.
PARTS: tuple[Part, ...] = (
    Part(
        "request_id", "PRODREADY_REQUEST_ID_ENABLED", "flask_prodready.request_id:init_request_id"
    ),
    Part("logs", "PRODREADY_LOGS_ENABLED", "flask_prodready.logs:init_logs"),
    Part("errors", "PRODREADY_ERRORS_ENABLED", "flask_prodready.errors:init_errors"),
    Part("metrics", "PRODREADY_METRICS_ENABLED", "flask_prodready.metrics:init_metrics"),
    Part("health", "PRODREADY_HEALTH_ENABLED", "flask_prodready.health:init_health"),
    Part("profiling", "PRODREADY_PROFILING_ENABLED", "flask_prodready.profiling:init_profiling"),
    Part("json", "PRODREADY_JSON_ORJSON", "flask_prodready.json:init_json"),
    Part("jobs", "PRODREADY_JOBS_ENABLED", "flask_prodready.jobs:init_jobs"),
    Part("outgoing", "PRODREADY_OUTGOING_ENABLED", "flask_prodready.outgoing:init_outgoing"),
    Part(
        "dashboard",
        "PRODREADY_DASHBOARD_ENABLED",
        "flask_prodready.dashboard:init_dashboard",
        add_on=True,
    ),
    Part("alerts", "PRODREADY_ALERTS_ENABLED", "flask_prodready.alerts:init_alerts"),
)


@functools.cache
def _module_installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


class ProdReady:
    """Make a Flask app production-ready: settings, and the parts switched on by them.

    ::

        app = Flask(__name__)
        prodready = ProdReady(app)

        # or, in an app factory
        prodready = ProdReady(validators=[Validator("DATABASE_URL", must_exist=True)])

        def create_app():
            app = Flask(__name__)
            prodready.init_app(app)
            return app

    The object stores no app: one ``ProdReady`` serves any number of apps, each with its
    own settings and state in ``app.extensions["prodready"]``.

    Health checks registered on :attr:`health` run in every app set up by the object,
    including apps set up before the check was registered::

        @prodready.health.check("database", critical=True, timeout=2.0)
        def database() -> None:
            db.session.execute(text("SELECT 1"))

    :param app: the app to set up now; leave it out and call :meth:`init_app` later.
    :param validators: dynaconf validators for the app's own settings, checked at start-up
        together with the extension's.
    :param settings_files: settings files to read instead of ``settings.toml`` and
        ``.secrets.toml``; relative paths are relative to ``app.root_path``.
    :param envvar_prefix: prefix of the environment variables that override settings
        (``FLASK_DATABASE_URL`` sets ``DATABASE_URL``).
    :param overrides: extension settings that win over every other source, named with or
        without the ``PRODREADY_`` prefix, e.g. ``dashboard_enabled=False``.
    :raises TypeError: for an override that names no setting.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        validators: Iterable[Validator] = (),
        settings_files: Sequence[str | os.PathLike[str]] | None = None,
        envvar_prefix: str = DEFAULT_ENVVAR_PREFIX,
        **overrides: Any,
    ) -> None:
        self.validators: tuple[Validator, ...] = tuple(validators)
        for validator in self.validators:
            if not isinstance(validator, Validator):
                raise TypeError(
                    f"validators must be dynaconf Validator objects, got {type(validator).__name__}"
                )
        self.settings_files = None if settings_files is None else tuple(settings_files)
        self.envvar_prefix = envvar_prefix
        self.overrides: Mapping[str, Any] = MappingProxyType(_normalise_overrides(overrides))
        #: Alert rules added in code (``flask_prodready.alerts.parse_rule``), besides those
        #: of the settings; read by ``init_app``.
        self.alert_rules: list[Any] = []
        #: The health checks of every app set up by this object; see
        #: :class:`~flask_prodready.health.HealthRegistry`.
        self.health: HealthRegistry = HealthRegistry()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Load and validate the settings of ``app``, then register the parts that are on.

        All start-up work happens here, once.

        :param app: the app to set up.
        :raises SetupError: if flask-prodready was already set up on ``app``.
        :raises ConfigError: if the settings are missing, malformed or invalid. Under the
            ``flask`` command it is a :class:`~flask_prodready.cli.CommandLineConfigError`,
            which the command prints without a traceback.

        In the ``production`` environment, a missing or weak ``SECRET_KEY`` is logged as one
        warning (``flask prodready check`` fails on it).
        """
        if EXTENSION_KEY in app.extensions:
            raise SetupError(
                f"flask-prodready is already set up on the app {app.name!r}. Call init_app "
                "once per app: with ProdReady(app), do not also call init_app(app)."
            )
        try:
            loaded = load_settings(
                app,
                settings_files=self.settings_files,
                envvar_prefix=self.envvar_prefix,
                validators=self.validators,
                overrides=self.overrides,
            )
        except ConfigError as exc:
            from .cli import for_flask_command

            shown = for_flask_command(exc)
            if shown is exc:
                raise
            # Still a ConfigError; the flask command prints its message, without a traceback.
            raise shown from None
        enabled = tuple(
            part for part in PARTS if loaded.values.get(part.setting) and part.installed()
        )
        state = ProdReadyState(
            self,
            loaded,
            tuple(part.name for part in enabled),
            release=find_release(app.import_name, loaded.values, sources=loaded.sources),
        )
        app.extensions[EXTENSION_KEY] = state
        try:
            for part in enabled:
                part.load()(app, state)
            _init_proxies(app, state)
        except BaseException:
            # A part refused its settings: leave no half-set-up state behind.
            del app.extensions[EXTENSION_KEY]
            raise
        warn_about_secret_key(app, loaded)  # after the logs part: in the app's log format
        from .cli import prodready_cli

        app.cli.add_command(prodready_cli)

    def __repr__(self) -> str:
        return f"<ProdReady envvar_prefix={self.envvar_prefix!r}>"


def _init_proxies(app: Flask, state: ProdReadyState) -> None:
    """Behind ``PRODREADY_TRUSTED_PROXIES`` proxies, take the client's address, scheme, host
    and port from their ``X-Forwarded-*`` headers (werkzeug's ``ProxyFix``).

    It wraps every part's middleware, so that the access log, metrics, the ``/metrics`` and
    health access rules and the app all see the same client.
    """
    proxies: int = state.setting("PRODREADY_TRUSTED_PROXIES")
    if not proxies:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
    )


def _normalise_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    normalised = {}
    for name, value in overrides.items():
        key = name.upper()
        if not key.startswith("PRODREADY_"):
            key = f"PRODREADY_{key}"
        if key not in setting_names():
            close = difflib.get_close_matches(key, setting_names(), n=1)
            hint = f"; did you mean {close[0].removeprefix('PRODREADY_').lower()}?" if close else ""
            raise TypeError(f"ProdReady() got an unknown setting {name!r}{hint}")
        normalised[key] = value
    return normalised

"""What flask-prodready knows about one app: :class:`ProdReadyState`, in ``app.extensions``.

The state depends on the settings only. Each part's object has a typed field of its own,
set by the part's ``init_*`` function when the part is on and ``None`` when it is off; the
part types are named for the type checker only, so importing this module imports no part.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .exceptions import NotInitialisedError
from .release import UNKNOWN_RELEASE, Release
from .settings import LoadedSettings

if TYPE_CHECKING:
    from .alerts import AlertEngine
    from .errors import ErrorHandlers
    from .extension import ProdReady
    from .health.runner import HealthRunner
    from .jobs import Jobs
    from .logs import AccessLog
    from .metrics import Metrics
    from .outgoing import OutgoingCalls
    from .pipeline import RequestPipeline
    from .profiling import ProfileCapture
    from .recording import ErrorRecorder
    from .request_id import RequestIdConfig
    from .sql import SqlWatcher
    from .store import ErrorStore

__all__ = ["EXTENSION_KEY", "ProdReadyState", "get_state"]

#: The key of the extension's state in ``app.extensions``.
EXTENSION_KEY = "prodready"


@dataclass(eq=False)
class ProdReadyState:
    """Everything flask-prodready knows about one app, in ``app.extensions["prodready"]``.

    :param extension: the :class:`~flask_prodready.ProdReady` object that set the app up.
    :param settings: how the settings were loaded, their sources and the typed
        ``PRODREADY_*`` values.
    :param parts: the names of the parts that were registered, in order.
    :param release: the app's running release (:mod:`flask_prodready.release`).

    Every other field holds one part's object, or ``None`` while that part is off. Parts
    read each other only through these fields, never through the part's module globals.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       One typed field per part instead of the ``components`` dictionary, which remains as
       a read-only view.
    """

    extension: ProdReady
    settings: LoadedSettings
    parts: tuple[str, ...]
    release: Release = field(default=Release(UNKNOWN_RELEASE, "none"))
    #: The per-request WSGI pipeline around ``app.wsgi_app``, made by the first part that
    #: needs it.
    pipeline: RequestPipeline | None = None
    #: How request ids are read and echoed (the ``request_id`` part).
    request_ids: RequestIdConfig | None = None
    #: The access log and its slow-request record (the ``logs`` part).
    logs: AccessLog | None = None
    #: The app's error handlers as the ``errors`` part completed them.
    error_handlers: ErrorHandlers | None = None
    #: Records unexpected exceptions into :attr:`error_store` (the ``errors`` part).
    error_recorder: ErrorRecorder | None = None
    #: Where errors, samples, alert state and instance heartbeats are kept.
    error_store: ErrorStore | None = None
    #: The app's Prometheus metrics (the ``metrics`` part).
    metrics: Metrics | None = None
    #: Runs the health checks (the ``health`` part).
    health: HealthRunner | None = None
    #: Per-request profiles (the ``profiling`` part).
    profiling: ProfileCapture | None = None
    #: SQL counts and N+1 detection, once :func:`~flask_prodready.sql.watch_sql` ran.
    sql: SqlWatcher | None = None
    #: The alert engine (the ``alerts`` part).
    alerts: AlertEngine | None = None
    #: What every job run of the app reads (the ``jobs`` part).
    jobs: Jobs | None = None
    #: Calls to other services (the ``outgoing`` part).
    outgoing: OutgoingCalls | None = None
    #: The objects of add-on parts that the core does not know, such as the dashboard, by
    #: part name. Each add-on reads its own entry and checks its type.
    add_ons: dict[str, object] = field(default_factory=dict)

    @property
    def environment(self) -> str:
        """The settings environment, e.g. ``production``."""
        return self.settings.environment

    def setting(self, name: str) -> Any:
        """The validated value of the ``PRODREADY_*`` setting ``name``."""
        return self.settings.values[name]

    @property
    def components(self) -> Mapping[str, object]:
        """The parts' objects by name, read-only: ``"error_store"``, ``"metrics"``, …

        .. deprecated:: 0.2
           Read the typed fields instead, e.g. :attr:`error_store`.
        """
        return _Components(self)


#: ``components`` keys of 0.1 whose field has another name.
_RENAMED = {"request_id": "request_ids", "errors": "error_handlers"}
_SKIPPED = frozenset({"extension", "settings", "parts", "release", "add_ons", "pipeline"})


class _Components(Mapping[str, object]):
    """The 0.1 ``components`` dictionary, as a read-only view of the typed fields."""

    def __init__(self, state: ProdReadyState) -> None:
        self._state = state

    def _items(self) -> dict[str, object]:
        state = self._state
        names = {value: key for key, value in _RENAMED.items()}
        found: dict[str, object] = {}
        for each in fields(state):
            if each.name in _SKIPPED:
                continue
            value = getattr(state, each.name)
            if value is not None:
                found[names.get(each.name, each.name)] = value
        found.update(state.add_ons)
        return found

    def __getitem__(self, key: str) -> object:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())


def get_state(app: Flask | None = None) -> ProdReadyState:
    """The flask-prodready state of ``app``, or of the current app.

    :param app: the app; defaults to :data:`flask.current_app`.
    :raises NotInitialisedError: if flask-prodready was not set up on the app.

    .. versionadded:: 0.1
    """
    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        state: ProdReadyState = target.extensions[EXTENSION_KEY]
    except KeyError:
        raise NotInitialisedError(
            f"flask-prodready is not set up on the app {target.name!r}. Did you forget to "
            "call ProdReady(app) or prodready.init_app(app)?"
        ) from None
    return state

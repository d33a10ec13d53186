"""Flask: ``g.prodready_request_id`` as a read-through attribute of the app's ``g`` class.

Checked against Flask 3.0 to 3.1: ``Flask.app_ctx_globals_class`` is the class of ``g``,
made per app context, and its ``get`` and ``__contains__`` are what ``g.get(name)`` and
``name in g`` call. Mixing a read-through property into that class costs nothing per
request, unlike a ``before_request`` hook, and stays right when a test reuses one app
context for several requests.

When the app's class cannot take the mix-in (a class that refuses subclassing, a metaclass
conflict, a future Flask that makes ``g`` something else), :func:`expose_request_id_on_g`
falls back to a ``before_request`` hook that sets the attribute: the same value inside a
request, at the price of one hook per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, g

__all__ = ["G_ATTRIBUTE", "expose_request_id_on_g", "mixes_into_g_class"]

#: The name of the request id in ``g``.
G_ATTRIBUTE = "prodready_request_id"


def mixes_into_g_class(app: Flask) -> bool:
    """Whether ``app.app_ctx_globals_class`` is a class our mix-in can extend."""
    kind = getattr(app, "app_ctx_globals_class", None)
    return isinstance(kind, type) and hasattr(kind, "get") and hasattr(kind, "__contains__")


def expose_request_id_on_g(app: Flask, current_id: Callable[[], str | None]) -> None:
    """Make ``g.prodready_request_id`` (and ``g.get``, ``in g``) give ``current_id()``.

    Idempotent: a second call on the same app changes nothing.

    :param app: the app.
    :param current_id: returns the current request id, or ``None`` outside a request.

    .. versionadded:: 0.2
    """
    kind = app.app_ctx_globals_class
    if isinstance(kind, type) and issubclass(kind, _RequestIdGlobals):
        return
    if mixes_into_g_class(app):
        try:
            mixed = type("ProdReadyGlobals", (_RequestIdGlobals, kind), {"_current_id": None})
        except TypeError:
            pass  # a class that refuses our base: the hook below gives the same value
        else:
            mixed._current_id = staticmethod(current_id)  # type: ignore[attr-defined]
            app.app_ctx_globals_class = mixed  # type: ignore[assignment]
            return
    if getattr(app, "_prodready_g_hook", False):
        return

    def set_request_id_on_g() -> None:
        setattr(g, G_ATTRIBUTE, current_id())

    app.before_request(set_request_id_on_g)
    app._prodready_g_hook = True  # type: ignore[attr-defined]


class _RequestIdGlobals:
    """Mixed into ``app.app_ctx_globals_class``: ``g.prodready_request_id``, read-only."""

    _current_id: Callable[[], str | None]

    @property
    def prodready_request_id(self) -> str | None:
        """The current request id (see :func:`flask_prodready.request_id.request_id`)."""
        return self._current_id()

    def get(self, name: str, default: Any = None) -> Any:
        if name == G_ATTRIBUTE:
            value = self._current_id()
            return default if value is None else value
        return super().get(name, default)  # type: ignore[misc]

    def __contains__(self, item: str) -> bool:
        if item == G_ATTRIBUTE:
            return self._current_id() is not None
        return bool(super().__contains__(item))  # type: ignore[misc]

"""Adding our routes (health, metrics, dashboard) cheaply: URL builders compiled on first use.

When a rule is added, werkzeug writes and compiles two Python functions that build its URL
for ``url_for``: about 0.3 ms a rule, most of what ``init_app`` costs for a dozen routes, paid
again by every app a test suite builds. Inside :func:`lazy_url_builders` the app's rule class
is replaced, for our rules only, by a subclass of it that compiles those functions on the first
``url_for`` of the rule instead. Matching, ``url_for`` results and the rule's ``repr`` are
unchanged; the app's own rules keep the app's class.

.. versionadded:: 0.2
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

__all__ = ["lazy_url_builders"]

_classes: dict[type[Rule], type[Rule]] = {}
_classes_lock = threading.Lock()
_UNSET = object()


class _LazyBuilders:
    """Mixin for a werkzeug rule class: build functions compiled when first called."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., Any]:
        compile_now = super()._compile_builder  # type: ignore[misc]
        compiled: list[Callable[..., Any]] = []

        def build(rule: Rule, *args: Any, **kwargs: Any) -> Any:
            if not compiled:  # two threads may both compile: the same function, harmless
                compiled.append(compile_now(append_unknown))
            return compiled[0](rule, *args, **kwargs)

        return build


def _lazy_class(base: type[Rule]) -> type[Rule]:
    """``base`` with lazy builders, under ``base``'s own name (``repr`` stays the same)."""
    if issubclass(base, _LazyBuilders):  # nested blocks, or a class built on ours
        return base
    with _classes_lock:
        lazy = _classes.get(base)
        if lazy is None:
            lazy = type(base.__name__, (_LazyBuilders, base), {"__module__": base.__module__})
            lazy.__qualname__ = base.__qualname__
            _classes[base] = lazy
    return lazy


@contextmanager
def lazy_url_builders(app: Flask) -> Iterator[None]:
    """Within the block, rules added to ``app`` compile their URL builders on first use.

    ::

        with lazy_url_builders(app):
            app.register_blueprint(blueprint)

    The app's ``url_rule_class`` is restored afterwards, as it was (a class attribute or one
    set on the app).
    """
    own = app.__dict__.get("url_rule_class", _UNSET)
    base = app.url_rule_class
    if not (isinstance(base, type) and issubclass(base, Rule)):
        yield  # an app with an unusual rule factory: leave it alone
        return
    app.url_rule_class = _lazy_class(base)
    try:
        yield
    finally:
        if own is _UNSET:
            del app.url_rule_class
        else:
            app.url_rule_class = own

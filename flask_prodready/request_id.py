"""Request ids and W3C trace context: accept, mint, echo and propagate them.

An incoming id (header ``X-Request-ID`` unless ``PRODREADY_REQUEST_ID_HEADER`` says
otherwise) is kept only when it is 1 to 128 characters, each a letter, a digit or one of
``. _ : @ / + = -``. That admits UUIDs, nginx's ``$request_id`` (32 hex digits), Heroku's
ids and most tracing ids, and keeps out anything that could break a log line or a header
(spaces, quotes, CR/LF, non-ASCII). Anything else is replaced by a fresh id, a UUID4 in 32
hex digits.

A valid W3C ``traceparent`` (version ``00``) gives the trace id; the request gets a span id of
its own, and :func:`outgoing_headers` passes both on to the services it calls.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context
from loguru import logger

from .compat.flask import G_ATTRIBUTE, expose_request_id_on_g
from .pipeline import pipeline
from .settings.casts import BOOL, HEADER_NAME
from .settings.schema import Setting

if TYPE_CHECKING:
    from .state import ProdReadyState

__all__ = [
    "DEFAULT_HEADER",
    "RequestIdConfig",
    "TraceContext",
    "add_request_context",
    "bind_context",
    "current_trace",
    "init_request_id",
    "is_valid_request_id",
    "new_request_id",
    "outgoing_headers",
    "parse_traceparent",
    "request_id",
]

#: The settings the ``request_id`` part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_REQUEST_ID_ENABLED",
        True,
        BOOL,
        "Give every request an id: read from the request id header when valid, else minted; "
        "echoed on every response and bound to every log line of the request.",
    ),
    Setting(
        "PRODREADY_REQUEST_ID_HEADER",
        "X-Request-ID",
        HEADER_NAME,
        "The header the request id is read from and echoed in.",
    ),
    Setting(
        "PRODREADY_REQUEST_ID_TRUST_INCOMING",
        True,
        BOOL,
        "Keep a valid incoming request id. Turn off when clients must never choose the id "
        "(then every request gets a fresh one).",
    ),
)

#: The header read and echoed unless ``PRODREADY_REQUEST_ID_HEADER`` names another.
DEFAULT_HEADER = "X-Request-ID"
#: The W3C trace context header.
TRACEPARENT_HEADER = "traceparent"
#: The name of the request id on :data:`flask.g`.
G_REQUEST_ID = G_ATTRIBUTE

_VALID_ID = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_HEX32 = re.compile(r"[0-9a-f]{32}")
_ZERO_SPAN = "0" * 16

#: The current request: its id (``None`` with request ids off) and its breadcrumbs
#: (``[limit, line, line, ...]``, see :mod:`flask_prodready.logs`) or ``None``. One context
#: variable for both, as every ``set`` copies the context. A job's run binds a list
#: ``[id, breadcrumbs, log fields, trace context]`` instead (see
#: :mod:`flask_prodready.jobs.run`), which it empties in place when it ends.
_scope: ContextVar[tuple[str | None, list[Any] | None] | list[Any] | None] = ContextVar(
    "prodready_request", default=None
)
_trace: ContextVar[TraceContext | None] = ContextVar("prodready_trace", default=None)

_random_bits = random.getrandbits
_BIT_128 = 1 << 128
_BIT_64 = 1 << 64

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class TraceContext:
    """The W3C trace context of the current request.

    :param trace_id: 32 hex digits shared by every span of the trace.
    :param span_id: 16 hex digits naming this request's own span.
    :param parent_span_id: the caller's span id, from the incoming ``traceparent``.
    :param flags: the trace flags, two hex digits (``01`` = sampled).

    .. versionadded:: 0.1
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    flags: str = "01"

    def traceparent(self) -> str:
        """The ``traceparent`` value naming this request's span as the parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def is_valid_request_id(value: str) -> bool:
    """Tell whether an incoming request id is kept (see the module documentation).

    ::

        >>> is_valid_request_id("7f3b9c1e8f2a4d5b9c0e1f2a3b4c5d6e"), is_valid_request_id("a b")
        (True, False)

    .. versionadded:: 0.1
    """
    return _VALID_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh, unique request id: 128 random bits as 32 hex digits.

    The same shape as nginx's ``$request_id``, and usable as a W3C trace id. The bits come
    from :mod:`random` (seeded from the OS, and again in every forked worker): ids must be
    unique, not unguessable, and this is four times cheaper than ``secrets``.

    .. versionadded:: 0.1
    """
    # 1 << 128 added makes every id 32 digits long after "0x1"; cheaper than a format spec.
    return hex(_random_bits(128) | _BIT_128)[3:]


def _new_span_id() -> str:
    """A W3C span id: 64 random bits, never all zero, as 16 hex digits (from :mod:`random`,
    as request ids: unique, not secret, with no system call)."""
    return hex((_random_bits(64) or 1) | _BIT_64)[3:]


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """``(trace_id, parent_span_id, flags)`` of a valid version-00 ``traceparent``, else None.

    .. versionadded:: 0.1
    """
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    trace_id, parent_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def request_id() -> str | None:
    """The current request's id; ``None`` outside a request.

    It also holds inside work started with :func:`bind_context`, and is on
    ``flask.g.prodready_request_id`` during the request.

    .. versionadded:: 0.1
    """
    scope = _scope.get()
    return None if scope is None else scope[0]


def current_trace() -> TraceContext | None:
    """The current request's W3C trace context, or ``None`` when it came without one.

    .. versionadded:: 0.1
    """
    scope = _scope.get()
    if type(scope) is list:  # a job's run keeps its span in its scope
        trace: TraceContext | None = scope[3]
        return trace
    return _trace.get()


def outgoing_headers(header: str | None = None) -> dict[str, str]:
    """Headers that pass the current request id and trace on to a service you call.

    ::

        requests.get(url, headers=flask_prodready.outgoing_headers())

    The result holds the request id under the app's request id header, and a
    ``traceparent`` whose parent is this request's span. When the request came without one,
    the trace is a new one, the same for every call of the request: its id is the request
    id when that is 32 hexadecimal digits, else derived from it. Outside a request it is
    empty.

    :param header: the request id header's name; by default the current app's
        ``PRODREADY_REQUEST_ID_HEADER``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``header``; the calls of one request share one trace id whatever its request id.
    """
    rid = request_id()
    if rid is None:
        return {}
    if header is None:
        header = DEFAULT_HEADER
        if has_app_context():
            header = current_app.config.get("PRODREADY_REQUEST_ID_HEADER", DEFAULT_HEADER)
    trace = current_trace()
    if trace is None:
        trace_id = rid if _HEX32.fullmatch(rid) and rid != _ZERO_TRACE else _trace_id_of(rid)
        trace = TraceContext(trace_id, _new_span_id(), None)
    return {header: rid, TRACEPARENT_HEADER: trace.traceparent()}


def _trace_id_of(rid: str) -> str:
    """A W3C trace id for a request id that is not one: 32 hex digits derived from it."""
    return hashlib.blake2b(rid.encode("utf-8", "replace"), digest_size=16).hexdigest()


def bind_context(function: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``function`` to run with the caller's request id and log context.

    Threads and executors start with an empty context; the wrapper carries a copy of the
    caller's (``contextvars.copy_context``), so ``request_id()`` and the request id in log
    lines hold inside the work::

        executor.submit(bind_context(send_receipt), order_id)
        threading.Thread(target=bind_context(rebuild_index)).start()

    .. versionadded:: 0.1
    """
    context = copy_context()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run


@dataclass
class RequestIdConfig:
    """How the app's request ids are read and echoed, in ``get_state(app).request_ids``.

    :param header: the header the id is read from and echoed in.
    :param trust_incoming: keep a valid incoming id instead of minting one.

    .. versionadded:: 0.2
    """

    header: str
    trust_incoming: bool

    @property
    def environ_key(self) -> str:
        """The WSGI environ key of :attr:`header`, e.g. ``HTTP_X_REQUEST_ID``."""
        return "HTTP_" + self.header.upper().replace("-", "_")


_TRACEPARENT_KEY = "HTTP_TRACEPARENT"


def add_request_context(record: dict[str, Any]) -> None:
    """Put the current ``request_id`` (and ``trace_id``, ``span_id``) into a loguru record.

    Installed as loguru's patcher by ``init_app``, so every sink, ours or yours, sees the id
    in ``record["extra"]`` without any per-request cost. If your app configures its own
    patcher, call this function from it.

    .. versionadded:: 0.1
    """
    scope = _scope.get()
    rid = None if scope is None else scope[0]
    if rid is None:
        return
    extra = record["extra"]
    extra.setdefault("request_id", rid)
    if type(scope) is list:  # a job's run: its name, parent and span
        for key, value in scope[2].items():
            extra.setdefault(key, value)
        trace = scope[3]
    else:
        trace = _trace.get()
    if trace is not None:
        extra.setdefault("trace_id", trace.trace_id)
        extra.setdefault("span_id", trace.span_id)


def init_request_id(app: Flask, state: ProdReadyState) -> None:
    """Register request id handling on ``app`` (the ``request_id`` part).

    :param app: the app being set up.
    :param state: the app's :class:`~flask_prodready.ProdReadyState`.

    .. versionadded:: 0.1
    """
    config = RequestIdConfig(
        header=state.setting("PRODREADY_REQUEST_ID_HEADER"),
        trust_incoming=state.setting("PRODREADY_REQUEST_ID_TRUST_INCOMING"),
    )
    state.request_ids = config

    # Process-wide and idempotent, like loguru's logger itself.
    logger.configure(patcher=add_request_context)  # type: ignore[arg-type]
    pipeline(app, state).set_request_ids(_Binder(config), config.header)

    expose_request_id_on_g(app, request_id)


class _Binder:
    """Binds the request id and trace context around the app (the ``request_id`` stage)."""

    def __init__(self, config: RequestIdConfig) -> None:
        self.trust_incoming = config.trust_incoming
        self.environ_key = config.environ_key
        #: Log lines kept per request for recorded errors, set by the logs part (0: none).
        self.breadcrumbs = 0

    def bind(self, environ: dict[str, Any]) -> tuple[str, object]:
        incoming = environ.get(self.environ_key) if self.trust_incoming else None
        if incoming is not None and is_valid_request_id(incoming):
            rid = incoming
        else:
            rid = hex(_random_bits(128) | _BIT_128)[3:]  # new_request_id(), inlined
        id_token = _scope.set((rid, [self.breadcrumbs] if self.breadcrumbs else None))
        traceparent = environ.get(_TRACEPARENT_KEY)
        tokens: object
        if traceparent is not None:
            trace = None
            parsed = parse_traceparent(traceparent)
            if parsed is not None:
                trace_id, parent, flags = parsed
                trace = TraceContext(trace_id, _new_span_id(), parent, flags)
            tokens = (id_token, _trace.set(trace))
        elif _trace.get() is not None:
            # Most requests come without one: no trace to bind, unless one is bound already
            # (an app called from inside another request), which must not show through.
            tokens = (id_token, _trace.set(None))
        else:
            tokens = id_token
        if incoming is not None and rid is not incoming:
            # Escaped and cut short: the raw value may hold CR/LF or megabytes.
            logger.debug(
                "replaced an invalid incoming request id {shown} ({length} characters)",
                shown=ascii(incoming[:24]) + ("..." if len(incoming) > 24 else ""),
                length=len(incoming),
            )
        return rid, tokens

    def unbind(self, tokens: object) -> None:
        try:
            if type(tokens) is tuple:
                _trace.reset(tokens[1])
                _scope.reset(tokens[0])
            else:
                _scope.reset(tokens)  # type: ignore[arg-type]
        except ValueError:  # reset in another context than it was set in
            _trace.set(None)
            _scope.set(None)

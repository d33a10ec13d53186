"""The sink: where every line goes (a stream or a rotating file), failures counted, not raised.

loguru calls :class:`Sink` for each record it lets through; the access line is handed to
:meth:`Sink.write_bytes` directly. The sink also feeds the request's breadcrumbs and offers
lines to the shipper (see :mod:`.shipping`). :class:`SinkShape` is what a sink is made
from: an app wanting the same shape keeps the installed sink.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from flask_prodready.request_id import _scope

from .render import SCHEMA_FIELDS, dumps, render_json

if TYPE_CHECKING:
    from .levels import Levels
    from .shipping import LineShipper

__all__ = ["RotatingFile", "Sink", "SinkShape"]


class SinkShape(NamedTuple):
    """What a loguru handler is added with: an app wanting the same keeps it."""

    destination: str
    json_lines: bool
    max_bytes: int | None  # with backups, only for a file destination
    backups: int | None
    colorize: bool
    diagnose: bool


class RotatingFile:
    """Append to a file, rotating it to ``.1``, ``.2``… when it grows past ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: IO[bytes] | None = None
        self._size = 0
        self._regular = False

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating first if it would grow the file past ``max_bytes``."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: each line is one write, so a failed write loses only that line.
            self._file = self.path.open("ab", buffering=0)
            self._size = self._file.tell()
            # Devices and pipes (/dev/stdout, /dev/null, a FIFO) are never rotated.
            self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        if (
            self._regular
            and self.max_bytes
            and self._size
            and self._size + len(data) > self.max_bytes
        ):
            self._rotate()
            assert self._file is not None
        self._file.write(data)
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._file = self.path.open("ab", buffering=0)
        self._size = 0

    def close(self) -> None:
        """Close the file; the next write opens it again."""
        if self._file is not None:
            with suppress(OSError):
                self._file.close()
            self._file = None


class Sink:
    """Where lines go: renders, writes, and counts failures instead of raising them.

    loguru calls it for every message; access lines are handed to :meth:`write_bytes` (or
    :meth:`write_payload`) directly. One lock serialises both paths.

    :param shape: the destination and format.
    :param levels: the level filter the sink was installed with.
    :param shipper: where lines at or above ``shipper.level`` are offered.
    :param failed: called with :attr:`label` for each line not rendered or written.
    """

    def __init__(
        self,
        shape: SinkShape,
        levels: Levels,
        shipper: LineShipper,
        failed: Callable[[str], None],
    ) -> None:
        self.shape = shape
        self.destination = shape.destination
        self.json_lines = shape.json_lines
        self.levels = levels
        self.shipper = shipper
        self.failed = failed
        self.file: RotatingFile | None = None
        if shape.max_bytes is not None and shape.backups is not None:
            self.file = RotatingFile(Path(shape.destination), shape.max_bytes, shape.backups)
        self.lock = threading.Lock()

    @property
    def label(self) -> str:
        """The ``sink`` label of the failure counter: ``stdout``, ``stderr`` or ``file``."""
        return self.destination if self.destination in ("stdout", "stderr") else "file"

    def __call__(self, message: Any) -> None:
        scope = _scope.get()
        crumbs = None if scope is None else scope[1]
        record = message.record
        shipper = self.shipper
        shipped = record["level"].no >= shipper.level
        try:
            wanted = self.json_lines or crumbs is not None or shipped
            json_line = render_json(record) if wanted else b""
            data = json_line if self.json_lines else str(message).encode()
        except Exception:  # counted: a line that cannot be rendered must not fail the caller
            self.failed(self.label)
            return
        if crumbs is not None or shipped:
            text = json_line.decode().rstrip("\n")
            if crumbs is not None:
                crumbs.append(text)
                if len(crumbs) > crumbs[0] + 1:
                    del crumbs[1]
            if shipped:
                shipper.offer(record, text)
        self.write_bytes(data)

    def write_payload(self, payload: dict[str, Any]) -> None:
        """Write one line from a payload already in the JSON schema."""
        if self.json_lines:
            data = dumps(payload)
        else:
            fields = " ".join(
                f"{key}={value!r}" for key, value in payload.items() if key not in SCHEMA_FIELDS
            )
            data = (
                f"{payload['ts'][11:23]} {payload['level']: <8} {payload['request_id'] or '-'} "
                f"{payload['logger']} {payload['message']} {fields}\n"
            ).encode()
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        """Write one rendered line (not named ``write``: loguru would bypass ``__call__``)."""
        try:
            with self.lock:
                if self.file is not None:
                    self.file.write(data)
                    return
                stream = sys.stderr if self.destination == "stderr" else sys.stdout
                buffer = getattr(stream, "buffer", None)
                if buffer is not None:
                    buffer.write(data)
                else:
                    stream.write(data.decode())
                stream.flush()
        except Exception:  # counted: a full disk or closed pipe must never fail the caller
            self.failed(self.label)

    def after_fork(self) -> None:
        """Renew the lock in a forked child."""
        # A lock held by another thread at fork time would stay held in the child forever.
        self.lock = threading.Lock()

    def stop(self) -> None:
        """Close the file, if the sink writes one."""
        if self.file is not None:
            self.file.close()

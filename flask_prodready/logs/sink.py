"""The sink: where every line goes (a stream or a rotating file), failures counted, not raised.

loguru calls :class:`Sink` for each record it lets through; the access line is handed to
:meth:`Sink.write_bytes` directly. The sink also feeds the request's breadcrumbs and offers
lines to the shipper (see :mod:`.shipping`). :class:`SinkShape` is what a sink is made
from: an app wanting the same shape keeps the installed sink.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from flask_prodready.request_id import _scope

from .flusher import schedule
from .render import SCHEMA_FIELDS, dumps, render_json

if TYPE_CHECKING:
    from .levels import Levels
    from .shipping import LineShipper

__all__ = ["HOLD_BYTES", "RotatingFile", "Sink", "SinkShape"]

#: Lines held back are written once they add up to this many bytes, half a pipe's buffer.
HOLD_BYTES = 32 * 1024
#: What a line given to :meth:`Sink.write_later` counts for against ``HOLD_BYTES``, before
#: it is rendered: about an access line's length.
_ENTRY_BYTES = 400
#: Lines at this level (WARNING) and above are written at once, with those held back.
_URGENT_LEVEL = 30


def _runs(lines: list[bytes], limit: int, room: int | None = None) -> list[list[bytes]]:
    """``lines`` in runs of at most ``limit`` bytes, the first one of at most ``room``
    (``limit`` by default); a line longer than that is a run of its own."""
    runs: list[list[bytes]] = []
    run: list[bytes] = []
    size = 0
    space = limit if room is None else room
    for line in lines:
        if run and size + len(line) > space:
            runs.append(run)
            run, size, space = [], 0, limit
        run.append(line)
        size += len(line)
    if run:
        runs.append(run)
    return runs


def _atomic_chunks(lines: list[bytes]) -> list[list[bytes]]:
    """``lines`` in runs of at most ``PIPE_BUF`` bytes (one line may be longer).

    A write of at most ``PIPE_BUF`` bytes to a pipe is atomic: gunicorn workers sharing one
    stdout never interleave their lines, as they did not when each line was one write.
    """
    return _runs(lines, _PIPE_BUF)


def keep_breadcrumb(crumbs: list[Any], line: str) -> None:
    """Append ``line`` to a request's breadcrumbs (``[limit, line, ...]``), dropping the
    oldest beyond the limit."""
    crumbs.append(line)
    if len(crumbs) > crumbs[0] + 1:
        del crumbs[1]


_PIPE_BUF = select.PIPE_BUF
_getpid = os.getpid


class SinkShape(NamedTuple):
    """What a loguru handler is added with: an app wanting the same keeps it."""

    destination: str
    json_lines: bool
    max_bytes: int | None  # with backups, only for a file destination
    backups: int | None
    colorize: bool
    diagnose: bool
    #: How long lines may be held back to be written together; 0 writes each at once.
    flush_seconds: float = 0.0


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
        """Append ``data``, rotating first if it would grow the file past ``max_bytes``.

        Several lines written as one are split where the file must rotate, so that no
        file grows past ``max_bytes`` (unless one line alone is longer).
        """
        if self._file is None:
            self._open()
        if self._regular and self.max_bytes and self._size + len(data) > self.max_bytes:
            parts = data.split(b"\n")
            lines = [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
            # The first run fills this file; each later one a fresh file (_append rotates).
            for run in _runs(lines, self.max_bytes, self.max_bytes - self._size):
                self._append(b"".join(run))
            return
        self._append(data)

    def takes_whole_writes(self) -> bool:
        """Whether one write of many lines reaches the file whole: a regular file opened
        to append does; a pipe or a device path (``/dev/stdout``, a FIFO) only up to
        ``PIPE_BUF``. Opens the file if needed.
        """
        if self._file is None:
            self._open()
        return self._regular

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: what the sink hands over is one write.
        self._file = self.path.open("ab", buffering=0)
        self._size = self._file.tell()
        # Devices and pipes (/dev/stdout, /dev/null, a FIFO) are never rotated.
        self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)

    def _append(self, data: bytes) -> None:
        if self._file is None:
            self._open()
        if (
            self._regular
            and self.max_bytes
            and self._size
            and self._size + len(data) > self.max_bytes
        ):
            self._rotate()
            assert self._file is not None
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

    With ``shape.flush_seconds``, lines are held back for that long (or until
    :data:`HOLD_BYTES` wait) and written as one; a line at WARNING or above is written at
    once, with every line before it, so that what explains a crash is never held back.
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
        #: Seconds a line may wait to be written with others (the flusher reads it).
        self.flush_seconds = shape.flush_seconds
        #: Lines held back: rendered, or entries of :meth:`write_later` to render.
        self._held: list[bytes | tuple[Any, ...]] = []
        self._held_bytes = 0
        self._held_stream: Any = None
        self._scheduled = False
        self._pid = _getpid()

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
                keep_breadcrumb(crumbs, text)
            if shipped:
                shipper.offer(record, text)
        self.write_bytes(data, urgent=record["level"].no >= _URGENT_LEVEL)

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

    def write_bytes(self, data: bytes, urgent: bool = False) -> None:
        """Write one rendered line (not named ``write``: loguru would bypass ``__call__``).

        :param urgent: write it, and every line held back, at once.
        """
        self.write_later(data, len(data), urgent)

    def write_later(
        self, line: bytes | tuple[Any, ...], size: int = _ENTRY_BYTES, urgent: bool = False
    ) -> None:
        """Write a line, held back as long as the sink holds lines.

        :param line: the rendered line, or an entry whose ``entry[0](entry)`` renders it,
            only when it is written: a line held back then costs its caller only the capture
            of its values, and lines rendered one after another cost less than each on its
            own. The renderer runs in whichever thread writes the line (the flusher's,
            usually); a failure is counted, like a failed write.
        :param size: what the line counts for against :data:`HOLD_BYTES`.
        :param urgent: write it, and every line held back, at once.

        .. versionadded:: 0.2
        """
        if self.flush_seconds and _getpid() != self._pid:
            # Forked without Python's fork hooks (uWSGI's default): a lock another thread
            # held stays held here, and the held lines are the parent's to write.
            self.after_fork()
        try:
            with self.lock:
                # Looked up per line: sys.stdout may be replaced at any time.
                if self.file is not None:
                    stream = None
                elif self.destination == "stderr":
                    stream = sys.stderr
                else:
                    stream = sys.stdout
                if not self.flush_seconds or not (
                    stream is None or stream is sys.__stdout__ or stream is sys.__stderr__
                ):
                    # A stream put in place of the process's own (a test runner's capture,
                    # redirect_stdout) is read in-process, costs no system call, and is
                    # often read at once: its lines are not held back.
                    if self._held:
                        self._write_held()
                    data = self._bytes_of(line)
                    if data is not None:
                        self._write(data, stream)
                    return
                if stream is not self._held_stream:
                    # From stdout to stderr (send_to_stderr): held lines go where they were.
                    self._write_held()
                    self._held_stream = stream
                self._held.append(line)
                self._held_bytes += size
                if urgent or self._held_bytes >= HOLD_BYTES:
                    self._write_held()
                elif not self._scheduled:
                    self._scheduled = True
                    if not schedule(self):  # exiting, or no thread: nothing would write it
                        self._write_held()
        except Exception:  # counted: a full disk or closed pipe must never fail the caller
            self.failed(self.label)

    def _bytes_of(self, line: bytes | tuple[Any, ...]) -> bytes | None:
        """The bytes of a line given to :meth:`write_later`, rendered if it is an entry;
        ``None``, counted, if rendering fails."""
        if isinstance(line, bytes):
            return line
        try:
            data: bytes = line[0](line)
        except Exception:  # counted: one line that cannot be rendered must not lose others
            self.failed(self.label)
            return None
        return data

    def flush(self) -> None:
        """Write the lines held back, now (the flusher thread calls it). Never raises."""
        with self.lock:
            self._write_held()

    def set_flush_seconds(self, seconds: float) -> None:
        """Hold lines back for ``seconds`` from now on (0: none), writing those held now."""
        with self.lock:
            if seconds != self.flush_seconds:
                self._write_held()
                self.flush_seconds = seconds

    def _write_held(self) -> None:
        """Write the held lines as one; called with the lock held. Failures are counted."""
        waiting, self._held, self._held_bytes, self._scheduled = self._held, [], 0, False
        if not waiting:
            return
        held = [data for data in map(self._bytes_of, waiting) if data is not None]
        if not held:
            return
        stream = self._held_stream
        try:
            # A regular file opened to append takes one write whole; a pipe (stdout, or a
            # path such as /dev/stdout or a FIFO) only up to PIPE_BUF.
            whole = len(held) == 1 or (
                stream is None and self.file is not None and self.file.takes_whole_writes()
            )
        except Exception:  # counted per line: the file cannot even be opened
            for _ in held:
                self.failed(self.label)
            return
        for chunk in [held] if whole else _atomic_chunks(held):
            try:
                self._write(chunk[0] if len(chunk) == 1 else b"".join(chunk), stream)
            except Exception:  # counted per line: a full disk must never fail the caller
                for _ in chunk:
                    self.failed(self.label)

    def _write(self, data: bytes, stream: Any) -> None:
        if stream is None:
            assert self.file is not None
            self.file.write(data)
            return
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            buffer.write(data)
        else:
            stream.write(data.decode())
        stream.flush()

    def after_fork(self) -> None:
        """Renew the lock in a forked child, and drop the parent's held lines."""
        # A lock held by another thread at fork time would stay held in the child forever.
        self.lock = threading.Lock()
        # They are the parent's to write (it flushes before forking): never twice.
        self._held, self._held_bytes, self._scheduled = [], 0, False
        self._pid = _getpid()

    def stop(self) -> None:
        """Write the lines held back, and close the file if the sink writes one."""
        self.flush()
        if self.file is not None:
            self.file.close()

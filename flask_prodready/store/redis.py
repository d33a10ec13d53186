"""An error store in Redis, shared by every instance of a service (the ``redis`` extra)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ._types import ErrorGroup, ErrorOccurrence, LogLine, StoreError, StoreLimits

__all__ = [
    "MINUTE_RETENTION_SECONDS",
    "SOCKET_TIMEOUT",
    "RedisErrorStore",
]

#: Seconds a Redis command may take before the store gives up (the request never waits more).
SOCKET_TIMEOUT = 0.5
#: Per-minute counts are kept for at most a day, whatever the retention.
MINUTE_RETENTION_SECONDS = 24 * 3600

# KEYS[1] groups zset, KEYS[2] group hash, KEYS[3] occurrences list, KEYS[4] minute hash
# ARGV: fingerprint, occurrence json, timestamp, group fields json, max occurrences,
#       max groups, minute ttl, prefix
_RECORD = """
local existing = redis.call('HGET', KEYS[2], 'count')
local fields = cjson.decode(ARGV[4])
if existing then
  redis.call('HINCRBY', KEYS[2], 'count', 1)
  local last = tonumber(redis.call('HGET', KEYS[2], 'last_seen'))
  if tonumber(ARGV[3]) > last then redis.call('HSET', KEYS[2], 'last_seen', ARGV[3]) end
  -- regresses(): resolved, then seen in another known release
  local last_release = redis.call('HGET', KEYS[2], 'last_release') or ''
  if redis.call('HGET', KEYS[2], 'resolved') == '1' then
    local regressed = '0'
    if fields.release ~= '' and last_release ~= '' and fields.release ~= last_release then
      regressed = '1'
    end
    redis.call('HSET', KEYS[2], 'regressed', regressed)
  end
  if fields.release ~= '' then redis.call('HSET', KEYS[2], 'last_release', fields.release) end
  redis.call('HSET', KEYS[2], 'message', fields.message, 'route', fields.route,
             'method', fields.method, 'status', fields.status,
             'last_request_id', fields.last_request_id, 'resolved', '0')
else
  redis.call('HSET', KEYS[2], 'fingerprint', ARGV[1], 'exception_type', fields.exception_type,
             'message', fields.message, 'route', fields.route, 'method', fields.method,
             'status', fields.status, 'count', 1, 'first_seen', ARGV[3],
             'last_seen', ARGV[3], 'last_request_id', fields.last_request_id, 'resolved', '0',
             'first_release', fields.release, 'last_release', fields.release, 'regressed', '0')
end
redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[2], 'last_seen'), ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('EXPIRE', KEYS[4], ARGV[7])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])
if extra > 0 then
  local doomed = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  for _, fp in ipairs(doomed) do
    redis.call('DEL', ARGV[8] .. 'group:' .. fp, ARGV[8] .. 'occurrences:' .. fp)
    redis.call('ZREM', KEYS[1], fp)
  end
end
return redis.call('HGETALL', KEYS[2])
"""


# KEYS[1] lease key; ARGV: holder, milliseconds
_LEASE = """
local current = redis.call('GET', KEYS[1])
if (not current) or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisErrorStore:
    """Errors in Redis: a hash per group, a capped list of occurrences, per-minute counts.

    Each record is one atomic Lua script. Commands time out after :data:`SOCKET_TIMEOUT`
    seconds and raise :class:`StoreError`.

    :param url: e.g. ``redis://localhost:6379/0``.
    :param limits: the bounds.
    :param prefix: key prefix, to share one database between apps.

    .. versionadded:: 0.1
    """

    def __init__(
        self, url: str, limits: StoreLimits | None = None, *, prefix: str = "prodready:errors:"
    ) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the extra is missing
            raise StoreError(
                "the Redis error store needs the redis package: pip install flask-prodready[redis]"
            ) from None
        self.limits = limits or StoreLimits()
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry_on_timeout=False,
            decode_responses=True,
        )
        self._script = self._client.register_script(_RECORD)
        self._lease = self._client.register_script(_LEASE)

    def _call(self, work: Any) -> Any:
        try:
            return work()
        except self._errors as exc:
            raise StoreError(f"Redis error store: {type(exc).__name__}: {exc}") from exc

    def record(self, occurrence: ErrorOccurrence) -> ErrorGroup:
        """Add an occurrence to its group; see :class:`~flask_prodready.store.ErrorStore`."""
        o = occurrence
        fields = {
            "exception_type": o.exception_type,
            "message": o.message,
            "route": o.route,
            "method": o.method,
            "status": o.status,
            "last_request_id": o.request_id or "",
            "release": o.release,
        }
        minute = int(o.timestamp // 60) * 60
        keys = [
            f"{self.prefix}groups",
            f"{self.prefix}group:{o.fingerprint}",
            f"{self.prefix}occurrences:{o.fingerprint}",
            f"{self.prefix}minute:{minute}",
        ]
        ttl = int(min(self.limits.retention_seconds, MINUTE_RETENTION_SECONDS)) + 60
        args: list[str | int] = [
            o.fingerprint,
            json.dumps(o.to_dict(), default=str),
            repr(o.timestamp),
            json.dumps(fields),
            self.limits.max_occurrences,
            self.limits.max_groups,
            ttl,
            self.prefix,
        ]
        flat = self._call(lambda: self._script(keys=keys, args=args))
        return _group(dict(zip(flat[::2], flat[1::2], strict=True)))

    def groups(
        self,
        *,
        route: str | None = None,
        status: int | None = None,
        resolved: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ErrorGroup]:
        """Groups, newest first, filtered and paged."""
        fingerprints = self._call(
            lambda: self._client.zrevrange(f"{self.prefix}groups", 0, self.limits.max_groups)
        )
        chosen = []
        for group in self._load(fingerprints):
            if (
                (route is None or group.route == route)
                and (status is None or group.status == status)
                and (resolved is None or group.resolved == resolved)
            ):
                chosen.append(group)
        return chosen[offset : offset + limit]

    def _load(self, fingerprints: list[str]) -> list[ErrorGroup]:
        def work() -> list[dict[str, str]]:
            pipe = self._client.pipeline(transaction=False)
            for fingerprint in fingerprints:
                pipe.hgetall(f"{self.prefix}group:{fingerprint}")
            return list(pipe.execute())

        return [_group(data) for data in self._call(work) if data]

    def group(self, fingerprint: str) -> ErrorGroup | None:
        """One group, or ``None``."""
        found = self._load([fingerprint])
        return found[0] if found else None

    def occurrences(self, fingerprint: str, limit: int = 20) -> list[ErrorOccurrence]:
        """A group's occurrences, newest first."""
        rows = self._call(
            lambda: self._client.lrange(f"{self.prefix}occurrences:{fingerprint}", 0, limit - 1)
        )
        return [ErrorOccurrence.from_dict(json.loads(row)) for row in rows]

    def set_resolved(self, fingerprint: str, resolved: bool) -> bool:
        """Resolve or reopen a group."""
        key = f"{self.prefix}group:{fingerprint}"

        def work() -> bool:
            if not self._client.exists(key):
                return False
            if resolved:
                self._client.hset(key, mapping={"resolved": "1", "regressed": "0"})
            else:
                self._client.hset(key, "resolved", "0")
            return True

        result: bool = self._call(work)
        return result

    def counts_per_minute(
        self, start: float, end: float, fingerprint: str | None = None
    ) -> list[tuple[int, int]]:
        """Counts per minute in ``[start, end)``."""
        first = int(start // 60) * 60
        if first < start:
            first += 60
        minutes = list(range(first, int(end), 60))[-24 * 60 :]

        def work() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for minute in minutes:
                if fingerprint is None:
                    pipe.hvals(f"{self.prefix}minute:{minute}")
                else:
                    pipe.hget(f"{self.prefix}minute:{minute}", fingerprint)
            return list(pipe.execute())

        rows = []
        for minute, value in zip(minutes, self._call(work), strict=True):
            total = sum(int(v) for v in value) if fingerprint is None else int(value or 0)
            if total:
                rows.append((minute, total))
        return rows

    def add_log_lines(self, lines: Sequence[LogLine]) -> None:
        """Append lines to the shared log buffer (one pipelined round trip)."""
        if not lines:
            return
        key = f"{self.prefix}log_lines"

        def work() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.lpush(key, *[json.dumps(line.to_dict()) for line in lines])
            pipe.ltrim(key, 0, self.limits.max_log_lines - 1)
            pipe.execute()

        self._call(work)

    def log_lines(self, *, request_id: str | None = None, limit: int = 200) -> list[LogLine]:
        """The buffered lines, newest first."""
        span = limit if request_id is None else self.limits.max_log_lines
        rows = self._call(lambda: self._client.lrange(f"{self.prefix}log_lines", 0, span - 1))
        lines = [LogLine.from_dict(json.loads(row)) for row in rows]
        if request_id is not None:
            lines = [line for line in lines if line.request_id == request_id]
        return lines[:limit]

    def set_value(self, key: str, value: str | None) -> None:
        """Set or delete one shared entry."""
        name = f"{self.prefix}values"

        def work() -> None:
            if value is None:
                self._client.hdel(name, key)
                return
            if (
                not self._client.hexists(name, key)
                and self._client.hlen(name) >= self.limits.max_values
            ):
                raise StoreError(f"the store keeps at most {self.limits.max_values} values")
            self._client.hset(name, key, value)

        self._call(work)

    def values(self, prefix: str = "") -> dict[str, str]:
        """The shared entries whose key starts with ``prefix``."""
        data: dict[str, str] = self._call(lambda: self._client.hgetall(f"{self.prefix}values"))
        return {k: v for k, v in data.items() if k.startswith(prefix)}

    def prune(self, now: float | None = None) -> None:
        """Drop groups past retention (the group cap is kept on every record)."""
        horizon = (time.time() if now is None else now) - self.limits.retention_seconds
        key = f"{self.prefix}groups"

        def work() -> None:
            doomed = [str(fp) for fp in self._client.zrangebyscore(key, "-inf", f"({horizon}")]
            if doomed:
                pipe = self._client.pipeline()
                for fp in doomed:
                    pipe.delete(f"{self.prefix}group:{fp}", f"{self.prefix}occurrences:{fp}")
                pipe.zrem(key, *doomed)
                pipe.execute()

        self._call(work)

    def acquire_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        """Take or renew a lease (Redis expires it by itself; ``now`` is not needed)."""
        key = f"{self.prefix}lease:{name}"
        millis = max(1, int(seconds * 1000))
        return bool(self._call(lambda: self._lease(keys=[key], args=[holder, millis])))

    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds the unexpired lease ``name``."""
        value = self._call(lambda: self._client.get(f"{self.prefix}lease:{name}"))
        return str(value) if value is not None else None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _group(data: dict[str, str]) -> ErrorGroup:
    return ErrorGroup(
        fingerprint=data["fingerprint"],
        exception_type=data["exception_type"],
        message=data["message"],
        route=data["route"],
        method=data["method"],
        status=int(data["status"]),
        count=int(data["count"]),
        first_seen=float(data["first_seen"]),
        last_seen=float(data["last_seen"]),
        last_request_id=data.get("last_request_id") or None,
        resolved=data.get("resolved") == "1",
        first_release=data.get("first_release", ""),
        last_release=data.get("last_release", ""),
        regressed=data.get("regressed") == "1",
    )

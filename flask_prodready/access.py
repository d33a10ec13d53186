"""Who may read operational endpoints: loopback, a bearer token, or an allow-list of networks.

One policy object serves ``/metrics``, health details and, later, the dashboard, so the rule
is the same everywhere: a client on the loopback interface is allowed unless that is turned
off; another client needs the bearer token (compared in constant time) or an address inside
one of the allowed networks; ``open`` allows everyone.

The client address is ``request.remote_addr``. Behind a reverse proxy, set
``PRODREADY_TRUSTED_PROXIES`` (werkzeug's ``ProxyFix``) so that it is the client's.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import Request

__all__ = ["AccessDecision", "AccessPolicy", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AccessDecision(Enum):
    """The outcome of :meth:`AccessPolicy.check`.

    ``ALLOWED``; ``UNAUTHENTICATED`` (no or malformed credentials: answer 401);
    ``FORBIDDEN`` (wrong token or address not allowed: answer 403).

    .. versionadded:: 0.1
    """

    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"


def parse_networks(value: Iterable[str] | str) -> tuple[Network, ...]:
    """Parse CIDR networks (``"10.0.0.0/8"``, ``"::1/128"``, or a bare address).

    :param value: a list of networks, or one string with networks separated by commas.
    :raises ValueError: naming the entry that is not a network.

    .. versionadded:: 0.1
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not a network such as 10.0.0.0/8") from None
    return tuple(networks)


@dataclass(frozen=True)
class AccessPolicy:
    """Who may read an operational endpoint.

    ::

        policy = AccessPolicy(token="s3cret", networks=parse_networks("10.0.0.0/8"))
        if policy.check(request) is not AccessDecision.ALLOWED: ...

    :param token: the bearer token that lets any client in (``Authorization: Bearer …``);
        ``None`` or empty for no token.
    :param networks: client networks let in without a token.
    :param open: let everyone in.
    :param loopback: let clients on the loopback interface in without a token.

    .. versionadded:: 0.1
    """

    token: str | None = None
    networks: tuple[Network, ...] = ()
    open: bool = False
    loopback: bool = True

    def check(self, request: Request) -> AccessDecision:
        """Decide for ``request``; see :class:`AccessDecision`."""
        if self.open:
            return AccessDecision.ALLOWED
        address = _address(request.remote_addr)
        if address is not None:
            if self.loopback and address.is_loopback:
                return AccessDecision.ALLOWED
            if any(address in network for network in self.networks):
                return AccessDecision.ALLOWED
        if not self.token:
            return AccessDecision.FORBIDDEN
        presented = bearer_token(request)
        if presented is None:
            return AccessDecision.UNAUTHENTICATED
        if hmac.compare_digest(presented.encode(), self.token.encode()):
            return AccessDecision.ALLOWED
        return AccessDecision.FORBIDDEN

    def allows(self, request: Request) -> bool:
        """True when :meth:`check` allows ``request``."""
        return self.check(request) is AccessDecision.ALLOWED

    def __repr__(self) -> str:
        token = "set" if self.token else "none"
        return (
            f"AccessPolicy(token={token}, networks={[str(n) for n in self.networks]}, "
            f"open={self.open}, loopback={self.loopback})"
        )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _address(remote: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(str(remote))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address

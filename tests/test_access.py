"""The access policy shared by /metrics, health details and the dashboard."""

from __future__ import annotations

import pytest
from flask import Flask, Request

from flask_prodready.access import AccessDecision, AccessPolicy, parse_networks

ALLOWED, UNAUTHENTICATED, FORBIDDEN = (
    AccessDecision.ALLOWED,
    AccessDecision.UNAUTHENTICATED,
    AccessDecision.FORBIDDEN,
)


def request_from(address: str, authorization: str | None = None) -> Request:
    app = Flask("access")
    headers = {"Authorization": authorization} if authorization else {}
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}, headers=headers) as ctx:
        return ctx.request


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_allowed_by_default(address: str) -> None:
    assert AccessPolicy().check(request_from(address)) is ALLOWED


def test_loopback_can_be_refused() -> None:
    assert AccessPolicy(loopback=False).check(request_from("127.0.0.1")) is FORBIDDEN


def test_other_clients_need_the_token() -> None:
    policy = AccessPolicy(token="s3cret")
    assert policy.check(request_from("203.0.113.5")) is UNAUTHENTICATED
    assert policy.check(request_from("203.0.113.5", "Bearer s3cret")) is ALLOWED
    assert policy.check(request_from("203.0.113.5", "bearer  s3cret ")) is ALLOWED
    assert policy.check(request_from("203.0.113.5", "Bearer wrong")) is FORBIDDEN
    assert policy.check(request_from("203.0.113.5", "Basic czNjcmV0")) is UNAUTHENTICATED
    assert policy.check(request_from("203.0.113.5", "Bearer s3cret-and-more")) is FORBIDDEN


def test_without_a_token_other_clients_are_forbidden() -> None:
    assert AccessPolicy().check(request_from("203.0.113.5", "Bearer x")) is FORBIDDEN


def test_allow_listed_networks_need_no_token() -> None:
    policy = AccessPolicy(networks=parse_networks("10.0.0.0/8, 2001:db8::/32"))
    assert policy.check(request_from("10.1.2.3")) is ALLOWED
    assert policy.check(request_from("2001:db8::7")) is ALLOWED
    assert policy.check(request_from("11.0.0.1")) is FORBIDDEN


def test_open_allows_everyone() -> None:
    assert AccessPolicy(open=True).check(request_from("198.51.100.1")) is ALLOWED


def test_an_unparsable_remote_address_is_not_loopback() -> None:
    assert AccessPolicy().check(request_from("unix-socket")) is FORBIDDEN


def test_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300/8' is not a network"):
        parse_networks(["10.0.0.300/8"])


def test_repr_never_shows_the_token() -> None:
    assert "s3cret" not in repr(AccessPolicy(token="s3cret"))

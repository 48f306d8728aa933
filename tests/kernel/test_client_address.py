"""The client's address: the peer's, or the one trusted proxies forwarded (never a spoof)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from starlette.requests import HTTPConnection

from ensemble.kernel.identity.address import Network, client_address

PROXIES: list[Network] = [ip_network("10.0.0.0/8"), ip_network("::1")]


def connection(peer: str, *forwarded: str) -> HTTPConnection:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return HTTPConnection({"type": "http", "client": (peer, 4000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        pytest.param("203.0.113.5", ("1.2.3.4",), "203.0.113.5", id="untrusted-peer"),
        pytest.param("10.1.2.3", (), "10.1.2.3", id="proxy-without-header"),
        pytest.param("10.1.2.3", ("198.51.100.7",), "198.51.100.7", id="one-proxy"),
        pytest.param("10.1.2.3", ("6.6.6.6, 198.51.100.7",), "198.51.100.7", id="spoof-in-front"),
        pytest.param(
            "10.1.2.3", ("6.6.6.6", "198.51.100.7, 10.9.9.9"), "198.51.100.7", id="proxy-chain"
        ),
        pytest.param("::1", ("2001:db8::7",), "2001:db8::7", id="ipv6"),
        pytest.param("10.1.2.3", ("not-an-address",), "10.1.2.3", id="garbage-from-a-proxy"),
        pytest.param("10.1.2.3", ("10.4.4.4",), "10.4.4.4", id="only-proxies"),
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str, forwarded: tuple[str, ...], client: str
) -> None:
    assert client_address(connection(peer, *forwarded), PROXIES) == client


def test_no_trusted_proxies_means_the_peer_is_the_client() -> None:
    assert client_address(connection("127.0.0.1", "1.2.3.4"), []) == "127.0.0.1"

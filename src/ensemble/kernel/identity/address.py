"""The client's address: the peer's, or the one a trusted proxy forwarded.

`X-Forwarded-For` is read only when the direct peer is one of `TRUSTED_PROXIES`; it is then
walked from the right (the entries the proxies appended) past every trusted proxy, and the
first address that is not one is the client. Entries further left are whatever the client
sent, so they are never believed: a spoofed header changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(connection: HTTPConnection, proxies: Sequence[Network]) -> str:
    """The address of the client of `connection`, given the trusted `proxies`."""
    address = connection.client.host if connection.client else UNKNOWN
    if not _trusted(address, proxies):
        return address
    forwarded = ",".join(connection.headers.getlist("x-forwarded-for"))
    for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
        if not _trusted(hop, proxies):
            return _valid(hop) or address
        address = hop
    return address


def _valid(hop: str) -> str | None:
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


async def _request_client_address(connection: HTTPConnection) -> str:
    return client_address(connection, connection.state.settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(_request_client_address)]
"""The calling client's address, as a dependency (proxies from `TRUSTED_PROXIES`)."""

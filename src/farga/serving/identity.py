"""Who a request comes from, such that one actor cannot pass for many: the key of rate limits and
of the pseudonym that counts distinct clients.

X-Forwarded-For is believed only from the configured proxies, and read from the right: each trusted
proxy appends the address it received the request from, so the rightmost address that is not a
trusted proxy is the one no client could write. The leftmost, which a client writes itself, is never
taken (uvicorn's ``*`` does take it: its proxy handling is turned off and this replaces it). A value
there that is not an address identifies no one and is refused. IPv6 clients are one client per /64,
the block a single subscriber is handed, so that one actor cannot rotate through its own addresses.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from farga.serving.errors import error_response

Scope = dict[str, Any]
IPV6_CLIENT_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(value: str) -> tuple[Network, ...]:
    """Parse ``forwarded_allow_ips``: addresses or CIDR blocks, comma-separated; ``*`` is refused."""
    out = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            raise ValueError("forwarded_allow_ips may not be '*': any client could then name itself; list the proxies")
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"forwarded_allow_ips: {item!r} is not an address or a CIDR block") from exc
    return tuple(out)


def client_key(address: str) -> str | None:
    """The identity of an address: itself for IPv4, its /64 for IPv6 (None: not an address)."""
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: the peer itself unless it is a trusted proxy; else, walking X-Forwarded-For
    from the right past trusted proxies, the first other entry ('' when that entry is no address)."""

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not is_trusted(peer):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop if client_key(hop) is not None else ""
    return hops[0] if hops else peer  # every hop is a trusted proxy: the request is the proxies' own


class ClientIdentityMiddleware:
    """Replaces ``scope["client"]``'s host with the client's identity (see the module's docstring), which
    the rate limits and the feedback pseudonym then key on."""

    def __init__(self, app: Any, forwarded_allow_ips: str):
        self.app = app
        self.trusted = trusted_networks(forwarded_allow_ips)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or not scope.get("client"):
            await self.app(scope, receive, send)
            return
        peer, port = scope["client"]
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"x-forwarded-for"]
        address = forwarded_client(peer, forwarded, self.trusted)
        key = client_key(address) if address else None
        if key is None and address == peer:
            key = peer  # a peer that is no IP address (a test client, a Unix socket): itself
        if key is None:
            await error_response(400, "X-Forwarded-For names no client address")(scope, receive, send)
            return
        scope["client"] = (key, port)  # in place: the middleware outside reads the route routing sets in it
        await self.app(scope, receive, send)

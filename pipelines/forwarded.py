"""Which address is the client when proxies forward requests.

Behind a proxy or load balancer, the logged client (the peer of the connection) is the
proxy; the original client is in a forwarded-for chain the proxies append to:
`X-Forwarded-For: client, proxy1, proxy2` or RFC 7239 `Forwarded: for=client, for=proxy1`
(or, with Apache's mod_remoteip, `%a` with `%{c}a` the peer; pipelines.apache). Anyone can
send a forged chain, so only the hops added by the site's own proxies are believed: the
client is the right-most address of (chain + peer) that is not in `trusted_proxies`. With
no trusted proxies the peer is the client and the chain is never read.

The chain is personal data: it stays in RAW (`forwarded_for`, as logged); only the chosen
client is enriched and truncated for DETAIL. `choose` runs once per distinct (peer, chain)
pair of a chunk (pipelines.enrich), never per row.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

from .anonymize import parse_client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FOR = re.compile(r'(?i)(?:^|;)\s*for\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


@lru_cache(maxsize=64)
def networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """Parsed trusted networks (validated by config already)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse_chain(text: str | None) -> list[str]:
    """The hops of an X-Forwarded-For or Forwarded value, left (client) to right, as written
    (a Forwarded `for=` loses its quotes; `unknown` and obfuscated names stay tokens)."""
    if not text:
        return []
    hops = []
    for element in text.split(","):
        element = element.strip()
        if not element or element == "-":
            continue
        if "=" in element:
            m = _FOR.search(element)
            if not m:
                continue
            element = m.group(1).strip('"')
        hops.append(element)
    return hops


def _trusted(hop: str, trusted: Sequence[Network]) -> bool:
    address = parse_client(hop).address
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in trusted)


def choose(peer: str | None, chain: str | None, trusted: Sequence[Network]) -> str | None:
    """The client: the right-most hop of (chain + peer) outside the trusted networks; when
    every hop is trusted, the left-most one. A hop that is not an address (`unknown`, a
    name) ends the walk: nothing left of it can be checked. A logged client that is itself
    a list ('192.0.2.7, 10.0.0.2') is chain + peer."""
    if peer is not None and "," in peer:  # a client field holding a list (Traefik, nginx
        *more, peer = parse_chain(peer) or [None]  # with $http_x_forwarded_for first)
        chain = ", ".join([*parse_chain(chain), *more]) or None
    if not trusted or peer is None and not chain:
        return peer
    hops = parse_chain(chain) + ([peer] if peer is not None else [])
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer

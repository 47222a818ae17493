"""Reverse DNS of client addresses, for sites that log addresses but promise "domains" too.

`[enrich] reverse_dns = true` looks up the PTR name of each distinct client address once
per run (a `ReverseDNS` lives for one ingest run and caches every answer, found or not).
The name is full client data: it goes to RAW (`client_hostname`) and only its registered
domain to DETAIL (`client_domain`), like a host name logged by the server.

A slow or dead resolver must never stall the nightly run: every query has `dns_timeout`
seconds, and all queries of a run share `dns_budget_seconds`; addresses not looked up when
the budget is spent stay without a name (counted in `stats`). Lookups run on a few threads
because most of a lookup's time is waiting for the network. Failures of any kind
(NXDOMAIN, timeouts, refused, garbage) mean "no name"; nothing here raises.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor


log = logging.getLogger("weblog.rdns")
WORKERS = 8


def split_server(server: str) -> tuple[str, int]:
    """'192.0.2.53', '192.0.2.53:5353', '[2001:db8::53]:5353' -> (address, port)."""
    if server.startswith("["):
        address, _, port = server[1:].partition("]")
        return address, int(port.lstrip(":") or 53)
    if server.count(":") == 1:
        address, _, port = server.partition(":")
        return address, int(port)
    return server, 53


class ReverseDNS:
    """PTR lookups with a per-query timeout and a total time budget."""

    def __init__(self, nameservers: Iterable[str] = (), timeout: float = 1.0,
                 budget_seconds: float = 30.0):
        # dnspython only when lookups are configured (its import is 30 ms of every command)
        import dns.exception
        import dns.resolver

        servers = [split_server(s) for s in nameservers]
        try:
            self.resolver = dns.resolver.Resolver(configure=not servers)
        except dns.exception.DNSException:  # no usable resolv.conf
            self.resolver = dns.resolver.Resolver(configure=False)
        if servers:
            self.resolver.nameservers = [a for a, _ in servers]
            self.resolver.nameserver_ports = {a: p for a, p in servers}
        self.resolver.timeout = timeout
        self.resolver.lifetime = timeout
        self.resolver.cache = None  # this object's own cache is the one per-run cache
        self.timeout = timeout
        self.budget = budget_seconds
        self.deadline: float | None = None
        self.cache: dict[str, str | None] = {}
        self.stats = {"resolved": 0, "no_name": 0, "not_looked_up": 0}
        self._lock = threading.Lock()

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _remaining(self) -> float:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.budget
        return self.deadline - time.monotonic()

    def _ptr(self, address: str) -> str | None:
        import dns.exception
        import dns.reversename

        left = self._remaining()
        if left <= 0:
            self._count("not_looked_up")
            return None
        try:
            answer = self.resolver.resolve(dns.reversename.from_address(address), "PTR",
                                           lifetime=min(self.timeout, left),
                                           raise_on_no_answer=False)
        except (dns.exception.DNSException, ValueError, OSError):
            self._count("no_name")
            return None
        names = [r.target.to_text(omit_final_dot=True).lower() for r in answer] \
            if answer.rrset else []
        if not names:
            self._count("no_name")
            return None
        self._count("resolved")
        return names[0]

    def lookup_many(self, addresses: Iterable[str]) -> dict[str, str | None]:
        """Names of full addresses ('192.0.2.1', '2001:db8::1'); None when there is none
        or it was not looked up. Each address is asked at most once per run."""
        todo = sorted({a for a in addresses if a and a not in self.cache})
        if todo:
            with ThreadPoolExecutor(max_workers=min(WORKERS, len(todo))) as pool:
                for address, name in zip(todo, pool.map(self._ptr, todo)):
                    self.cache[address] = name
        return {a: self.cache.get(a) for a in addresses if a}

    def report(self) -> None:
        s = self.stats
        if any(s.values()):
            log.info("reverse DNS: %d names found, %d addresses without a name, %d not looked "
                     "up (time budget of %.0f s spent)", s["resolved"], s["no_name"],
                     s["not_looked_up"], self.budget)


def open_reverse_dns(cfg) -> ReverseDNS | None:
    if not cfg.reverse_dns:
        return None
    return ReverseDNS(cfg.nameservers, cfg.dns_timeout, cfg.dns_budget_seconds)

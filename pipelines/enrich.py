"""Enrichment of distinct values, joined back to the rows in SQL.

GeoIP, truncation, Public Suffix and user-agent parsing run once per DISTINCT value of a
file (tens of thousands, not millions), in Python, and come back as small Arrow tables
that the ingest appends to enrichment tables in its DuckDB and joins on the original text
(pipelines.ingest keeps them across a file's chunks: only new values reach Python). GeoIP always sees the full address, before
truncation: a /24 often maps to a different city than the address.

    clients:   (client, forwarded_for) as logged -> the chosen client's address,
               hostname (logged, or found by reverse DNS), kind, ip_version, client_net,
               client_domain, country, city, asn, as_org
    agents:    user_agent -> browser, browser_major, os, device, is_bot, bot_name
               (address literals in the families masked: they are cut out of the UA)
    referrers: referrer (the URL) -> referrer_domain, referrer_path
    texts:     any text with an address literal (path, vhost) -> masked text
"""
from __future__ import annotations

import re

import pyarrow as pa

from . import agents as agents_mod
from . import anonymize, domains, forwarded
from .geo import GeoLookup
from .rdns import ReverseDNS

CLIENT_SCHEMA = pa.schema([
    ("client", pa.string()), ("forwarded_for", pa.string()), ("kind", pa.string()), ("address", pa.string()),
    ("hostname", pa.string()), ("ip_version", pa.int8()), ("client_net", pa.string()),
    ("client_domain", pa.string()), ("country", pa.string()), ("city", pa.string()),
    ("asn", pa.int32()), ("as_org", pa.string()),
])
AGENT_SCHEMA = pa.schema([
    ("user_agent", pa.string()), ("browser", pa.string()), ("browser_major", pa.string()),
    ("os", pa.string()), ("device", pa.string()), ("is_bot", pa.bool_()), ("bot_name", pa.string()),
])
REFERRER_SCHEMA = pa.schema([("referrer", pa.string()), ("referrer_domain", pa.string()),
                             ("referrer_path", pa.string())])
TEXT_SCHEMA = pa.schema([("original", pa.string()), ("masked", pa.string())])


def clients_table(pairs: list[tuple[str | None, str | None]], geo: GeoLookup | None,
                  ipv4_prefix: int, ipv6_prefix: int, trusted: tuple[str, ...] = (),
                  rdns: ReverseDNS | None = None) -> pa.Table:
    """One row per distinct (client, forwarded_for) pair of a chunk: the chosen client
    (pipelines.forwarded; the logged client unless `trusted` proxies forwarded it) classified,
    truncated, located, and named by reverse DNS when there is no logged name."""
    nets = forwarded.networks(trusted)
    chosen = [forwarded.choose(client, chain, nets) for client, chain in pairs]
    values = sorted({c for c in chosen if c is not None})
    cols = anonymize.classify_clients(values, ipv4_prefix, ipv6_prefix)
    n = len(values)
    hosts = list(cols["hostname"])
    if rdns is not None:
        found = rdns.lookup_many([a for a, h in zip(cols["address"], hosts) if a and not h])
        hosts = [h or (found.get(a) if a else None) for a, h in zip(cols["address"], hosts)]
    named = sorted({h for h in hosts if h})
    domain_of = dict(zip(named, domains.registered_domains(named)["domain"])) if named else {}
    geo_cols: dict[str, list] = {"country": [None] * n, "city": [None] * n,
                                 "asn": [None] * n, "as_org": [None] * n}
    if geo is not None and geo.enabled:
        addresses = cols["address"]
        todo = sorted({a for a in addresses if a})
        found_geo = geo.lookup_many(todo)
        index = {a: i for i, a in enumerate(found_geo["address"])}
        for row, address in enumerate(addresses):
            if address:
                i = index[address]
                for key in geo_cols:
                    geo_cols[key][row] = found_geo[key][i]
    row_of = {v: i for i, v in enumerate(values)}
    rows = [row_of.get(c) for c in chosen]

    def pick(column: list) -> list:
        return [None if r is None else column[r] for r in rows]

    kinds = [("none" if r is None else cols["kind"][r]) for r in rows]
    return pa.table({
        "client": pa.array([c for c, _ in pairs], pa.string()),
        "forwarded_for": pa.array([f for _, f in pairs], pa.string()),
        "kind": pa.array(kinds, pa.string()),
        "address": pa.array(pick(cols["address"]), pa.string()),
        "hostname": pa.array(pick(hosts), pa.string()),
        "ip_version": pa.array(pick(cols["ip_version"]), pa.int8()),
        "client_net": pa.array(pick(cols["client_net"]), pa.string()),
        "client_domain": pa.array([domain_of.get(h) if h else None for h in pick(hosts)],
                                  pa.string()),
        "country": pa.array(pick(geo_cols["country"]), pa.string()),
        "city": pa.array(pick(geo_cols["city"]), pa.string()),
        "asn": pa.array(pick(geo_cols["asn"]), pa.int32()),
        "as_org": pa.array(pick(geo_cols["as_org"]), pa.string()),
    }, schema=CLIENT_SCHEMA)


def agents_table(values: list[str | None], ipv4_prefix: int = 24,
                 ipv6_prefix: int = 48) -> pa.Table:
    cols = agents_mod.classify_agents(values)
    # families are cut out of the UA text ('2001:db8::66-spider'): mask address literals
    for name in ("browser", "browser_major", "os", "device", "bot_name"):
        cols[name] = [anonymize.mask_addresses(v, ipv4_prefix, ipv6_prefix) if v else v
                      for v in cols[name]]
    return pa.table({name: pa.array(cols[name], AGENT_SCHEMA.field(name).type)
                     for name in AGENT_SCHEMA.names}, schema=AGENT_SCHEMA)


REFERRER_HOST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)")
REFERRER_PATH_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)?")


def referrers_table(referrers: list[str | None], ipv4_prefix: int, ipv6_prefix: int) -> pa.Table:
    """Per distinct referrer URL: its host's registered domain (an address literal keeps
    only its network) and its path (query and fragment dropped, address literals masked;
    DETAIL keeps the path for internal referrers only)."""
    hosts, paths = [], []
    for ref in referrers:
        m = REFERRER_HOST_RE.match(ref) if ref else None
        hosts.append((m.group(1).lower() or None) if m else None)
        m = REFERRER_PATH_RE.match(ref) if ref else None
        path = (m.group(1) or "/") if m else None
        paths.append(anonymize.mask_addresses(path, ipv4_prefix, ipv6_prefix) if path else path)
    named = sorted({h for h in hosts if h})
    domain_of = dict(zip(named, domains.registered_domains(named)["domain"])) if named else {}
    out = []
    for host in hosts:
        domain = domain_of.get(host) if host else None
        if host and domain is None:
            kind = anonymize.parse_client(host)
            if kind.address:
                domain = anonymize.truncate(kind.address, ipv4_prefix, ipv6_prefix)
        out.append(domain)
    return pa.table({"referrer": pa.array(referrers, pa.string()),
                     "referrer_domain": pa.array(out, pa.string()),
                     "referrer_path": pa.array(paths, pa.string())}, schema=REFERRER_SCHEMA)


def masked_texts_table(values: list[str], ipv4_prefix: int, ipv6_prefix: int) -> pa.Table:
    masked = [anonymize.mask_addresses(v, ipv4_prefix, ipv6_prefix) for v in values]
    return pa.table({"original": pa.array(values, pa.string()),
                     "masked": pa.array(masked, pa.string())}, schema=TEXT_SCHEMA)


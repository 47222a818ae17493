"""The statistics fixture: deterministic logs and an independent computation of every mart.

`write_log` writes three site-local days (Asia/Tokyo; the log is stamped in UTC so day
and hour boundaries are exercised) of two vhosts in the format FORMAT: humans from every
synthetic GeoIP network (big and small cells, an unmapped address, IPv6 written two ways,
an IPv4-mapped IPv6 address, host names, a client logged as '-'), several user agents per
address, bots, assets, 304s without bytes, HEAD/POST, 404s linked from the site's own
pages, 5xx, every referrer class, and paths that look like spreadsheet formulas.

`expected_tables` recomputes every mart from the log lines with plain Python,
sharing nothing with the SQL models but the per-value classifiers (user agents, client
kinds, registered domains, referrer classes), which have their own tests.
Addresses: documentation ranges only; names: example.com/.net/.org only.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import random
import re
import zoneinfo
from pathlib import Path

from pipelines import agents, anonymize, domains
from pipelines.geo import DEMO_NETWORKS

FORMAT = 'apache:%v %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
TIMEZONE = "Asia/Tokyo"
DAYS = (dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3))
AS_OF = dt.date(2026, 3, 4)  # with raw_days=2 the RAW window starts 2026-03-02
RAW_DAYS = 2
K_MIN = 3
SITE_DOMAINS = ("example.net",)
VHOSTS = ("www.example.com", "shop.example.com")

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Mobile Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
CURL = "curl/8.5.0"
PYREQ = "python-requests/2.32.3"
HUMAN_UAS = (CHROME, FIREFOX, SAFARI_IOS, EDGE, CHROME_ANDROID)

PAGES = ("/", "/about/", "/docs/", "/docs/install/", "/news/", "/news/2026/spring/", "/contact/",
         "/search/")
ASSETS = ("/static/app.css", "/static/app.js", "/static/logo.png", "/favicon.ico",
          "/fonts/inter.woff2")
BROKEN = {"/about/": "/static/img/team-2019.jpg", "/docs/": "/docs/old-install/"}
FORMULA_PATHS = ("=1+2", "+cmd", "-2+3", "@SUM(1)")
ENTRY_REFERRERS = (
    "-", "-", "-",
    "https://www.google.com/search?q=weblog+privacy",
    "https://www.bing.com/",
    "https://t.co/AbCdEf123",
    "https://www.facebook.com/",
    "https://blog.example.org/2026/03/notes/?utm_source=x",
    "https://forum.example.org/t/1234",
    "https://news.example.net/links/",   # internal: stats.site_domains
)

LINE_RE = re.compile(
    r'^(?P<vhost>\S+) (?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) (?P<bytes>\S+) "(?P<referrer>[^"]*)" "(?P<ua>[^"]*)" (?P<us>\d+)$')


def _clients(rng: random.Random) -> list[str]:
    """Client fields as logged: many in big networks, few in small ones (suppressed)."""
    out = [f"192.0.2.{i}" for i in range(1, 13)]           # JP Tokyo
    out += [f"192.0.2.{i}" for i in range(65, 72)]         # JP Osaka
    out += [f"192.0.2.{i}" for i in range(130, 137)]       # US Seattle
    out += [f"198.51.100.{i}" for i in range(2, 9)]        # DE Berlin
    out += [f"198.51.100.{i}" for i in range(66, 71)]      # GB London
    out += ["203.0.113.33"]                                # AU Sydney: a small cell
    out += ["203.0.113.3", "203.0.113.4"]                  # IN Mumbai: small
    out += ["203.0.113.130"]                               # NL, no city or ASN: small
    out += ["203.0.113.200"]                               # unmapped
    out += ["2001:db8:1::5", "2001:db8:1::6", "2001:db8:1::7"]  # JP Tokyo over IPv6
    out += ["::ffff:192.0.2.10"]                           # = 192.0.2.10, another form
    out += [f"host-{i}.dsl.example.net" for i in range(1, 5)]
    out += ["host-1.cable.example.org", "unknown", "-"]
    return out


def _stamp(local: dt.datetime) -> str:
    utc = local.replace(tzinfo=zoneinfo.ZoneInfo(TIMEZONE)).astimezone(dt.timezone.utc)
    return utc.strftime("%d/%b/%Y:%H:%M:%S +0000")


def _line(vhost: str, client: str, local: dt.datetime, request: str, status: int,
          size: int | None, referrer: str, ua: str, us: int) -> tuple[dt.datetime, str]:
    return local, (f'{vhost} {client} - - [{_stamp(local)}] "{request}" {status} '
                   f'{"-" if size is None else size} "{referrer}" "{ua}" {us}')


def generate_lines(days: tuple[dt.date, ...] = DAYS, seed: int = 11) -> list[str]:
    """The fixture's log lines, in time order."""
    rng = random.Random(seed)
    clients = _clients(rng)
    visitors = [(c, rng.choice(HUMAN_UAS)) for c in clients]
    # some addresses browse with a second user agent: a second visitor
    visitors += [(c, SAFARI_IOS) for c in clients[:6] if c]
    visitors += [("2001:DB8:1::5", visitors[clients.index("2001:db8:1::5")][1])]  # same visitor
    bots = [("192.0.2.140", GOOGLEBOT), ("198.51.100.72", BINGBOT), ("203.0.113.5", CURL),
            ("crawler-7.example.org", PYREQ)]
    out: list[tuple[dt.datetime, str]] = []
    for day in days:
        start = dt.datetime.combine(day, dt.time())
        for client, ua in visitors:
            if rng.random() < 0.25:
                continue  # not every visitor comes every day
            vhost = VHOSTS[1] if rng.random() < 0.2 else VHOSTS[0]
            t = start + dt.timedelta(seconds=rng.randrange(0, 86400 - 3600))
            referrer = rng.choice(ENTRY_REFERRERS)
            for _ in range(rng.randint(1, 5)):
                page = rng.choice(PAGES)
                method = "POST" if page == "/contact/" and rng.random() < 0.3 else "GET"
                status = 304 if rng.random() < 0.1 else 200
                if page == "/search/" and rng.random() < 0.3:
                    status = 500
                query = "?q=secret+term&session=abc" if page == "/search/" else ""
                out.append(_line(vhost, client, t, f"{method} {page}{query} HTTP/1.1", status,
                                 None if status == 304 else rng.randrange(2000, 30000),
                                 referrer, ua, rng.randrange(200, 90000)))
                page_url = f"https://{vhost}{page}"
                for asset in rng.sample(ASSETS, rng.randint(0, 3)):
                    t += dt.timedelta(seconds=rng.randint(0, 2))
                    cached = rng.random() < 0.3
                    out.append(_line(vhost, client, t, f"GET {asset} HTTP/1.1",
                                     304 if cached else 200,
                                     None if cached else rng.randrange(500, 90000),
                                     page_url, ua, rng.randrange(50, 5000)))
                if page in BROKEN and rng.random() < 0.6:
                    out.append(_line(vhost, client, t, f"GET {BROKEN[page]} HTTP/1.1", 404, 196,
                                     page_url, ua, rng.randrange(50, 900)))
                if rng.random() < 0.05:
                    out.append(_line(vhost, client, t, f"HEAD {page} HTTP/1.1", 200, None,
                                     "-", ua, rng.randrange(50, 900)))
                referrer = page_url
                t += dt.timedelta(seconds=rng.randint(5, 300))
        for client, ua in bots:
            for _ in range(rng.randint(3, 12)):
                t = start + dt.timedelta(seconds=rng.randrange(0, 86400))
                path = rng.choice(PAGES + ("/robots.txt", "/wp-login.php", "/.env"))
                status = 404 if path in ("/wp-login.php", "/.env") else 200
                out.append(_line(VHOSTS[0], client, t, f"GET {path} HTTP/1.1", status,
                                 rng.randrange(100, 9000), "-", ua, rng.randrange(50, 9000)))
        # day boundaries and formula-looking paths
        out.append(_line(VHOSTS[0], "192.0.2.1", start, "GET / HTTP/1.1", 200, 1234,
                         "-", CHROME, 1000))
        out.append(_line(VHOSTS[0], "192.0.2.1", start + dt.timedelta(seconds=86399),
                         "GET /news/ HTTP/1.1", 200, 4321, "-", CHROME, 2000))
        for path in FORMULA_PATHS:
            out.append(_line(VHOSTS[0], "192.0.2.2", start + dt.timedelta(hours=12),
                             f"GET {path} HTTP/1.1", 404, 10, "-", FIREFOX, 100))
    out.sort(key=lambda pair: pair[0])
    return [line for _, line in out]


def write_log(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


# --------------------------------------------------------------------------- expected

_GEO = [(ipaddress.ip_network(n.network), n) for n in DEMO_NETWORKS]
ASSET_EXTENSIONS = {
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico",
    "bmp", "tif", "tiff", "woff", "woff2", "ttf", "otf", "eot", "mp4", "webm", "ogg", "ogv",
    "mp3", "wav", "m4a", "flac", "txt", "xml", "json", "webmanifest", "pdf", "zip", "gz",
    "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "dmg", "exe", "iso",
}


def _geo(address: str | None) -> tuple:
    if address is None:
        return (None, None, None, None)
    ip = ipaddress.ip_address(address)
    for net, item in _GEO:
        if ip.version == net.version and ip in net:
            return (item.country, item.city, item.asn, item.as_org)
    return (None, None, None, None)


def _none(value: str) -> str | None:
    return None if value in ("", "-") else value


def _extension(path: str | None) -> str:
    if path is None:
        return ""
    m = re.search(r"\.([A-Za-z0-9]{1,12})\Z", path.split("?")[0])  # \Z: as RE2's $
    return m.group(1).lower() if m else ""


def _referrer_class(domain: str | None, vhost: str) -> str:
    if domain and (vhost == domain or vhost.endswith("." + domain)):
        return "internal"
    return domains.classify_referrer(domain, SITE_DOMAINS)


def request_rows(files: list[list[str]]) -> list[dict]:
    """One dict per log line with what DETAIL and RAW would hold (file = 1-based ingest)."""
    tz = zoneinfo.ZoneInfo(TIMEZONE)
    rows = []
    for file_no, lines in enumerate(files, 1):
        for line_no, line in enumerate(lines, 1):
            m = LINE_RE.match(line)
            assert m, line
            utc = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z")
            local = utc.astimezone(tz)
            method, url, _ = m["request"].split(" ")
            path = url.split("#")[0].split("?")[0]
            client = _none(m["client"])
            kinds = anonymize.classify_clients([client], 24, 48)
            address, hostname = kinds["address"][0], kinds["hostname"][0]
            country, city, asn, as_org = _geo(address)
            ua = _none(m["ua"])
            agent = agents.classify_agent(ua)
            referrer = _none(m["referrer"])
            ref_domain = domains.referrer_domain(referrer)
            vhost = m["vhost"].lower()
            ref_class = _referrer_class(ref_domain, vhost)
            status = int(m["status"])
            is_asset = _extension(path) in ASSET_EXTENSIONS
            rows.append({
                "file": file_no, "line_no": line_no, "day": local.date(), "hour": local.hour,
                "vhost": vhost, "method": method, "path": path, "status": status,
                "bytes": 0 if m["bytes"] == "-" else int(m["bytes"]),
                "time_us": int(m["us"]), "time_ms": int(m["us"]) / 1000,
                "raw_key": (address or hostname or client, ua),
                "client_net": kinds["client_net"][0],
                "client_domain": domains.registered_domain(hostname) if hostname else None,
                "country": country, "city": city, "asn": asn, "as_org": as_org,
                "browser": agent.browser, "browser_major": agent.browser_major, "os": agent.os,
                "device": agent.device, "is_bot": agent.is_bot, "bot_name": agent.bot_name,
                "referrer_domain": ref_domain, "referrer_class": ref_class,
                "referrer_path": (re.match(r"^[a-z]+://[^/?#]*(/[^?#]*)?", referrer)[1] or "/")
                if ref_class == "internal" else None,
                "is_asset": is_asset,
                "is_pageview": (not agent.is_bot and not is_asset and method == "GET"
                                and (200 <= status <= 299 or status == 304)),
            })
    return rows


def with_visitors(rows: list[dict], exact_days: set[dt.date]) -> list[dict]:
    """visitor: the full client + user agent on exact days, else the DETAIL-level key."""
    out = []
    for r in rows:
        if r["day"] in exact_days:
            visitor = ("raw",) + r["raw_key"]
        else:
            visitor = ("detail",) + tuple(r[k] for k in (
                "client_net", "client_domain", "country", "city", "asn", "browser",
                "browser_major", "os", "device", "is_bot", "bot_name"))
        out.append({**r, "visitor": visitor})
    return out


# measures over a group of rows
def hits(g: list[dict]) -> int:
    return len(g)


def pageviews(g: list[dict]) -> int:
    return sum(r["is_pageview"] for r in g)


def visitors(g: list[dict]) -> int:
    return len({r["visitor"] for r in g})


def total_bytes(g: list[dict]) -> int:
    return sum(r["bytes"] for r in g)


def bot_hits(g: list[dict]) -> int:
    return sum(r["is_bot"] for r in g)


def avg_ms(g: list[dict]) -> float:
    return sum(r["time_us"] for r in g) / len(g) / 1000


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (quantile_cont, numpy's default)."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def group(rows: list[dict], keys: list[str], **measures) -> list[dict]:
    """GROUP BY keys (None is a key like any other) with measure functions of the group."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return [{**dict(zip(keys, key)), **{n: f(g) for n, f in measures.items()}}
            for key, g in groups.items()]


def _suppressed(cells: list[dict], keys: list[str], k: int, blank: tuple[str, ...] = ()) -> list[dict]:
    """Merge each day x vhost's cells under k visitors into '(other)' (blank: columns set
    to None in the merged row)."""
    merged: dict[tuple, dict] = {}
    for c in cells:
        small = c["visitors"] < k
        key = {"day": c["day"], "vhost": c["vhost"]}
        key.update({col: ("(other)" if small else c[col]) for col in keys})
        key.update({col: (None if small else c[col]) for col in blank})
        slot = merged.setdefault(tuple(key.items()), {**key, "hits": 0, "pageviews": 0,
                                                      "bytes": 0, "visitors": 0, "cells": 0})
        for m in ("hits", "pageviews", "bytes", "visitors"):
            slot[m] += c[m]
        slot["cells"] += 1
    return list(merged.values())


def expected_tables(rows: list[dict], exact_days: set[dt.date],
                    k: int = K_MIN) -> dict[str, list[dict]]:
    """Every mart, recomputed from the line-level rows with plain Python."""
    rows = with_visitors(rows, exact_days)
    dv = ["day", "vhost"]
    humans = [r for r in rows if not r["is_bot"]]
    bots = [r for r in rows if r["is_bot"]]
    counts = dict(hits=hits, pageviews=pageviews, bytes=total_bytes, visitors=visitors)

    def between(lo: int, hi: int):
        return lambda g: sum(lo <= r["status"] <= hi for r in g)

    out: dict[str, list[dict]] = {}
    out["daily_traffic"] = group(
        rows, dv, hits=hits, pageviews=pageviews, visitors=visitors,
        human_visitors=lambda g: visitors([r for r in g if not r["is_bot"]]),
        unique_networks=lambda g: len({r["client_net"] or r["client_domain"] for r in g}
                                      - {None}),
        bytes=total_bytes, bot_hits=bot_hits,
        bot_bytes=lambda g: total_bytes([r for r in g if r["is_bot"]]),
        status_2xx=between(200, 299), status_3xx=between(300, 399),
        status_4xx=between(400, 499), status_5xx=between(500, 599),
        timed_hits=hits, avg_time_served_ms=avg_ms,
        p50_time_served_ms=lambda g: quantile([r["time_ms"] for r in g], 0.5),
        p95_time_served_ms=lambda g: quantile([r["time_ms"] for r in g], 0.95),
        visitors_exact=lambda g: g[0]["day"] in exact_days)
    out["hourly_traffic"] = group(rows, dv + ["hour"], hits=hits, pageviews=pageviews,
                                  visitors=visitors, bytes=total_bytes, bot_hits=bot_hits)
    out["daily_pages"] = group(rows, dv + ["path"], is_asset=lambda g: g[0]["is_asset"],
                               hits=hits, pageviews=pageviews, visitors=visitors,
                               bytes=total_bytes, bot_hits=bot_hits, avg_time_served_ms=avg_ms)
    out["daily_not_found"] = group(
        [r for r in rows if r["status"] == 404],
        dv + ["path", "referrer_domain", "referrer_path", "referrer_class"],
        hits=hits, bot_hits=bot_hits, visitors=visitors)
    out["daily_errors"] = group([r for r in rows if 500 <= r["status"] <= 599],
                                dv + ["path", "status"], hits=hits, visitors=visitors)
    out["daily_status"] = group(rows, dv + ["status"], hits=hits, bot_hits=bot_hits,
                                bytes=total_bytes)
    out["daily_referrers"] = group([r for r in rows if r["referrer_class"] == "external"],
                                   dv + ["referrer_domain", "referrer_class"],
                                   hits=hits, pageviews=pageviews, visitors=visitors)
    channels = [{**r, "referrer_domain": r["referrer_domain"]
                 if r["referrer_class"] in ("search", "social") else None} for r in rows]
    out["daily_channels"] = group(channels, dv + ["referrer_class", "referrer_domain"],
                                  hits=hits, pageviews=pageviews, visitors=visitors)
    out["daily_agents"] = group(humans, dv + ["browser", "os", "device"],
                                hits=hits, pageviews=pageviews, visitors=visitors)
    out["daily_bots"] = group([{**r, "bot_name": r["bot_name"] or r["browser"]} for r in bots],
                              dv + ["bot_name"], hits=hits, bytes=total_bytes, visitors=visitors)
    geo = [{**r, "country": r["country"] or "(unknown)", "city": r["city"] or "(unknown)"}
           for r in rows]
    out["daily_countries"] = _suppressed(group(geo, dv + ["country"], **counts),
                                         ["country"], k)
    out["daily_cities"] = _suppressed(group(geo, dv + ["country", "city"], **counts),
                                      ["country", "city"], k)
    nets = group(rows, dv + ["asn", "client_domain"], as_org=lambda g: g[0]["as_org"], **counts)
    for n in nets:
        label = " ".join(x for x in (f"AS{n['asn']}" if n["asn"] else None, n["client_domain"]) if x)
        n["network"] = label or "(unknown)"
    out["daily_networks"] = _suppressed(nets, ["network"], k,
                                        blank=("asn", "as_org", "client_domain"))
    return out


# --------------------------------------------------------------------------- building

def fixture_config(root: Path, geoip: dict[str, Path]):
    from pipelines.config import Config

    return Config(data_dir=root / "data", timezone=TIMEZONE, raw_days=RAW_DAYS, detail_days=30,
                  k_min=K_MIN, site_domains=SITE_DOMAINS, **geoip)


def build_warehouse(root: Path) -> tuple:
    """Ingest the fixture log as of AS_OF and aggregate: (config, log lines)."""
    from pipelines.aggregate import run_aggregate
    from pipelines.geo import build_synthetic_databases
    from pipelines.ingest import ingest_paths

    geoip = build_synthetic_databases(root / "geoip", DEMO_NETWORKS)
    cfg = fixture_config(root, geoip)
    lines = generate_lines()
    log = write_log(root / "logs" / "access.log", lines)
    results = ingest_paths(cfg, [str(log)], format_name=FORMAT, as_of=AS_OF)
    assert results[0].lines_rejected == 0, results[0].reject_reasons
    run_aggregate(cfg)
    return cfg, lines


def table_rows(con, table: str) -> list[dict]:
    cur = con.execute(f"select * from {table}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def sort_rows(rows: list[dict], columns: list[str]) -> list[tuple]:
    """Rows as tuples of `columns`, in a total order (None first), for comparison."""
    out = [tuple(r.get(c) for c in columns) for r in rows]
    return sorted(out, key=lambda row: tuple((x is not None, str(x)) for x in row))

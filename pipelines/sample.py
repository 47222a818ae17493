"""Deterministic sample access logs in the Apache/nginx "combined" format.

    %h %l %u [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"

Two generators live here:

* :func:`generate_demo_logs` writes a small site's rotated daily logs (``access.log``,
  ``access.log.1``, ``access.log.2.gz`` ...) with realistic content: a weekday and
  hour-of-day traffic curve, returning visitors, browsers and bots, a Zipf-like page
  popularity, query strings, referrers, a status mix, escaped quotes, a few hostile
  but valid requests and about 0.1% malformed lines.  Client addresses come only from
  the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
  2001:db8::/32) and client host names only from the reserved ``example.com``,
  ``example.net`` and ``example.org`` domains.  :func:`demo_manifest` reports, without
  writing anything, how many lines and malformed lines each file holds.

* :func:`generate_bench_log` writes one large file (1M-20M lines) quickly and with
  bounded memory, from pre-rendered pools picked with vectorised numpy draws.  It
  returns the exact number of lines and malformed lines written.

Everything is seeded: the same arguments always give the same bytes (gzip members carry
no name and a zero mtime).  :func:`expected_counts` recounts valid and malformed lines
of any file with a plain Python regular expression, independently of any SQL parser.

Malformed lines are ones a strict combined-format parser must reject: a truncated
record, garbage (e.g. an error-log line), a record with missing fields, a quoted field
left unterminated, an unescaped quote, two records glued together, and an empty line.
"""
from __future__ import annotations

import gzip
import ipaddress
import math
import os
import random
import re
from bisect import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from urllib.parse import quote, quote_plus

import numpy as np

__all__ = [
    "COMBINED_RE",
    "DOC_V4_NETWORKS",
    "DOC_V6_NETWORK",
    "RESERVED_DOMAINS",
    "SITE_URL",
    "demo_manifest",
    "expected_counts",
    "generate_bench_log",
    "generate_demo_logs",
    "log_file_names",
]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DOC_V4_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
DOC_V6_NETWORK = ipaddress.ip_network("2001:db8::/32")
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
SITE_URL = "https://www.example.com"

# A strict combined line.  A quoted field is "((?:[^"\\]|\\.)*)": Apache writes a quote inside
# a field as \" and a backslash as \\.
_Q = rb'"((?:[^"\\]|\\.)*)"'
COMBINED_RE = re.compile(
    rb"(\S+) (\S+) (\S+) \[(\d{2}/(?:" + "|".join(MONTHS).encode()
    + rb")/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] " + _Q + rb" (\d{3}) (\d+|-) " + _Q + b" " + _Q
)

DAY = 86400
MALFORMED_RATE = 0.001

# Relative traffic by local hour (quiet nights, office hours, an evening bump) and weekday
# (Monday first; the mean is 1).
_HOUR_WEEKDAY = (0.8, 0.5, 0.32, 0.24, 0.22, 0.3, 0.6, 1.1, 1.8, 2.4, 2.7, 2.8,
                 2.5, 2.7, 2.8, 2.7, 2.5, 2.3, 2.1, 2.2, 2.4, 2.3, 1.8, 1.3)
_HOUR_WEEKEND = (1.0, 0.7, 0.45, 0.3, 0.25, 0.28, 0.4, 0.7, 1.1, 1.6, 2.0, 2.2,
                 2.2, 2.2, 2.1, 2.0, 2.0, 2.0, 2.1, 2.3, 2.5, 2.4, 2.0, 1.5)
_WEEKDAY = (1.08, 1.12, 1.10, 1.08, 1.00, 0.80, 0.82)

# --------------------------------------------------------------------------------------
# User agents
# --------------------------------------------------------------------------------------
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
_BROWSERS: tuple[tuple[str, float], ...] = (
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36", 28),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_CHROME} Safari/537.36", 9),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4.1 Safari/605.1.15", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 7),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 3),
    (f"Mozilla/5.0 (X11; Linux x86_64) {_CHROME} Safari/537.36", 2),
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36 Edg/124.0.2478.67", 6),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", 14),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", 3),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", 2),
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36 OPR/109.0.0.0", 1),
    ("Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0", 1),
    # Odd agents: quotes and a backslash inside the value (logged as \" and \\).
    (f'Mozilla/5.0 (Linux; Android 12; "Pixel 6") {_CHROME} Mobile Safari/537.36', 0.25),
    (f'Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36 "Acme Kiosk"', 0.2),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AcmeShell\\2.1 (like Gecko)", 0.05),
)
_GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
_GOOGLEBOT_MOBILE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
_BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
_AHREFS = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
_CURL = ("curl/8.5.0", "curl/7.88.1")
_PYREQ = ("python-requests/2.31.0", "python-requests/2.32.3")
_BOT_TOKENS = ("Googlebot", "bingbot", "AhrefsBot", "curl/", "python-requests/")

_SEARCH_TERMS = (
    "weblog install", "weblog docker", "access log retention", "api key rotate",
    "rate limit", "timezone logs", "export csv", "privacy ip truncation", "release notes",
    "webhook events", "sso login", "gdpr log retention", "nginx combined format",
    "café wifi logs", "ログ 解析", "ipv6 /48 anonymize", "how to configure weblog",
)
_WORDS = (
    "release", "community", "meetup", "security", "update", "roadmap", "faster", "parsing",
    "privacy", "retention", "ipv6", "dashboard", "winter", "spring", "notes", "guide",
    "migration", "storage", "charts", "exports", "osaka", "berlin", "workshop", "survey",
)

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _parse_offset(utc_offset: str) -> timedelta:
    m = re.fullmatch(r"([+-])(\d{2})(\d{2})", utc_offset or "")
    if not m or int(m[2]) > 14 or int(m[3]) > 59:
        raise ValueError(f"utc_offset must look like '+0900' or '-0430', got {utc_offset!r}")
    delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
    return -delta if m[1] == "-" else delta


def _esc(value: str, raw_bytes: bool = False) -> str:
    """Escape a value the way Apache's log writer does: \\ and \" plus \\xhh for other bytes
    (UTF-8 bytes of the text, or with `raw_bytes` the code points 0-255 as bytes)."""
    value = value.replace("\\", "\\\\").replace('"', '\\"')
    if value.isascii() and value.isprintable():
        return value
    data = value.encode("latin-1") if raw_bytes else value.encode()
    return "".join(chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02x}" for b in data)


def _stamp(day: date, sec: int, utc_offset: str) -> str:
    h, rem = divmod(sec, 3600)
    return (f"{day.day:02d}/{MONTHS[day.month - 1]}/{day.year}:"
            f"{h:02d}:{rem // 60:02d}:{rem % 60:02d} {utc_offset}")


def _size(n: int | None) -> str:
    return "-" if not n else str(n)


def _weighted(rng: random.Random, items, weights):
    return rng.choices(items, weights)[0]


def _zipf_weights(n: int, s: float, q: float = 1.0) -> list[float]:
    return [1.0 / (i + q) ** s for i in range(n)]


def log_file_names(days: int) -> list[str]:
    """Rotated names, oldest first: access.log.<days-1>.gz ... access.log.2.gz, access.log.1,
    access.log (the newest day)."""
    names = []
    for k in range(days - 1, -1, -1):
        names.append("access.log" if k == 0 else "access.log.1" if k == 1 else f"access.log.{k}.gz")
    return names


# --------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    path: str
    size: int
    image: str | None = None
    image_size: int = 0
    broken: str | None = None  # a dead link on this page (404 with this page as referrer)
    dynamic: bool = False


_ASSETS = (
    ("/static/css/main.4f9d2c1a.css", 24310),
    ("/static/js/vendor.1c2d3e4f.js", 142876),
    ("/static/js/app.9b1e7d3f.js", 81234),
    ("/static/fonts/inter-var.woff2", 48256),
    ("/static/img/logo.png", 6420),
)
_FAVICON = ("/favicon.ico", 1150)
_TOUCH_ICON = ("/apple-touch-icon.png", 4211)
_ROBOTS = ("/robots.txt", 124)
_SITEMAP = ("/sitemap.xml", 9342)
_FEED = ("/news/feed.xml", 27510)
_BROKEN_ASSET = "/static/img/team-2019.jpg"  # referenced by /about/, long gone
_REMOVED = ("/news/2019/launch-party/", "/docs/old-install/", "/blog/",
            "/downloads/weblog-0.9.tar.gz")
_SCANS = (
    ("GET", "/wp-login.php"), ("GET", "/.env"), ("GET", "/.git/config"), ("POST", "/xmlrpc.php"),
    ("GET", "/phpmyadmin/index.php"), ("GET", "/wp-content/plugins/revslider/readme.txt"),
    ("GET", "/cgi-bin/luci/;stok=/locale"),
    ("GET", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"),
    ("GET", "/actuator/health"), ("GET", "/server-status"), ("GET", "/backup.zip"),
)
# Hostile but valid: logged as received, status 404/400.
_HOSTILE = (
    "/<script>alert(1)</script>",
    "/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/search/?q=<script>alert(1)</script>",
    "/products.php?id=1'+OR+'1'='1",
    "/search/?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
    '/search/?q="><img src=x onerror=alert(1)>',
    "/index.php?page=../../../../etc/passwd",
)


class _Site:
    def __init__(self, rng: random.Random, end_day: date):
        core = [
            ("/", 18400, True), ("/docs/", 11800, False), ("/docs/install/", 19800, False),
            ("/docs/getting-started/", 23400, False), ("/news/", 15200, True),
            ("/about/", 9100, False), ("/pricing/", 10400, False),
            ("/docs/configuration/", 31200, False), ("/docs/api/", 27500, False),
            ("/docs/faq/", 14100, False), ("/docs/api/auth/", 16900, False),
            ("/docs/api/events/", 21300, False), ("/docs/changelog/", 38700, False),
            ("/contact/", 7600, False), ("/privacy/", 12600, False),
            ("/tags/release/", 8200, True), ("/tags/community/", 7900, True),
            ("/tags/security/", 7400, True),
        ]
        news = []
        used = set()
        for i in range(36):
            age = int(900 * (i / 36) ** 1.6) + rng.randrange(0, 12)
            while True:
                slug = "-".join(rng.sample(_WORDS, rng.choice((2, 3))))
                if slug not in used:
                    used.add(slug)
                    break
            year = (end_day - timedelta(days=age)).year
            news.append((age, f"/news/{year}/{slug}/", slug))
        news.sort()
        pages: list[_Page] = []
        for path, size, dyn in core:
            pages.append(_Page(
                path, size, image="/static/img/hero.png" if path == "/" else None,
                image_size=182304 if path == "/" else 0,
                broken={"/docs/install/": "/docs/old-install/",
                        "/news/": "/news/2019/launch-party/"}.get(path),
                dynamic=dyn))
        for _age, path, slug in news:
            pages.append(_Page(path, rng.randrange(12000, 31000),
                               image=f"/static/img/news/{slug}.png",
                               image_size=rng.randrange(38000, 220000)))
        # Zipf-like popularity: the home page first, then a mix favouring docs and recent news.
        head, rest = pages[:5], pages[5:]
        score = {p.path: rng.lognormvariate(0, 0.6) * (2.0 if i < 8 else 1.0)
                 for i, p in enumerate(rest)}
        rest.sort(key=lambda p: -score[p.path])
        self.pages = head + rest
        self.by_path = {p.path: p for p in self.pages}
        self.cum = list(accumulate(_zipf_weights(len(self.pages), 1.05)))

    def pick(self, rng: random.Random) -> _Page:
        return self.pages[bisect(self.cum, rng.random() * self.cum[-1])]

    def uniform(self, rng: random.Random) -> _Page:
        return rng.choice(self.pages)


def _search_referrer(rng: random.Random) -> str:
    term = rng.choice(_SEARCH_TERMS)
    r = rng.random()
    if r < 0.35:
        return "https://www.google.com/"
    if r < 0.70:
        return f"https://www.google.com/search?q={quote_plus(term)}&hl=en"
    if r < 0.86:
        return f"https://www.bing.com/search?q={quote_plus(term)}&form=QBLH"
    return f"https://duckduckgo.com/?q={quote_plus(term)}&ia=web"


def _token(rng: random.Random, n: int, alphabet: str = "0123456789abcdef") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _landing(rng: random.Random, site: _Site) -> tuple[_Page, str, str]:
    """Landing page, query string and referrer of a new visit."""
    r = rng.random()
    page = site.pick(rng)
    query = ""
    if r < 0.38:  # direct, bookmarks, e-mail clients
        ref = "-"
        if rng.random() < 0.12:
            campaign = rng.choice(("2024-q4", "spring-update", "release-3-2", "weekly"))
            query = f"?utm_source=newsletter&utm_medium=email&utm_campaign={campaign}"
    elif r < 0.72:
        ref = _search_referrer(rng)
        while page.path in ("/", "/contact/", "/privacy/"):
            page = site.pick(rng)
    elif r < 0.80:
        s = rng.random()
        if s < 0.5:
            ref = f"https://t.co/{_token(rng, 10, _ALNUM)}"
            query = "?utm_source=twitter&utm_medium=social" if rng.random() < 0.5 else ""
        elif s < 0.8:
            ref = "https://www.facebook.com/"
            query = f"?fbclid=IwAR{_token(rng, 40, _ALNUM)}"
        else:
            ref = ("https://l.facebook.com/l.php?u=" + quote(SITE_URL + page.path, safe="")
                   + f"&h=AT{_token(rng, 24, _ALNUM)}")
    elif r < 0.93:
        ref = rng.choice((
            "https://blog.example.org/2024/03/notes-on-log-retention/",
            "https://blog.example.org/2023/11/self-hosted-analytics/",
            "https://notes.example.org/links/weekly-117/",
            "https://forum.example.net/t/how-to-set-up-weblog/1234",
            "https://wiki.example.net/Web_analytics",
            "https://news.example.org/item?id=39211234",
        ))
        if rng.random() < 0.3:
            query = "?utm_source=blog&utm_medium=referral"
    else:  # internal referrer from an earlier tab
        ref = SITE_URL + site.pick(rng).path
    return page, query, ref


# --------------------------------------------------------------------------------------
# Visitors
# --------------------------------------------------------------------------------------


@dataclass
class _Visitor:
    host: str
    ua: str
    proto: str
    mobile: bool
    token: str
    assets_day: int = -100  # last day the visitor's cache was filled


def _doc_v4(rng: random.Random) -> str:
    return str(rng.choice(DOC_V4_NETWORKS)[rng.randrange(1, 255)])


def _host_name(rng: random.Random, n: int) -> str:
    pattern = rng.randrange(5)
    if pattern == 0:
        return f"host-{n}.dsl.example.net"
    if pattern == 1:
        return f"cpe-{rng.randrange(1, 255)}-{rng.randrange(1, 255)}.cable.example.com"
    if pattern == 2:
        return f"p{rng.randrange(1000, 99999)}-ipoe.fiber.example.org"
    if pattern == 3:
        return f"ws-{n}.mobile.example.net"
    return f"gw{n}.office.example.com"


class _Hosts:
    """Client host renderer for the demo: IPv4/IPv6 documentation addresses or names."""

    def __init__(self, rng: random.Random):
        p48 = {0x0, 0x1}
        while len(p48) < 8:
            p48.add(rng.randrange(2, 0x10000))
        self.p48 = sorted(p48)
        self.n = 0

    def v6(self, rng: random.Random) -> str:
        p = rng.choice(self.p48)
        subnet = rng.choice((0, 0, 1, rng.randrange(0x10000)))
        iid = rng.getrandbits(64) if rng.random() < 0.6 else rng.randrange(1, 0x10000)
        return str(ipaddress.IPv6Address((0x20010DB8 << 96) | (p << 80) | (subnet << 64) | iid))

    def name(self, rng: random.Random) -> str:
        self.n += 1
        return _host_name(rng, self.n)


def _human_pool(rng: random.Random, hosts: _Hosts, size: int) -> list[_Visitor]:
    uas = [u for u, _ in _BROWSERS]
    weights = [w for _, w in _BROWSERS]
    pool = []
    for block in range(0, size, 100):
        kinds = ["v6"] * 5 + ["name"] * 2 + (["mapped"] if block % 400 == 0 else [])
        kinds += ["v4"] * (100 - len(kinds))
        rng.shuffle(kinds)
        for kind in kinds[: size - block]:
            if kind == "v6":
                host = hosts.v6(rng)
            elif kind == "name":
                host = hosts.name(rng)
            elif kind == "mapped":
                host = "::ffff:" + _doc_v4(rng)
            else:
                host = _doc_v4(rng)
            ua = _weighted(rng, uas, weights)
            mobile = "Mobile" in ua or "iPad" in ua
            proto = "HTTP/2.0" if rng.random() < 0.7 else "HTTP/1.1"
            pool.append(_Visitor(host, ua, proto, mobile, _token(rng, 16)))
    return pool


@dataclass
class _Bot:
    kind: str
    host: str
    ua: str
    weight: float


def _bot_pool(rng: random.Random, hosts: _Hosts) -> list[_Bot]:
    bots = []
    for i in range(4):
        host = f"crawl-{i + 1}.search.example.com" if i < 2 else _doc_v4(rng)
        bots.append(_Bot("google", host, _GOOGLEBOT_MOBILE if i % 2 else _GOOGLEBOT, 9))
    for i in range(3):
        host = (f"msnbot-{i + 1}.search.example.net" if i == 0
                else hosts.v6(rng) if i == 1 else _doc_v4(rng))
        bots.append(_Bot("bing", host, _BINGBOT, 6.5))
    for _ in range(3):
        bots.append(_Bot("ahrefs", _doc_v4(rng), _AHREFS, 4.5))
    bots.append(_Bot("monitor", _doc_v4(rng), _CURL[0], 0))  # uptime check, HEAD /
    for i in range(3):
        bots.append(_Bot("curl", _doc_v4(rng) if i else hosts.v6(rng), _CURL[i % 2], 0.7))
    for i in range(5):
        bots.append(_Bot("scraper", _doc_v4(rng) if i != 2 else hosts.v6(rng), _PYREQ[i % 2], 1.0))
    return bots


# --------------------------------------------------------------------------------------
# Demo day generation
# --------------------------------------------------------------------------------------

# A record is a tuple (t, host, user, method, target, proto, status, size, referrer, ua), with t in
# seconds since local midnight; target None means `method` is the whole (odd) request line.


class _Demo:
    def __init__(self, end_day: date, days: int, utc_offset: str, requests_per_day: int, seed: int):
        if days < 1:
            raise ValueError("days must be >= 1")
        if requests_per_day < 1:
            raise ValueError("requests_per_day must be >= 1")
        _parse_offset(utc_offset)
        self.end_day, self.days, self.off = end_day, days, utc_offset
        self.rpd = requests_per_day
        self.rng = random.Random(f"weblog-demo:{seed}")
        self.site = _Site(self.rng, end_day)
        self.hosts = _Hosts(self.rng)
        self.humans = _human_pool(self.rng, self.hosts, max(150, int(requests_per_day * 1.6)))
        self.human_cum = list(accumulate(_zipf_weights(len(self.humans), 0.75, 10.0)))
        self.bots = _bot_pool(self.rng, self.hosts)
        self.staff = [(_doc_v4(self.rng), _BROWSERS[1][0], "editor"),
                      (_doc_v4(self.rng), _BROWSERS[3][0], "ops")]
        self.maintenance = (self.rng.randrange(days), self.rng.randrange(4 * 3600, 6 * 3600))
        kinds = list(_MALFORMED_KINDS)
        self.rng.shuffle(kinds)
        self.malformed_kinds = kinds
        self.malformed_i = 0

    # -- humans ------------------------------------------------------------------------
    def _pick_visitor(self, rng: random.Random) -> _Visitor:
        return self.humans[bisect(self.human_cum, rng.random() * self.human_cum[-1])]

    def _assets(self, rng, out, v: _Visitor, t: float, page: _Page, first: bool, cached: bool):
        page_url = SITE_URL + page.path
        items = []
        if not cached:
            items = [(p, s, page_url) for p, s in _ASSETS]
            items[3] = (items[3][0], items[3][1], SITE_URL + _ASSETS[0][0])  # font from css
        elif first and rng.random() < 0.45:
            items = [(p, None, page_url) for p, _ in _ASSETS[:3]]  # revalidation: 304
        if page.image:
            items.append((page.image, page.image_size if not cached or rng.random() < 0.5 else None,
                          page_url))
        if page.path == "/about/" and not cached:
            items.append((_BROKEN_ASSET, -404, page_url))
        if first and not cached:
            items.append((_FAVICON[0], _FAVICON[1], page_url))
            if v.mobile and "iPhone" in v.ua:
                items.append((_TOUCH_ICON[0], _TOUCH_ICON[1], "-"))
        for path, size, ref in items:
            t += rng.uniform(0.02, 0.6)
            if size == -404:
                status, size = 404, 196
            else:
                status = 200 if size else 304
            out.append((t, v.host, "-", "GET", path, v.proto, status, size, ref, v.ua))
        return t

    def _session(self, rng: random.Random, day_i: int, t: float, out: list) -> None:
        v = self._pick_visitor(rng)
        site = self.site
        cached = day_i - v.assets_day <= 7
        v.assets_day = day_i if not cached else v.assets_day
        page, query, ref = _landing(rng, site)
        pages = 1
        while rng.random() < 0.45 and pages < 9:
            pages += 1
        session_param = rng.random() < 0.04
        for i in range(pages):
            if t >= DAY:
                return
            if i == 0 and page.path.count("/") > 2 and rng.random() < 0.05:
                # an old link without the trailing slash
                out.append((t, v.host, "-", "GET", page.path.rstrip("/") + query, v.proto, 301, 237,
                            ref, v.ua))
                t += rng.uniform(0.05, 0.5)
            size = page.size + (rng.randrange(-300, 300) if page.dynamic else 0)
            out.append((t, v.host, "-", "GET", page.path + query, v.proto, 200, size, ref, v.ua))
            t = self._assets(rng, out, v, t, page, i == 0, cached or i > 0)
            here = SITE_URL + page.path + query
            t += rng.lognormvariate(math.log(25), 0.9)
            if t >= DAY:
                return
            r = rng.random()
            if page.broken and r < 0.08:
                out.append((t, v.host, "-", "GET", page.broken, v.proto, 404, 196, here, v.ua))
                t += rng.lognormvariate(math.log(6), 0.5)
            elif r < 0.07:
                term = rng.choice(_SEARCH_TERMS)
                status = 500 if rng.random() < 0.02 else 200
                size = 531 if status == 500 else rng.randrange(6000, 14000)
                out.append((t, v.host, "-", "GET", f"/search/?q={quote_plus(term)}", v.proto,
                            status, size, here, v.ua))
                t += rng.lognormvariate(math.log(15), 0.6)
            elif page.path == "/contact/" and r < 0.35:
                out.append((t, v.host, "-", "POST", "/contact/", v.proto, 302, None, here, v.ua))
                t += rng.uniform(0.1, 0.6)
                out.append((t, v.host, "-", "GET", "/contact/thanks/", v.proto, 200, 5120, here,
                            v.ua))
                return
            elif r < 0.085:
                out.append((t, v.host, "-", "POST", "/api/subscribe", v.proto, 204, None, here,
                            v.ua))
            elif page.path == "/news/" and r < 0.3:
                query = f"?page={rng.randrange(2, 6)}"
                page = site.by_path["/news/"]
                ref = here
                continue
            ref = here
            page = site.pick(rng)
            query = f"?session={v.token}" if session_param else ""

    # -- bots --------------------------------------------------------------------------
    def _bot_requests(self, rng: random.Random, day_i: int, budget: int, out: list) -> None:
        site = self.site

        def emit(t: float, bot: _Bot, method: str, path: str, status: int, size: int | None):
            out.append((t, bot.host, "-", method, path, "HTTP/1.1", status, size, "-", bot.ua))

        monitor = next(b for b in self.bots if b.kind == "monitor")
        n_mon = max(1, budget // 6)
        step = DAY / n_mon
        phase = rng.uniform(0, step)
        for k in range(n_mon):
            emit(phase + k * step + rng.uniform(0, 0.3), monitor, "HEAD", "/", 200, None)
        budget -= n_mon
        crawlers = [b for b in self.bots if b.weight > 0]
        cum = list(accumulate(b.weight for b in crawlers))
        scanner = rng.choice([b for b in self.bots if b.kind == "scraper"])
        # A probe burst from one scanner, with two hostile payloads per day.
        t = rng.uniform(0, DAY - 600)
        probes = rng.sample(_SCANS, rng.randrange(3, 7))
        for j, (method, path) in enumerate(probes):
            emit(t + 2 * j, scanner, method, path, 404, 196)
        for j in range(2):
            path = _HOSTILE[(2 * day_i + j) % len(_HOSTILE)]
            emit(t + 20 + j, scanner, "GET", path, 400 if "<" in path and "?" not in path else 404,
                 226)
        budget -= len(probes) + 2
        if day_i % 3 == 1:  # TLS spoken to the plain-HTTP port
            hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
            out.append((rng.uniform(0, DAY), _doc_v4(rng), "-", hello, None, None, 400, 226, "-",
                        "-"))
        robots_done = set()
        while budget > 0:
            b = crawlers[bisect(cum, rng.random() * cum[-1])]
            t = rng.uniform(0, DAY)
            budget -= 1
            if b.kind in ("google", "bing", "ahrefs"):
                if b.host not in robots_done or rng.random() < 0.01:
                    robots_done.add(b.host)
                    emit(t, b, "GET", _ROBOTS[0], 200, _ROBOTS[1])
                    continue
                r = rng.random()
                if r < 0.03:
                    emit(t, b, "GET", _SITEMAP[0], 200, _SITEMAP[1])
                elif r < 0.07:
                    emit(t, b, "GET", rng.choice(_REMOVED), 404, 196)
                elif r < 0.10:
                    p = site.uniform(rng).path.rstrip("/") or "/index.html"
                    emit(t, b, "GET", p, 301, 237)
                elif r < 0.13 and b.kind == "ahrefs":
                    emit(t, b, "GET", f"/news/?page={rng.randrange(2, 9)}", 200,
                         rng.randrange(14000, 16000))
                else:
                    page = site.uniform(rng)
                    status = 304 if b.kind == "google" and rng.random() < 0.3 else 200
                    emit(t, b, "GET", page.path, status, page.size if status == 200 else None)
            elif b.kind == "curl":
                r = rng.random()
                if r < 0.5:
                    emit(t, b, "GET", _FEED[0], 200, _FEED[1])
                elif r < 0.8:
                    emit(t, b, "HEAD", site.uniform(rng).path, 200, None)
                else:
                    emit(t, b, "GET", '/search/?q="exact phrase"', 200, rng.randrange(6000, 9000))
            else:  # python-requests scrapers
                page = site.uniform(rng)
                emit(t, b, "GET", page.path, 200, page.size)

    # -- one local day -----------------------------------------------------------------
    def day(self, day_i: int) -> tuple[list[str], int]:
        rng = self.rng
        d = self.end_day - timedelta(days=self.days - 1 - day_i)
        weekend = d.weekday() >= 5
        target = max(1, round(self.rpd * _WEEKDAY[d.weekday()] * rng.uniform(0.94, 1.06)))
        bot_budget = round(target * rng.uniform(0.10, 0.15))
        human_budget = target - bot_budget
        hours = _HOUR_WEEKEND if weekend else _HOUR_WEEKDAY
        hour_cum = list(accumulate(hours))
        recs: list[tuple] = []
        while len(recs) < human_budget:
            hour = bisect(hour_cum, rng.random() * hour_cum[-1])
            self._session(rng, day_i, hour * 3600 + rng.uniform(0, 3600), recs)
        self._bot_requests(rng, day_i, bot_budget, recs)
        if not weekend:  # staff using the basic-auth admin area
            for host, ua, user in self.staff:
                if rng.random() < 0.7:
                    t = rng.uniform(8 * 3600, 18 * 3600)
                    recs.append((t, host, "-", "GET", "/admin/", "HTTP/2.0", 401, 381, "-", ua))
                    for k in range(rng.randrange(1, 5)):
                        t += rng.uniform(3, 90)
                        path = rng.choice(("/admin/", "/admin/stats/", "/admin/users/"))
                        recs.append((t, host, user, "GET", path, "HTTP/2.0", 200,
                                     rng.randrange(4000, 9000), SITE_URL + "/admin/", ua))
        for _ in range(rng.randrange(0, 4)):  # pre-connections closed without a request
            v = self._pick_visitor(rng)
            recs.append((rng.uniform(0, DAY), v.host, "-", "", None, None, 408, None, "-", "-"))
        recs = [r for r in recs if r[0] < DAY]
        recs.sort(key=lambda r: r[0])
        m_day, m_start = self.maintenance
        lines = []
        for t, host, user, method, target_, proto, status, size, ref, ua in recs:
            sec = int(t)
            if day_i == m_day and m_start <= sec < m_start + 900 and status != 408:
                status, size = 503, (299 if method != "HEAD" else None)
            if method == "HEAD" or status in (204, 304):
                size = None
            req = _esc(f"{method} {target_} {proto}") if target_ else _esc(method, True) or "-"
            lines.append(f"{host} - {user} [{_stamp(d, sec, self.off)}] \"{req}\" {status} "
                         f"{_size(size)} \"{_esc(ref)}\" \"{_esc(ua)}\"")
        # About 0.1% malformed lines, inserted at random places.
        k = int(len(lines) * MALFORMED_RATE + rng.random())
        for pos in sorted((rng.randrange(len(lines) + 1) for _ in range(k)), reverse=True):
            kind = self.malformed_kinds[self.malformed_i % len(self.malformed_kinds)]
            self.malformed_i += 1
            near = lines[min(pos, len(lines) - 1)]
            other = lines[max(pos - 1, 0)]
            lines.insert(pos, _malformed(kind, rng, near, other))
        return lines, k


# --------------------------------------------------------------------------------------
# Malformed lines (shared by both generators)
# --------------------------------------------------------------------------------------

_MALFORMED_KINDS = ("truncated", "garbage", "missing", "unterminated", "unescaped", "glued",
                    "blank")
_GARBAGE = (
    "PHP Warning:  Undefined variable $page in /srv/www/index.php on line 42",
    "[Mon Jan 06 03:12:55.120331 2025] [mpm_event:notice] [pid 811:tid 811] AH00489: resuming",
    "~~~~ rotate: log reopened ~~~~",
    "q8#lP zz !!~ 0x7f3a 9c<< >>%% ::",
    "GET / HTTP/1.1",
    "Host: www.example.com",
)


def _malformed(kind: str, rng: random.Random, line: str, other: str) -> str:
    """A line a strict combined parser must reject, derived from a valid `line`."""
    if kind == "truncated":  # writer killed mid-record: cut before the status code
        cut = line.index('"') + 1 + rng.randrange(0, max(1, line.index('" ') - line.index('"') - 1))
        out = line[:cut]
    elif kind == "garbage":
        out = rng.choice(_GARBAGE)
    elif kind == "missing":  # fields dropped: no ident/user, or no size
        if rng.random() < 0.5:
            host, rest = line.split(" - ", 1)
            out = host + " " + rest.split(" ", 1)[1]
        else:
            head, tail = line.split('" ', 1)
            status, _size_, rest = tail.split(" ", 2)
            out = f'{head}" {status} {rest}'
    elif kind == "unterminated":  # the user agent's closing quote is missing
        out = line[:-1] if rng.random() < 0.5 else line[:-1] + "\\"
    elif kind == "unescaped":  # a logger that does not escape quotes inside the request
        head, tail = line.split('"', 1)
        end = tail.find('" ')
        parts = tail[:end].split(" ")
        if len(parts) == 3 and parts[1].startswith("/"):
            parts[1] += '?from="home"'
        else:
            parts = ["GET", '/"home"', "HTTP/1.1"]
        out = f'{head}"{" ".join(parts)}{tail[end:]}'
    elif kind == "glued":  # a lost newline
        out = line + other
    else:
        out = ""
    if COMBINED_RE.fullmatch(out.encode("latin-1", "replace")):
        out = line[: len(line) // 3]  # belt and braces: never emit a valid line here
    return out


# --------------------------------------------------------------------------------------
# Public API: demo logs
# --------------------------------------------------------------------------------------


def _build_demo(end_day, days, utc_offset, requests_per_day, seed):
    demo = _Demo(end_day, days, utc_offset, requests_per_day, seed)
    names = log_file_names(days)
    for i in range(days):
        lines, malformed = demo.day(i)
        yield names[i], end_day - timedelta(days=days - 1 - i), lines, malformed


def generate_demo_logs(out_dir: Path, end_day: date, days: int = 14, utc_offset: str = "+0900",
                       requests_per_day: int = 2500, seed: int = 7) -> list[Path]:
    """Write a site's daily-rotated logs for the `days` local days ending with `end_day`.

    ``access.log`` holds `end_day`, ``access.log.1`` the day before, older days are
    ``access.log.2.gz`` ... ``access.log.<days-1>.gz`` (one day per file, like logrotate with
    ``daily`` and ``delaycompress``).  Returns the paths oldest first.  Each file's mtime is set
    to the end of its local day.  Deterministic for given arguments.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tz = timezone(_parse_offset(utc_offset))
    paths = []
    for name, day, lines, _k in _build_demo(end_day, days, utc_offset, requests_per_day, seed):
        data = ("\n".join(lines) + "\n").encode("ascii")
        path = out_dir / name
        if name.endswith(".gz"):
            data = gzip.compress(data, compresslevel=6, mtime=0)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        last = datetime.combine(day, time(23, 59, 59), tz)
        os.utime(path, (last.timestamp(), last.timestamp()))
        paths.append(path)
    return paths


def demo_manifest(end_day: date, days: int = 14, utc_offset: str = "+0900",
                  requests_per_day: int = 2500, seed: int = 7) -> list[dict]:
    """What :func:`generate_demo_logs` writes for the same arguments, oldest first, without
    writing: ``[{'name', 'day', 'lines', 'malformed'}, ...]``."""
    return [{"name": name, "day": day, "lines": len(lines), "malformed": k}
            for name, day, lines, k in _build_demo(end_day, days, utc_offset, requests_per_day,
                                                    seed)]


# --------------------------------------------------------------------------------------
# Public API: benchmark logs
# --------------------------------------------------------------------------------------

_BLOCK = 100_000
_BOT_SHARE = 0.12


def _bench_host(i: int, salt: int) -> str:
    """Client `i` of the benchmark: 10.0.0.0/8, 100.64.0.0/10, 2001:db8::/32 or a name."""
    h = ((i + salt) * 0x9E3779B1) & 0xFFFFFFFF
    if h % 20 == 3:
        p48 = (h >> 8) % 197 * 331 % 0x10000
        iid = (h * 0xD6E8FEB86659FD93 + i) & 0xFFFFFFFFFFFFFFFF
        if h & 0x100:
            iid &= 0xFFFF
        subnet = (h >> 16) % 4
        return str(ipaddress.IPv6Address((0x20010DB8 << 96) | (p48 << 80) | (subnet << 64) | iid))
    if h % 33 == 7:
        return _host_name(random.Random(h), i)
    if i % 4 == 0:
        x = ((i // 4) * 0x2C9277B5) & 0x3FFFFF
        return f"100.{64 + (x >> 16)}.{(x >> 8) & 255}.{x & 255}"
    x = (i * 0x9E3779B1) & 0xFFFFFF
    return f"10.{x >> 16}.{(x >> 8) & 255}.{x & 255}"


def _bench_pools(prng: random.Random, start_day: date):
    """Pre-rendered response and referrer pools with weights."""
    site = _Site(prng, start_day)
    pop = _zipf_weights(len(site.pages), 1.05)
    resp: list[tuple[str, float]] = []
    proto = "HTTP/1.1"

    def add(method, target, status, size, weight, p=proto):
        if method == "HEAD" or status in (204, 304):
            size = None
        resp.append((f'{_esc(f"{method} {target} {p}")}" {status} {_size(size)} "', weight))

    for page, w in zip(site.pages, pop):
        for k in range(3):
            jitter = prng.randrange(-300, 300) if page.dynamic else 0
            add("GET", page.path, 200, page.size + jitter, w / 3, "HTTP/2.0" if k else proto)
        for _ in range(6):
            source = prng.choice(("newsletter", "twitter", "blog"))
            medium = prng.choice(("email", "social", "referral"))
            add("GET", f"{page.path}?utm_source={source}&utm_medium={medium}"
                f"&utm_campaign=c{prng.randrange(40)}", 200, page.size, w * 0.01)
        for _ in range(20):
            add("GET", f"{page.path}?session={_token(prng, 16)}", 200, page.size, w * 0.002)
        add("GET", f"{page.path}?fbclid=IwAR{_token(prng, 40, _ALNUM)}", 200, page.size, w * 0.005)
        if page.path.count("/") > 2:
            add("GET", page.path.rstrip("/"), 301, 237, w * 0.02)
        add("HEAD", page.path, 200, None, w * 0.01)
        if page.image:
            add("GET", page.image, 200, page.image_size, w * 0.5)
            add("GET", page.image, 304, None, w * 0.3)
    total_pages = sum(pop)
    for path, size in _ASSETS:
        add("GET", path, 200, size, total_pages * 0.35)
        add("GET", path, 304, None, total_pages * 0.15)
    for term in _SEARCH_TERMS:
        add("GET", f"/search/?q={quote_plus(term)}", 200, prng.randrange(6000, 14000),
            total_pages * 0.004)
    add("GET", "/search/?q=weblog", 500, 531, total_pages * 0.0005)
    add("GET", "/", 503, 299, total_pages * 0.0003)
    add("GET", _FAVICON[0], 200, _FAVICON[1], total_pages * 0.15)
    add("GET", _TOUCH_ICON[0], 200, _TOUCH_ICON[1], total_pages * 0.03)
    add("GET", _BROKEN_ASSET, 404, 196, total_pages * 0.01)
    add("GET", "/docs/old-install/", 404, 196, total_pages * 0.004)
    add("POST", "/contact/", 302, None, total_pages * 0.003)
    add("POST", "/api/subscribe", 204, None, total_pages * 0.003)
    add("GET", '/search/?q="exact phrase"', 200, 7012, total_pages * 0.002)
    for path in _HOSTILE:
        add("GET", path, 404, 226, total_pages * 0.0005)
    n_human = len(resp)
    # Bot responses: robots.txt, sitemap, pages crawled uniformly, removed pages, probes.
    add("GET", _ROBOTS[0], 200, _ROBOTS[1], 3)
    add("GET", _SITEMAP[0], 200, _SITEMAP[1], 1)
    add("HEAD", "/", 200, None, 10)
    add("GET", _FEED[0], 200, _FEED[1], 4)
    for page in site.pages:
        add("GET", page.path, 200, page.size, 1)
        add("GET", page.path, 304, None, 0.3)
    for path in _REMOVED:
        add("GET", path, 404, 196, 0.5)
    for method, path in _SCANS:
        add(method, path, 404, 196, 0.2)
    # Referrers; each entry carries the closing quote and the opening quote of the UA.
    refs: list[tuple[str, float]] = [("-", 45.0)]
    for page, w in zip(site.pages, pop):
        refs.append((SITE_URL + page.path, 30 * w / total_pages))
    for _ in range(300):
        refs.append((_search_referrer(prng), 12 / 300))
    for _ in range(100):
        refs.append((f"https://t.co/{_token(prng, 10, _ALNUM)}", 3 / 100))
    refs.append(("https://www.facebook.com/", 2))
    for url in ("https://blog.example.org/2024/03/notes-on-log-retention/",
                "https://notes.example.org/links/weekly-117/",
                "https://forum.example.net/t/how-to-set-up-weblog/1234"):
        refs.append((url, 2))
    ref_strs = [f'{_esc(r)}" "' for r, _ in refs]
    return resp, n_human, ref_strs, [w for _, w in refs]


def _cdf(weights) -> np.ndarray:
    c = np.cumsum(np.asarray(weights, dtype=np.float64))
    return c / c[-1]


def _pick(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def generate_bench_log(path: Path, lines: int, seed: int = 1, start: datetime | None = None,
                       utc_offset: str = "+0000", days: int = 1) -> dict:
    """Write `lines` combined-format lines spread over `days` days from `start` (local time at
    `utc_offset`; default 2025-01-06 00:00) in time order, streaming in blocks.

    Clients follow a Zipf law over about 50k addresses per million lines (more for bigger
    files) from 10.0.0.0/8, 100.64.0.0/10 and 2001:db8::/32 (about 5% IPv6), plus a few host
    names; about 12% of the lines come from bots and about 0.1% are malformed.
    Returns ``{'lines': n, 'malformed': k, 'bytes': size}``.
    """
    if lines < 0:
        raise ValueError("lines must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    off = _parse_offset(utc_offset)
    tz = timezone(off)
    if start is None:
        start = datetime(2025, 1, 6)
    elif start.tzinfo is not None:
        start = start.astimezone(tz).replace(tzinfo=None)
    start_day = start.date()
    start_sod = start.hour * 3600 + start.minute * 60 + start.second
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    prng = random.Random(f"weblog-bench:{seed}")
    rng = np.random.default_rng(seed)
    resp, n_human_resp, ref_strs, ref_w = _bench_pools(prng, start_day)
    resp_arr = np.array([s for s, _ in resp], dtype=object)
    human_resp_cdf = _cdf([w for _, w in resp[:n_human_resp]])
    bot_resp_cdf = _cdf([w for _, w in resp[n_human_resp:]])
    ref_arr = np.array(ref_strs, dtype=object)
    ref_cdf = _cdf(ref_w)

    # Clients: humans (Zipf over ranks, ranks shuffled onto ids) and a few hundred bots.
    n_clients = max(1000, int(50_000 * (max(lines, 1) / 1e6) ** 0.8))
    n_bots = 300
    salt = prng.randrange(1 << 20)
    ids = rng.permutation(n_clients)
    ua_choices = [u for u, _ in _BROWSERS]
    ua_table = [_esc(u) + '"' for u in prng.choices(ua_choices, [w for _, w in _BROWSERS], k=997)]
    heads = np.empty(n_clients + n_bots, dtype=object)
    tails = np.empty(n_clients + n_bots, dtype=object)
    for r in range(n_clients):
        i = int(ids[r])
        heads[r] = _bench_host(i, salt) + " - - ["
        tails[r] = ua_table[(i * 7919 + salt) % 997]
    bot_uas = ([_GOOGLEBOT] * 60 + [_GOOGLEBOT_MOBILE] * 45 + [_BINGBOT] * 60 + [_AHREFS] * 45
               + [_CURL[0]] * 25 + [_CURL[1]] * 20 + [_PYREQ[0]] * 25 + [_PYREQ[1]] * 20)
    prng.shuffle(bot_uas)
    for j in range(n_bots):
        heads[n_clients + j] = _bench_host(n_clients + 7 * j + 1, salt) + " - - ["
        tails[n_clients + j] = _esc(bot_uas[j]) + '"'
    human_cdf = _cdf(_zipf_weights(n_clients, 0.9, 10.0))
    bot_cdf = _cdf(_zipf_weights(n_bots, 1.0, 3.0))

    # Time: line i sits at quantile (i + u) / n of the traffic curve, so times never decrease.
    span_min = days * 1440
    abs_min = start_sod // 60 + np.arange(span_min)
    hour = (abs_min // 60) % 24
    dow = (start_day.weekday() + abs_min // 1440) % 7
    rate = np.where(dow >= 5, np.asarray(_HOUR_WEEKEND)[hour], np.asarray(_HOUR_WEEKDAY)[hour])
    rate = rate * np.asarray(_WEEKDAY)[dow]
    cdf_t = np.concatenate(([0.0], np.cumsum(rate)))
    cdf_t /= cdf_t[-1]
    grid = np.arange(span_min + 1, dtype=np.float64) * 60.0
    last_sec = days * DAY - 1
    day_prefix: dict[int, str] = {}
    suffix = f' {utc_offset}] "'

    mrng = random.Random(f"weblog-bench-malformed:{seed}")
    malformed = 0
    done = 0
    with open(path, "wb", buffering=8 << 20) as out:
        while done < lines:
            b = min(_BLOCK, lines - done)
            q = (np.arange(done, done + b, dtype=np.float64) + rng.random(b)) / max(lines, 1)
            t = np.minimum(np.floor(np.interp(q, cdf_t, grid)).astype(np.int64), last_sec)
            bot = rng.random(b) < _BOT_SHARE
            client = np.where(bot, _pick(rng, bot_cdf, b) + n_clients, _pick(rng, human_cdf, b))
            r = np.where(bot, _pick(rng, bot_resp_cdf, b) + n_human_resp,
                         _pick(rng, human_resp_cdf, b))
            ref = np.where(bot, 0, _pick(rng, ref_cdf, b))
            bad = np.flatnonzero(rng.random(b) < MALFORMED_RATE)

            abs_sec = t + start_sod
            uniq, inv = np.unique(abs_sec, return_inverse=True)
            stamps = []
            for s in uniq.tolist():
                dn, sod = divmod(s, DAY)
                pre = day_prefix.get(dn)
                if pre is None:
                    d = start_day + timedelta(days=dn)
                    pre = day_prefix[dn] = f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:"
                h, rem = divmod(sod, 3600)
                stamps.append(f"{pre}{h:02d}:{rem // 60:02d}:{rem % 60:02d}{suffix}")
            ts = np.array(stamps, dtype=object)[inv].tolist()

            block = list(map("".join, zip(heads[client].tolist(), ts, resp_arr[r].tolist(),
                                          ref_arr[ref].tolist(), tails[client].tolist())))
            for i in bad.tolist():
                kind = _MALFORMED_KINDS[mrng.randrange(len(_MALFORMED_KINDS))]
                block[i] = _malformed(kind, mrng, block[i], block[i - 1] if i else block[-1])
            malformed += len(bad)
            out.write(("\n".join(block) + "\n").encode("ascii"))
            done += b
        size = out.tell()
    return {"lines": lines, "malformed": malformed, "bytes": size}


# --------------------------------------------------------------------------------------
# Independent recount
# --------------------------------------------------------------------------------------


def expected_counts(path: Path) -> dict:
    """Count lines, strictly valid combined lines and malformed lines of a (possibly .gz)
    log with a plain Python regex.  Only the newline ends a line; an empty line counts as a
    malformed line; a final line without a newline still counts."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    total = valid = 0
    match = COMBINED_RE.fullmatch
    with opener(path, "rb") as fh:
        for raw in fh:
            total += 1
            if match(raw[:-1] if raw.endswith(b"\n") else raw):
                valid += 1
    return {"lines": total, "valid": valid, "malformed": total - valid}

"""Referrer hosts, registered domains and referrer classes.

A full referrer URL can carry personal data (search terms, session tokens, e-mail
addresses in query strings), so the warehouse keeps only the *registered domain* of the
referring host (``news.ycombinator.com`` -> ``ycombinator.com``) and a coarse class
(direct / internal / search / social / external).

Registered domains come from the Public Suffix List snapshot bundled with tldextract.
The extractor is built with ``suffix_list_urls=()`` and ``cache_dir=None``: no download is
ever attempted (plain ``tldextract.extract`` fetches the list first, with no timeout) and
nothing is written to disk.  The explicit argument also overrides the
``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` environment variable.  PSL *private* suffixes
(``blogspot.com``, ``github.io``) are not used, so ``someone.github.io`` reduces to
``github.io``: coarser, and it keeps personal sub-sites out of the warehouse.

Hosts are normalised: surrounding whitespace and ``[]`` removed, lower-cased, trailing
dots dropped, an optional ``:port`` removed, and internationalised names converted to their
ASCII (punycode) form, as browsers send them (``bücher.de`` -> ``xn--bcher-kva.de``; this
also keeps look-alike Unicode names recognisable in reports).  Anything that is not a
plausible host name (spaces, control characters, ``/``, ``@``, a label over 63 or a name
over 253 characters, ...) gives ``None``, as do IP literals and names without a public
suffix (``localhost``, ``monitoring-server``).
"""

from __future__ import annotations

import ipaddress
import re
import threading
from typing import Sequence
from urllib.parse import unquote

__all__ = [
    "SEARCH_APPS",
    "SEARCH_BRANDS",
    "SEARCH_DOMAINS",
    "SOCIAL_APPS",
    "SOCIAL_BRANDS",
    "SOCIAL_DOMAINS",
    "classify_referrer",
    "referrer_domain",
    "registered_domain",
    "registered_domains",
    "url_host",
]

#: Search engines, matched on the registered domain.
SEARCH_DOMAINS = frozenset(
    {
        "bing.com", "duckduckgo.com", "ecosia.org", "qwant.com", "startpage.com",
        "naver.com", "seznam.cz", "baidu.com", "ya.ru", "sogou.com", "so.com", "daum.net",
        "ask.com", "brave.com", "kagi.com", "mojeek.com", "yep.com", "coccoc.com",
        "search.ch", "metager.org", "metager.de", "swisscows.com", "presearch.com",
        "you.com", "lilo.org",
    }
)

#: Search engines under many country suffixes: the registrable label alone decides
#: (``google.de``, ``google.co.uk``, ``yahoo.co.jp``, ``yandex.com.tr``).  Only the
#: registered domain is kept, so ``mail.google.com`` (or ``news.yahoo.com``) also counts
#: as search.
SEARCH_BRANDS = frozenset({"google", "yahoo", "yandex", "bing", "baidu"})

#: Social networks, link shorteners of social networks, forums and messengers.
SOCIAL_DOMAINS = frozenset(
    {
        "facebook.com", "fb.com", "fb.me", "messenger.com", "instagram.com",
        "twitter.com", "t.co", "x.com", "linkedin.com", "lnkd.in",
        "reddit.com", "redd.it", "youtube.com", "youtu.be", "pinterest.com", "pin.it",
        "tiktok.com", "tumblr.com", "threads.net", "bsky.app", "mastodon.social",
        "mastodon.online", "fosstodon.org", "hachyderm.io", "ycombinator.com",
        "lobste.rs", "slashdot.org", "vk.com", "ok.ru", "weibo.com", "quora.com",
        "discord.com", "discordapp.com", "t.me", "telegram.org", "whatsapp.com", "wa.me",
        "snapchat.com", "xing.com", "tildes.net",
    }
)

#: Social networks under many country suffixes (``pinterest.de``, ``pinterest.co.uk``).
SOCIAL_BRANDS = frozenset({"pinterest"})

#: Android apps that send ``android-app://<package>/`` referrers.
SEARCH_APPS = frozenset({"com.google.android.googlequicksearchbox"})
SOCIAL_APPS = frozenset(
    {
        "com.facebook.katana", "com.facebook.lite", "com.facebook.orca",
        "com.instagram.android", "com.twitter.android", "com.linkedin.android",
        "com.reddit.frontpage", "com.google.android.youtube", "com.pinterest",
        "com.zhiliaoapp.musically", "org.telegram.messenger", "com.whatsapp",
        "org.joinmastodon.android", "xyz.blueskyweb.app", "com.discord",
    }
)

_MAX_HOST_CHARS = 253
_MAX_LABEL_CHARS = 63
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# Letters and digits of any script, '_', '-' and '.'; \w also admits digits like '٣'.
_HOST_CHARS = re.compile(r"[\w.-]+")
_MAYBE_IP = re.compile(r"[0-9.]{7,15}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%.*)?", re.DOTALL)
_PORT = re.compile(r":[0-9]{0,5}\Z")
# scheme "://" authority  (RFC 3986 scheme syntax)
_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#\\]*)")

_extractor_lock = threading.Lock()
_extractor_instance = None


def _build_extractor():
    """A TLDExtract on the bundled suffix-list snapshot: no fetch, no disk cache."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _extractor():
    """The module's extractor, built once on first use (thread-safe)."""
    global _extractor_instance
    extractor = _extractor_instance
    if extractor is None:
        with _extractor_lock:
            if _extractor_instance is None:
                _extractor_instance = _build_extractor()
            extractor = _extractor_instance
    return extractor


def _ip(host: str) -> str | None:
    """Canonical text of an IP literal (IPv6 may carry a zone), else None."""
    if _MAYBE_IP.fullmatch(host) is None:  # cheap filter: ipaddress raises on every name
        return None
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return None


def _normalise_host(host: str) -> str | None:
    """Lower-cased host name or IP text, or None when it is not a plausible host."""
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    elif h.startswith("[") and "]:" in h:  # [v6]:port
        h = h[1 : h.index("]:")]
    ip = _ip(h)
    if ip is not None:
        return ip
    if h.count(":") == 1 and _PORT.search(h):  # name:port
        h = h[: h.index(":")]
    h = h.translate(_DOTS).lower().rstrip(".")
    if not h or _HOST_CHARS.fullmatch(h) is None:
        return None
    if not h.isascii():  # internationalised name -> its ASCII (punycode) form
        try:
            h = h.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    if len(h) > _MAX_HOST_CHARS or any(len(label) > _MAX_LABEL_CHARS for label in h.split(".")):
        return None
    ip = _ip(h)
    return ip if ip is not None else h


def registered_domain(host: str | None) -> str | None:
    """Registered domain of a host name (``host-7.dsl.example.net`` -> ``example.net``).

    ``None`` for a missing value, an IP literal, a name with no public suffix
    (``localhost``) or anything that is not a host name.  Never raises for a ``str``.
    """
    if host is None:
        return None
    if not isinstance(host, str):
        raise TypeError(f"host must be str or None, not {type(host).__name__}")
    h = _normalise_host(host)
    return None if h is None else _registered(h)


def _registered(h: str) -> str | None:
    """Registered domain of a host already normalised by :func:`_normalise_host`."""
    if _ip(h) is not None:
        return None
    try:
        domain = _extractor()(h).top_domain_under_public_suffix
    except ValueError:  # defensive (includes UnicodeError): tldextract on odd labels
        return None
    return domain.lower() or None


def _split_url(url: str | None) -> tuple[str, str] | None:
    """(lower-cased scheme, normalised host) of an absolute URL, or None."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise TypeError(f"url must be str or None, not {type(url).__name__}")
    m = _AUTHORITY.match(url.strip())
    if m is None:
        return None
    scheme, authority = m.group(1).lower(), m.group(2)
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):  # IPv6 literal, optionally with :port
        end = hostport.find("]")
        rest = hostport[end + 1 :]
        if end < 0 or (rest and _PORT.fullmatch(rest) is None):
            return None
        ip = _ip(unquote(hostport[1:end]))
        return (scheme, ip) if ip is not None and ":" in ip else None
    if hostport.count(":") > 1:
        return None
    name, sep, port = hostport.partition(":")
    if sep and _PORT.fullmatch(sep + port) is None:
        return None
    host = _normalise_host(name)
    return (scheme, host) if host is not None else None


def url_host(url: str | None) -> str | None:
    """Host of an absolute URL, lower-cased, without port or brackets.

    ``'https://www.Example.com:8443/x?y'`` -> ``'www.example.com'``,
    ``'android-app://com.google.android.gm/'`` -> ``'com.google.android.gm'``,
    ``'http://[2001:db8::1]/'`` -> ``'2001:db8::1'``; ``'-'``, ``''``, relative or
    malformed URLs -> ``None``.  Never raises for a ``str``.
    """
    parts = _split_url(url)
    return parts[1] if parts else None


def referrer_domain(url: str | None) -> str | None:
    """Registered domain of a referrer URL's host; ``None`` for an IP-literal host.

    An ``android-app://<package>/`` referrer names an app, not a host: the package name is
    returned as is (PSL reduction would turn ``com.google.android.gm`` into
    ``android.gm``).
    """
    parts = _split_url(url)
    if parts is None:
        return None
    scheme, host = parts
    if _ip(host) is not None:
        return None
    if scheme == "android-app":
        return host
    return _registered(host)


def _brand(domain: str) -> str:
    return domain.split(".", 1)[0]


def classify_referrer(domain: str | None, site_domains: Sequence[str]) -> str:
    """'direct', 'internal', 'search', 'social' or 'external' for a referrer domain.

    ``domain`` is what :func:`referrer_domain` returns (``None`` = no referrer).
    ``site_domains`` are the site's own domains; a referrer equal to one of them, or a
    sub-domain of one, is internal.  The search and social lists are the module
    constants above.
    """
    if domain is None:
        return "direct"
    if isinstance(site_domains, str):  # one domain given bare, not as a sequence
        site_domains = (site_domains,)
    d = domain.strip().lower().rstrip(".")
    if not d or d == "-":
        return "direct"
    for site in site_domains:
        s = site.strip().lower().rstrip(".")
        if s and (d == s or d.endswith("." + s)):
            return "internal"
    if d in SEARCH_APPS:
        return "search"
    if d in SOCIAL_APPS:
        return "social"
    # Accept a full host too: also look at its registered domain.  Brands are checked on
    # the registered domain only, so "google.example.net" is not taken for Google.
    reg = registered_domain(d)
    names = (d, reg) if reg and reg != d else (d,)
    if any(n in SEARCH_DOMAINS for n in names) or (reg and _brand(reg) in SEARCH_BRANDS):
        return "search"
    if any(n in SOCIAL_DOMAINS for n in names) or (reg and _brand(reg) in SOCIAL_BRANDS):
        return "social"
    return "external"


def registered_domains(hosts: Sequence[str | None]) -> dict[str, list]:
    """Column-oriented batch over the distinct hosts: ``{'host': [...], 'domain': [...]}``.

    One row per distinct input value in first-seen order (``None`` included when
    present); ``domain`` is :func:`registered_domain` of ``host``.
    """
    out: dict[str, list] = {"host": [], "domain": []}
    for host in dict.fromkeys(hosts):
        out["host"].append(host)
        out["domain"].append(registered_domain(host))
    return out

"""Tests for pipelines.domains: hosts, registered domains, referrer classes, no network."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import domains
from pipelines.domains import (
    SEARCH_APPS,
    SEARCH_DOMAINS,
    SOCIAL_APPS,
    SOCIAL_DOMAINS,
    classify_referrer,
    referrer_domain,
    registered_domain,
    registered_domains,
    url_host,
)

# Deadlines are timing checks: switch them off so no test depends on machine speed.
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SITE = ["example.org"]


# --- registered_domain --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("host-7.dsl.example.net", "example.net"),
        ("a.b.example.co.jp", "example.co.jp"),
        ("example.com", "example.com"),
        ("www.google.co.uk", "google.co.uk"),
        ("news.ycombinator.com", "ycombinator.com"),
        ("t.co", "t.co"),
        ("foo.blogspot.com", "blogspot.com"),  # PSL private suffixes are not used
        ("someone.github.io", "github.io"),
        # no public suffix
        ("localhost", None),
        ("monitoring-server", None),
        ("test.example", None),
        ("printer.local", None),
        ("com", None),
        ("co.uk", None),
        # IP literals
        ("192.0.2.1", None),
        ("192.0.2.1.", None),
        ("2001:db8::1", None),
        ("[2001:db8::1]", None),
        ("[2001:db8::1]:8080", None),
        ("::ffff:192.0.2.1", None),
        ("fe80::1%eth0", None),
        # normalisation
        ("EXAMPLE.COM.", "example.com"),
        ("Www.Example.COM", "example.com"),
        ("example.com..", "example.com"),
        ("  www.example.org\n", "example.org"),
        ("example.com:8080", "example.com"),
        ("www.b\u00fccher.de", "xn--bcher-kva.de"),
        ("B\u00dcCHER.DE", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("example\u3002com", "example.com"),
        # not host names
        (None, None),
        ("", None),
        ("-", None),
        (".", None),
        ("exa mple.com", None),
        ("user@example.com", None),
        ("example.com/path", None),
        ("ex\u200bample.com", None),
        ("\x00.com", None),
        ("\udcff.com", None),
        ("<script>.com", None),
        ("a" * 64 + ".com", None),
        ("x" * 5000 + ".com", None),
        ("example.com:abc", None),
    ],
)
def test_registered_domain(host, expected):
    assert registered_domain(host) == expected


def test_registered_domain_rejects_non_strings():
    with pytest.raises(TypeError):
        registered_domain(b"example.com")  # type: ignore[arg-type]


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)  # surrogates too
_HOSTISH = st.from_regex(r"[A-Za-z0-9\u00e0-\u00ff.\-_:\[\]]{0,80}", fullmatch=True)


@PROPERTY
@given(_ANY_TEXT | _HOSTISH)
def test_registered_domain_never_raises(host):
    domain = registered_domain(host)
    if domain is not None:
        assert domain.isascii() and domain == domain.lower() and "." in domain
        assert registered_domain(domain) == domain  # idempotent


@PROPERTY
@given(st.lists(st.none() | _HOSTISH, max_size=10))
def test_registered_domains_matches_registered_domain(hosts):
    out = registered_domains(hosts)
    assert list(out) == ["host", "domain"]
    assert out["host"] == list(dict.fromkeys(hosts))
    assert out["domain"] == [registered_domain(h) for h in out["host"]]


def test_registered_domains_batch():
    out = registered_domains(["a.example.com", None, "b.example.com", "a.example.com",
                              "localhost", "192.0.2.1"])
    assert out == {
        "host": ["a.example.com", None, "b.example.com", "localhost", "192.0.2.1"],
        "domain": ["example.com", None, "example.com", None, None],
    }
    assert registered_domains([]) == {"host": [], "domain": []}


# --- url_host / referrer_domain -----------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.Example.com:8443/x?y", "www.example.com"),
        ("http://example.com", "example.com"),
        ("HTTP://EXAMPLE.COM./", "example.com"),
        ("https://user:secret@mail.example.co.uk/inbox", "mail.example.co.uk"),
        ("https://example.com?q=1", "example.com"),
        ("https://example.com#frag", "example.com"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("android-app://com.google.android.googlequicksearchbox/https/www.google.com",
         "com.google.android.googlequicksearchbox"),
        ("http://[2001:db8::1]/", "2001:db8::1"),
        ("http://[2001:DB8:0::1]:8080/p", "2001:db8::1"),
        ("http://192.0.2.1:80/", "192.0.2.1"),
        ("https://www.b\u00fccher.de/", "www.xn--bcher-kva.de"),
        ("http://localhost:3000/", "localhost"),
        # no host / garbage
        (None, None),
        ("-", None),
        ("", None),
        ("garbage", None),
        ("www.example.com/no-scheme", None),
        ("//example.com/x", None),
        ("/relative/path", None),
        ("http:/example.com", None),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("file:///etc/passwd", None),
        ("http://", None),
        ("http://[::1", None),
        ("http://[not-an-ip]/", None),
        ("http://a:b:c/", None),
        ("https://example.com:abc/", None),
        ("http://exa mple.com/", None),
        ("http://ex%41mple.com/", None),
        ("http://\\xe4\\xe5\\xe3\\xf2.\\xf0\\xf4/", None),  # Apache-escaped bytes
        ("http://\udcff\udcfe.com/", None),
    ],
)
def test_url_host(url, host):
    assert url_host(url) == host


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Example.com:8443/x?y", "example.com"),
        ("https://news.ycombinator.com/item?id=1", "ycombinator.com"),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.org%2F", "facebook.com"),
        ("https://www.google.co.uk/", "google.co.uk"),
        ("http://host-7.dsl.example.net/", "example.net"),
        ("https://a.b.example.co.jp/", "example.co.jp"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("http://192.0.2.1/", None),  # IP literal: masked by the caller, not here
        ("http://[2001:db8::1]:8080/", None),
        ("http://localhost:8080/", None),
        ("http://monitoring-server/", None),
        ("-", None),
        ("", None),
        (None, None),
        ("not a url", None),
    ],
)
def test_referrer_domain(url, domain):
    assert referrer_domain(url) == domain


@PROPERTY
@given(_ANY_TEXT | _HOSTISH.map(lambda h: "https://" + h + "/x"))
def test_url_functions_never_raise(url):
    host = url_host(url)
    domain = referrer_domain(url)
    if host is None:
        assert domain is None
    else:
        assert host == host.lower() and host.isascii()
    classify_referrer(domain, SITE)


# --- classify_referrer --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (None, "direct"),
        ("", "direct"),
        ("-", "direct"),
        ("example.org", "internal"),
        ("EXAMPLE.ORG.", "internal"),
        ("blog.example.org", "internal"),
        # search
        ("google.com", "search"),
        ("google.de", "search"),
        ("google.co.uk", "search"),
        ("google.com.br", "search"),
        ("bing.com", "search"),
        ("duckduckgo.com", "search"),
        ("yahoo.com", "search"),
        ("yahoo.co.jp", "search"),
        ("yandex.ru", "search"),
        ("yandex.com.tr", "search"),
        ("baidu.com", "search"),
        ("ecosia.org", "search"),
        ("qwant.com", "search"),
        ("startpage.com", "search"),
        ("naver.com", "search"),
        ("seznam.cz", "search"),
        ("com.google.android.googlequicksearchbox", "search"),
        # social
        ("facebook.com", "social"),
        ("t.co", "social"),
        ("twitter.com", "social"),
        ("x.com", "social"),
        ("linkedin.com", "social"),
        ("lnkd.in", "social"),
        ("reddit.com", "social"),
        ("instagram.com", "social"),
        ("youtube.com", "social"),
        ("pinterest.com", "social"),
        ("pinterest.de", "social"),
        ("mastodon.social", "social"),
        ("bsky.app", "social"),
        ("ycombinator.com", "social"),
        ("com.twitter.android", "social"),
        # external
        ("stackoverflow.com", "external"),
        ("example.net", "external"),
        ("google.example.net", "external"),  # a sub-domain named google is not Google
        ("com.google.android.gm", "external"),
        ("notexample.org", "external"),  # not a sub-domain of the site
    ],
)
def test_classify_referrer(domain, expected):
    assert classify_referrer(domain, SITE) == expected


def test_classify_referrer_accepts_hosts_too():
    assert classify_referrer("www.google.de", SITE) == "search"
    assert classify_referrer("news.ycombinator.com", SITE) == "social"
    assert classify_referrer("www.example.org", SITE) == "internal"


def test_classify_referrer_site_domains():
    assert classify_referrer("example.org", []) == "external"
    assert classify_referrer("example.org", "example.org") == "internal"  # bare string
    assert classify_referrer("example.com", ["Example.ORG.", "example.com"]) == "internal"
    assert classify_referrer("google.com", ["google.com"]) == "internal"  # own site first


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("-", "direct"),
        ("https://www.example.org/page", "internal"),
        ("https://www.google.com/", "search"),
        ("https://www.bing.com/search?q=x", "search"),
        ("https://news.ycombinator.com/item?id=1", "social"),
        ("https://t.co/abc", "social"),
        ("android-app://com.google.android.googlequicksearchbox/", "search"),
        ("https://stackoverflow.com/questions/1", "external"),
    ],
)
def test_referrer_chain(url, expected):
    assert classify_referrer(referrer_domain(url), SITE) == expected


def test_lists_hold_registered_domains():
    """Every listed domain is its own registered domain, so a lookup can find it."""
    for domain in SEARCH_DOMAINS | SOCIAL_DOMAINS:
        assert registered_domain(domain) == domain, domain
    assert not SEARCH_DOMAINS & SOCIAL_DOMAINS
    assert not SEARCH_APPS & SOCIAL_APPS


# --- isolation ----------------------------------------------------------------------------
@pytest.fixture
def network_attempts(monkeypatch):
    """Record (and refuse) every attempt to resolve a name or open a connection."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access attempted")

    for owner, name in [(socket.socket, "connect"), (socket.socket, "connect_ex"),
                        (socket, "create_connection"), (socket, "getaddrinfo")]:
        monkeypatch.setattr(owner, name, refuse)
    return attempts


def test_no_network_during_extractor_build_and_lookup(network_attempts, monkeypatch, tmp_path):
    # Point tldextract's environment defaults at a fetchable list and a writable cache:
    # the explicit arguments must override both.
    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "http://192.0.2.1/psl.dat")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(domains, "_extractor_instance", None)
    assert registered_domain("a.b.example.co.jp") == "example.co.jp"
    assert referrer_domain("https://www.google.co.uk/") == "google.co.uk"
    assert network_attempts == []
    assert list(tmp_path.iterdir()) == []  # no cache written either


def test_network_guard_detects_a_fetch(network_attempts, monkeypatch):
    """Control: tldextract without suffix_list_urls=() does try the network."""
    import tldextract

    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "http://192.0.2.1/psl.dat")
    extractor = tldextract.TLDExtract(cache_dir=None)
    assert extractor("www.example.com").top_domain_under_public_suffix == "example.com"
    assert network_attempts != []


def test_module_does_not_import_prefect():
    code = ("import sys, pipelines.domains as d; d.registered_domain('www.example.com'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"

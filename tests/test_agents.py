"""Tests for pipelines.agents: UA families, device classes, bot detection, the shortcut."""
from __future__ import annotations

import gzip
import re
import socket
import subprocess
import sys

import pytest
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as CRAWLER_PATTERNS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import agents
from pipelines.agents import (
    CLEAN_BROWSER_UA,
    MAX_LABEL_CHARS,
    MAX_UA_CHARS,
    UNKNOWN_AGENT,
    Agent,
    classify_agent,
    classify_agents,
)

# Deadlines are timing checks: switch them off so no test depends on machine speed.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- real user agents ---------------------------------------------------------------------
CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
EDGE_WIN = CHROME_WIN + " Edg/120.0.2210.91"
CHROME_OS = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME_MOBILE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
ANDROID_CHROME_MOBILE_MODEL = (
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
FIREFOX_ANDROID = "Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
KINDLE_FIRE = (
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36"
)
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36"
)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
AHREFSBOT = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
CURL = "curl/8.4.0"
WGET = "Wget/1.21.4"
PYTHON_REQUESTS = "python-requests/2.31.0"
GO_HTTP = "Go-http-client/1.1"

# Crawlers that dress up as a current browser and add one token: the cases a careless
# "looks like Chrome, skip crawlerdetect" shortcut would miss.
DISGUISED_BOTS = [
    GOOGLEBOT_SMARTPHONE,
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 "
    "(compatible; Google-InspectionTool/1.0)",
    ANDROID_CHROME_MOBILE + " (compatible; GoogleOther)",
    "Mozilla/5.0 (Linux; Android 5.0; SM-G900P Build/LRX21T) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; "
    "AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Chrome-Lighthouse",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 PTST/240101.120000",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    CHROME_WIN + "; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 (compatible; PerplexityBot/1.0)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_7_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/14.1.2 Mobile/15E148 Safari/604.1 "
    "(compatible; YandexMobileBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 "
    "(compatible; SiteAuditBot/0.97; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0 "
    "(compatible; archive.org_bot +http://archive.org/details/archive.org_bot)",
    FIREFOX_WIN + " python-requests/2.31.0",
    CHROME_WIN + " curl/8.4.0",
]

OTHER_BOTS = [
    GOOGLEBOT, BINGBOT, AHREFSBOT, CURL, WGET, PYTHON_REQUESTS, GO_HTTP,
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; GPTBot/1.0; +https://openai.com/gptbot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Java/17.0.2",
    "okhttp/4.9.3",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot)",
]

BROWSERS = [CHROME_WIN, FIREFOX_WIN, FIREFOX_LINUX, SAFARI_MAC, EDGE_WIN, CHROME_OS, IPHONE_SAFARI,
            ANDROID_CHROME_MOBILE, ANDROID_CHROME_MOBILE_MODEL, FIREFOX_ANDROID, IPAD_SAFARI,
            ANDROID_TABLET, KINDLE_FIRE, SAMSUNG_TV]

JUNK_5KB = ("Mozilla/5.0 (X11; junk \u00e9\u4e2d " * 400)[:5000]


def _values(agent: Agent) -> tuple:
    return (agent.browser, agent.browser_major, agent.os, agent.device, agent.is_bot,
            agent.bot_name)


def _row(columns: dict[str, list], i: int) -> tuple:
    return tuple(columns[k][i] for k in
                 ("browser", "browser_major", "os", "device", "is_bot", "bot_name"))


def _without_shortcut(ua: str | None) -> Agent:
    prepared = agents._prepare(ua)
    return UNKNOWN_AGENT if prepared is None else agents._classify_prepared(prepared,
                                                                           shortcut=False)


def _assert_clean_labels(agent: Agent) -> None:
    for label in (agent.browser, agent.browser_major, agent.os, agent.bot_name):
        if label is not None:
            assert label.isprintable() and label == label.strip()
            assert 0 < len(label) <= MAX_LABEL_CHARS
            label.encode("utf-8")  # no lone surrogates: Arrow/DuckDB can store it
    assert agent.device in {"desktop", "mobile", "tablet", "bot", "other"}
    assert (agent.bot_name is not None) == agent.is_bot


# --- browsers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ua", "family", "major", "os_family", "device"),
    [
        (CHROME_WIN, "Chrome", "120", "Windows", "desktop"),
        (FIREFOX_WIN, "Firefox", "121", "Windows", "desktop"),
        (FIREFOX_LINUX, "Firefox", "121", "Ubuntu", "desktop"),
        (SAFARI_MAC, "Safari", "17", "Mac OS X", "desktop"),
        (EDGE_WIN, "Edge", "120", "Windows", "desktop"),
        (CHROME_OS, "Chrome", "120", "Chrome OS", "desktop"),
        (IPHONE_SAFARI, "Mobile Safari", "17", "iOS", "mobile"),
        (ANDROID_CHROME_MOBILE, "Chrome Mobile", "120", "Android", "mobile"),
        (ANDROID_CHROME_MOBILE_MODEL, "Chrome Mobile", "120", "Android", "mobile"),
        (FIREFOX_ANDROID, "Firefox Mobile", "121", "Android", "mobile"),
        (IPAD_SAFARI, "Mobile Safari", "17", "iOS", "tablet"),
        (ANDROID_TABLET, "Chrome", "120", "Android", "tablet"),
        (KINDLE_FIRE, "Amazon Silk", "120", "Android", "tablet"),
        (SAMSUNG_TV, "Samsung Internet", "4", "Tizen", "other"),
    ],
)
def test_browsers(ua, family, major, os_family, device):
    agent = classify_agent(ua)
    assert agent == Agent(family, major, os_family, device, False, None)


# --- bots ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ua", "bot_name"),
    [
        (GOOGLEBOT, "Googlebot"),
        (GOOGLEBOT_SMARTPHONE, "Googlebot"),
        (BINGBOT, "bingbot"),
        (AHREFSBOT, "AhrefsBot"),
        (CURL, "curl"),
        (WGET, "Wget"),
        (PYTHON_REQUESTS, "python-requests"),
        (GO_HTTP, "Go-http-client"),
        ("Java/17.0.2", "Java"),
        (DISGUISED_BOTS[7], "HeadlessChrome"),
    ],
)
def test_bots(ua, bot_name):
    agent = classify_agent(ua)
    assert agent.is_bot is True
    assert agent.device == "bot"
    assert agent.bot_name == bot_name
    _assert_clean_labels(agent)


def test_bot_families_come_from_ua_parser():
    assert classify_agent(GOOGLEBOT).browser == "Googlebot"
    assert classify_agent(GOOGLEBOT_SMARTPHONE).os == "Android"
    assert classify_agent(CURL).browser == "curl"
    assert classify_agent(CURL).browser_major == "8"


@pytest.mark.parametrize("ua", DISGUISED_BOTS + OTHER_BOTS)
def test_known_bots_are_caught(ua):
    agent = classify_agent(ua)
    assert agent.is_bot and agent.device == "bot" and agent.bot_name
    _assert_clean_labels(agent)


def test_bot_name_never_carries_a_contact_address():
    agent = classify_agent("Mozilla/5.0 (compatible; help@dataminr.com)")
    assert agent.is_bot and "@" not in agent.bot_name


def test_long_generic_bot_name_is_clipped():
    agent = classify_agent("Mozilla/5.0 (compatible; " + "x" * 300 + "bot/1.0)")
    assert agent.is_bot
    assert len(agent.bot_name) <= MAX_LABEL_CHARS


# --- empty and hostile input --------------------------------------------------------------
@pytest.mark.parametrize("ua", [None, "", "-", "   ", " - ", "\t"])
def test_missing_user_agent(ua):
    assert classify_agent(ua) == Agent("Other", None, "Other", "other", False, None)
    assert classify_agent(ua) == UNKNOWN_AGENT


@pytest.mark.parametrize(
    "ua",
    [
        JUNK_5KB,
        "a" * 5000,
        "<script>alert(1)</script>",
        "</script><script>alert(1)</script>",
        "\\xff\\xfe",  # the text Apache writes for undecodable bytes
        "\xff\xfe",
        "\udcff\udcfe",  # bytes decoded with surrogateescape
        "Mozilla/5.0 \ud800 (compatible; evil\x07bot/1.0)",
        "Mozilla\x00/5.0\r\n",
        "\u202eMozilla/5.0",
        "Mozilla/5.0 (compatible; \u4e2d\u6587bot/1.0)",
    ],
)
def test_junk_never_raises_and_labels_are_clean(ua):
    agent = classify_agent(ua)
    assert isinstance(agent, Agent)
    _assert_clean_labels(agent)
    assert "<" not in agent.browser and "<" not in agent.os


def test_script_is_not_reflected():
    assert classify_agent("<script>alert(1)</script>") == Agent(
        "Other", None, "Other", "other", False, None
    )


def test_only_the_first_max_ua_chars_are_classified():
    padding = "Mozilla/5.0 (X11; Linux x86_64) " + "z" * MAX_UA_CHARS
    assert classify_agent("Googlebot/2.1 " + padding).is_bot
    assert not classify_agent(padding + " Googlebot/2.1").is_bot  # beyond the cap


def test_non_string_is_rejected():
    with pytest.raises(TypeError):
        classify_agent(b"curl/8.4.0")  # type: ignore[arg-type]


# --- batch --------------------------------------------------------------------------------
def test_classify_agents_is_distinct_and_ordered():
    uas = [CURL, CHROME_WIN, None, CURL, "-", CHROME_WIN, "", GOOGLEBOT, None]
    columns = classify_agents(uas)
    assert list(columns) == ["user_agent", "browser", "browser_major", "os", "device",
                             "is_bot", "bot_name"]
    assert columns["user_agent"] == [CURL, CHROME_WIN, None, "-", "", GOOGLEBOT]
    assert all(len(col) == 6 for col in columns.values())
    for i, ua in enumerate(columns["user_agent"]):
        assert _row(columns, i) == _values(classify_agent(ua))
    assert columns["is_bot"] == [True, False, False, False, False, True]


def test_classify_agents_empty():
    columns = classify_agents([])
    assert all(col == [] for col in columns.values()) and len(columns) == 7


def test_classify_agents_shares_work_between_spellings():
    columns = classify_agents([CHROME_WIN, "  " + CHROME_WIN + " "])
    assert len(columns["user_agent"]) == 2
    assert _row(columns, 0) == _row(columns, 1)


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=400)  # surrogates too


@PROPERTY
@given(_ANY_TEXT)
def test_classify_agent_never_raises(ua):
    agent = classify_agent(ua)
    _assert_clean_labels(agent)
    assert classify_agent(ua) == agent  # deterministic


@PROPERTY
@given(st.lists(st.none() | _ANY_TEXT | st.sampled_from(BROWSERS + OTHER_BOTS), max_size=8))
def test_classify_agents_matches_classify_agent(uas):
    columns = classify_agents(uas)
    assert columns["user_agent"] == list(dict.fromkeys(uas))
    for i, ua in enumerate(columns["user_agent"]):
        assert _row(columns, i) == _values(classify_agent(ua))


# --- the crawlerdetect shortcut -----------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(CLEAN_BROWSER_UA, fullmatch=True))
def test_shortcut_grammar_is_never_a_crawler(ua):
    """Skipping crawlerdetect on the clean grammar cannot change a verdict."""
    assert not CrawlerDetect().is_crawler(ua)
    assert classify_agent(ua) == _without_shortcut(ua)


@pytest.mark.parametrize("ua", BROWSERS + DISGUISED_BOTS + OTHER_BOTS)
def test_shortcut_gives_the_same_answer(ua):
    assert classify_agent(ua) == _without_shortcut(ua)


def test_shortcut_covers_current_browsers():
    """The shortcut is real: stock UAs of current browsers take it."""
    for ua in (CHROME_WIN, FIREFOX_WIN, SAFARI_MAC, EDGE_WIN, CHROME_OS, IPHONE_SAFARI,
               ANDROID_CHROME_MOBILE, FIREFOX_ANDROID, IPAD_SAFARI):
        assert CLEAN_BROWSER_UA.fullmatch(ua), ua


@pytest.mark.parametrize("ua", DISGUISED_BOTS + OTHER_BOTS)
def test_shortcut_grammar_rejects_known_bots(ua):
    assert CLEAN_BROWSER_UA.fullmatch(ua) is None


def _literal_samples() -> list[str]:
    """A matching string for every crawlerdetect pattern that is a plain literal."""
    samples = []
    for pattern in CRAWLER_PATTERNS:
        unescaped = re.sub(r"\\(.)", r"\1", pattern)
        if re.search(r"[\[\](){}|*+?^$]", re.sub(r"\\.", "", pattern)):
            continue  # has regex syntax: no single obvious sample
        if re.search(pattern, unescaped, re.IGNORECASE):
            samples.append(unescaped)
    return samples


CRAWLER_LITERALS = _literal_samples()


def test_there_are_many_crawler_literals():
    assert len(CRAWLER_LITERALS) > 1000


@pytest.mark.parametrize(
    "template",
    [CHROME_WIN, FIREFOX_WIN, SAFARI_MAC, IPHONE_SAFARI, ANDROID_CHROME_MOBILE, EDGE_WIN],
    ids=["chrome", "firefox", "safari", "iphone", "android", "edge"],
)
def test_every_crawler_literal_defeats_the_shortcut(template):
    """Any crawlerdetect name added to a clean browser UA sends it through crawlerdetect."""
    assert CLEAN_BROWSER_UA.fullmatch(template)
    head, tail = template.rsplit(" ", 1)
    insertions = [
        lambda tok: template.replace(") ", "; " + tok + ") ", 1),  # inside the platform
        lambda tok: template.replace(" (", " (" + tok + "; ", 1),  # first in the platform
        lambda tok: f"{head} {tok} {tail}",  # before the last product
        lambda tok: f"{template} {tok}",  # appended
        lambda tok: template.replace("Mozilla/5.0", tok, 1),  # instead of the product
    ]
    for token in CRAWLER_LITERALS:
        for insert in insertions:
            ua = insert(token)
            assert ua != template
            assert CLEAN_BROWSER_UA.fullmatch(ua) is None, ua


def test_crawler_literals_are_caught_end_to_end():
    missed = []
    for token in CRAWLER_LITERALS:
        ua = CHROME_WIN + " " + token
        if CrawlerDetect().is_crawler(ua) and not classify_agent(ua).is_bot:
            missed.append(token)
    assert missed == []


def test_shortcut_matches_on_real_log(realworld):
    """Distinct UAs of a real Apache log: identical answers with and without the shortcut."""
    line = re.compile(r'"((?:[^"\\]|\\.)*)"\s*$')
    with gzip.open(realworld / "logs" / "apache_logs.gz", "rt", errors="surrogateescape") as f:
        uas = list(dict.fromkeys(m.group(1) for m in map(line.search, f) if m))
    assert len(uas) > 100
    columns = classify_agents(uas)
    for i, ua in enumerate(columns["user_agent"]):
        assert _row(columns, i) == _values(_without_shortcut(ua)), ua
    assert any(columns["is_bot"]) and not all(columns["is_bot"])


# --- device classes -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((True, "Other", None, "Windows", "x"), "bot"),
        ((False, "iPad", "Apple", "iOS", "x"), "tablet"),
        ((False, "Generic Tablet", "Generic", "Android", "Tablet"), "tablet"),
        ((False, "SM-X700", "Generic_Android_Tablet", "Android", "x"), "tablet"),
        ((False, "Kindle", "Amazon", "Android", "x"), "tablet"),
        ((False, "Samsung SM-S918B", "Samsung", "Android", "Dalvik/2.1.0 (Linux; U; Android 13)"),
         "tablet"),  # Android without "Mobile", as specified
        ((False, "K", "Generic_Android", "Android", "Chrome Mobile Safari"), "mobile"),
        ((False, "iPhone", "Apple", "iOS", "x"), "mobile"),
        ((False, "iPod", "Apple", "iOS", "x"), "mobile"),
        ((False, "Lumia 950", "Nokia", "Windows Phone", "x"), "mobile"),
        ((False, "Other", None, "KaiOS", "x"), "mobile"),
        ((False, "Other", None, "Windows", "x"), "desktop"),
        ((False, "Mac", "Apple", "Mac OS X", "x"), "desktop"),
        ((False, "Other", None, "Linux", "x"), "desktop"),
        ((False, "Other", None, "Chrome OS", "x"), "desktop"),
        ((False, "Samsung SMART-TV", "Samsung", "Android", "x"), "other"),
        ((False, "AppleTV", "Apple", "tvOS", "x"), "other"),
        ((False, "Other", None, "Other", "x"), "other"),
    ],
)
def test_device_class(args, expected):
    assert agents._device_class(*args) == expected


# --- isolation ----------------------------------------------------------------------------
def test_no_network_during_parser_build_and_lookup(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access attempted")

    for owner, name in [(socket.socket, "connect"), (socket.socket, "connect_ex"),
                        (socket, "create_connection"), (socket, "getaddrinfo")]:
        monkeypatch.setattr(owner, name, refuse)
    monkeypatch.setattr(agents, "_parser_instance", None)
    assert classify_agent(GOOGLEBOT).is_bot
    assert classify_agent(ANDROID_TABLET).device == "tablet"
    assert attempts == []


def test_module_does_not_import_prefect():
    code = ("import sys, pipelines.agents as a; a.classify_agent('curl/8.4.0'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"

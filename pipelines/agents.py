"""User-agent classification: browser, OS and device families, and bot detection.

The raw ``User-Agent`` header is personal-ish data (in combination with other fields it
fingerprints a person), so it never leaves the RAW tier.  The warehouse keeps only the
coarse families computed here:

* ``browser`` / ``browser_major`` / ``os``: families from ua-parser (uap-core regexes),
  using the Rust-backed resolver (``ua-parser[regex]``) when it is installed.
* ``is_bot`` / ``bot_name``: crawlerdetect's verdict, or ua-parser's device family
  ``"Spider"``.
* ``device``: a small class (``desktop``, ``mobile``, ``tablet``, ``bot``, ``other``).

Everything is offline: both libraries ship their pattern sets inside the package.

Cost and robustness notes
-------------------------
* Parse each *distinct* UA once (:func:`classify_agents`) and join the result back.
* Only the first :data:`MAX_UA_CHARS` characters of a UA are classified.  crawlerdetect's
  generic ``[a-z0-9\\-_]*(bot|crawl|...)`` pattern backtracks quadratically on long runs of
  word characters (a 5,000-character run of letters took about two seconds), so an
  unbounded header would let one junk request stall a batch.  Real browser and crawler
  UAs are far shorter than the cap.
* Lone surrogates (from ``surrogateescape``-decoded logs) are replaced by U+FFFD before
  parsing: the Rust backend cannot encode them.  Output labels are stripped of control
  characters and surrogates and clipped to :data:`MAX_LABEL_CHARS`, so they are always
  valid UTF-8 for Arrow/DuckDB and bounded in size.
* crawlerdetect costs roughly 200 µs per UA.  It is skipped only for UAs that ua-parser
  classifies as a common browser *and* that match :data:`CLEAN_BROWSER_UA` exactly: the
  stock UA shapes of Chrome, Edge, Opera, Firefox and Safari whose only variable parts
  are digits (and one capital letter in the iOS build id).  Such a string cannot carry a
  crawler name, an http-client token or any other free text, and the test-suite checks
  both that crawlerdetect never flags strings of that grammar and that known bots (and
  every literal crawlerdetect pattern inserted into a clean browser UA) are still caught.
  The result is therefore identical with or without the shortcut.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from crawlerdetect import CrawlerDetect

__all__ = [
    "Agent",
    "CLEAN_BROWSER_UA",
    "COMMON_BROWSERS",
    "DESKTOP_OS",
    "MAX_LABEL_CHARS",
    "MAX_UA_CHARS",
    "MOBILE_OS",
    "UNKNOWN_AGENT",
    "classify_agent",
    "classify_agents",
]

#: Only this many leading characters of a UA are parsed (see module docstring).
MAX_UA_CHARS = 512

#: Longest family / bot-name label written to the warehouse.
MAX_LABEL_CHARS = 64

#: Placeholder values that mean "no user agent" in access logs.
_EMPTY_MARKERS = frozenset({"", "-"})

#: OS families (as ua-parser names them) counted as desktop.
DESKTOP_OS = frozenset(
    {
        "Windows", "Mac OS X", "Mac OS", "Chrome OS", "Linux",
        "Ubuntu", "Kubuntu", "Lubuntu", "Linux Mint", "Debian", "Fedora", "Red Hat",
        "CentOS", "Arch Linux", "Gentoo", "Slackware", "openSUSE", "SUSE", "Mandriva",
        "Mageia", "PCLinuxOS", "Puppy", "BackTrack", "SerenityOS",
        "FreeBSD", "OpenBSD", "NetBSD", "BSD", "Solaris",
    }
)

#: OS families counted as mobile (phones).  Android is handled separately (tablet or mobile).
MOBILE_OS = frozenset(
    {
        "iOS", "Windows Phone", "Windows Mobile", "BlackBerry OS", "Symbian OS", "Symbian^3",
        "Symbian^3 Anna", "Symbian^3 Belle", "Firefox OS", "KaiOS", "Sailfish", "Bada",
        "MeeGo", "Maemo", "Nokia Series 40", "Nokia Series 30 Plus", "Brew MP", "BREW",
    }
)

#: OS families of Android and its forks: a tablet unless the UA says "Mobile".
_ANDROID_OS = frozenset({"Android", "HarmonyOS"})

#: OS families of TVs, set-top boxes and watches: device class "other".
_OTHER_OS = frozenset(
    {
        "tvOS", "ATV OS X", "WatchOS", "Chromecast Android", "Chromecast Fuchsia",
        "Chromecast Linux", "Chromecast SmartSpeaker", "GoogleTV", "FireHbbTV", "Roku",
        "WebTV", "webOS", "Web0S", "Tizen",
    }
)
_TV_DEVICE = re.compile(r"(?:\btv\b|smart-?tv|appletv|chromecast|hbbtv)", re.IGNORECASE)

#: ua-parser device families that are tablets (besides any family or brand naming "tablet").
_TABLET_DEVICES = frozenset(
    {"ipad", "hp touchpad", "blackberry playbook", "microsoft surface rt", "lenovo ideapad k1"}
)
_PHONE_DEVICES = frozenset({"iphone", "ipod", "generic smartphone", "generic feature phone"})

#: ua-parser browser families treated as ordinary human browsers.  Used by the
#: crawlerdetect shortcut and to avoid naming a bot after the browser it imitates.
COMMON_BROWSERS = frozenset(
    {
        "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chrome Mobile WebView", "Chromium",
        "Firefox", "Firefox Mobile", "Firefox iOS", "Safari", "Mobile Safari",
        "Mobile Safari UI/WKWebView", "Edge", "Edge Mobile", "Opera", "Opera Mobile",
        "Samsung Internet", "IE", "IE Mobile", "Yandex Browser", "UC Browser", "Vivaldi",
        "Brave",
    }
)

# --- The crawlerdetect shortcut --------------------------------------------------------
# Stock UA shapes of current browsers.  Every variable part is digits ([0-9], never \d,
# which would admit other scripts' digits), except the iOS build id's single capital
# letter.  No slot can hold a name, so no crawler or http-client token fits.
_N = r"[0-9]{1,6}"
_V = _N + r"(?:\." + _N + r"){0,3}"
_IOS_V = _N + r"(?:_" + _N + r"){0,2}"
_WIN = r"Windows NT (?:10\.0|6\.[1-3])(?:; Win64; x64|; WOW64)?"
_MAC_CHROME = r"Macintosh; Intel Mac OS X 1[0-9](?:_[0-9]{1,2}){0,2}"
_MAC_FIREFOX = r"Macintosh; Intel Mac OS X 1[0-9](?:\.[0-9]{1,2}){0,2}"
_LINUX = r"X11; (?:Ubuntu; |Fedora; )?Linux (?:x86_64|i686|aarch64)"
_CROS = r"X11; CrOS (?:x86_64|aarch64|armv7l) " + _V
_ANDROID_K = r"Linux; Android " + _V + r"; K"  # Chrome's reduced UA: the model is always "K"
_IOS = r"(?:iPhone; CPU iPhone OS|iPad; CPU OS) " + _IOS_V + r" like Mac OS X"

_CHROME = (
    r"Mozilla/5\.0 \((?:" + "|".join([_WIN, _MAC_CHROME, _LINUX, _CROS, _ANDROID_K]) + r")\)"
    r" AppleWebKit/537\.36 \(KHTML, like Gecko\) Chrome/" + _V
    + r" (?:Mobile )?Safari/537\.36(?: (?:Edg|EdgA|OPR)/" + _V + r")?"
)
_FIREFOX = (
    r"Mozilla/5\.0 \((?:" + "|".join([_WIN, _MAC_FIREFOX, _LINUX])
    + r"|Android " + _V + r"; (?:Mobile|Tablet)); rv:" + _V + r"\)"
    r" Gecko/(?:20100101|" + _V + r") Firefox/" + _V
)
_SAFARI = (
    r"Mozilla/5\.0 \((?:" + _MAC_CHROME + "|" + _IOS + r")\)"
    r" AppleWebKit/605\.1\.15 \(KHTML, like Gecko\)"
    r"(?: (?:CriOS|FxiOS|EdgiOS)/" + _V + r")?(?: Version/" + _V + r")?"
    r"(?: Mobile/[0-9]{2}[A-Z][0-9]{1,4})? Safari/" + _V
)

#: Exact (full-match) grammar of clean browser UAs for which crawlerdetect is skipped.
CLEAN_BROWSER_UA = re.compile("(?:" + "|".join([_CHROME, _FIREFOX, _SAFARI]) + ")")

_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
# A trailing separator and version left over from a crawlerdetect match ("Java/", "Ruby/2").
_MATCH_TAIL = re.compile(r"[\s/;:(+]+[0-9.]*\Z")


@dataclass(frozen=True, slots=True)
class Agent:
    """Derived, warehouse-safe description of a user agent."""

    browser: str  # family, e.g. 'Chrome', 'Firefox', 'Mobile Safari', 'Googlebot', 'curl', 'Other'
    browser_major: str | None  # '120'
    os: str  # family, e.g. 'Windows', 'Mac OS X', 'iOS', 'Android', 'Linux', 'Other'
    device: str  # 'desktop' | 'mobile' | 'tablet' | 'bot' | 'other'
    is_bot: bool  # crawlerdetect says so, or ua-parser's device family is 'Spider'
    bot_name: str | None  # readable crawler name when is_bot, else None


#: Result for a missing or empty user agent.
UNKNOWN_AGENT = Agent("Other", None, "Other", "other", False, None)

_COLUMNS = ("user_agent", "browser", "browser_major", "os", "device", "is_bot", "bot_name")

_parser_lock = threading.Lock()
_parser_instance = None


def _build_parser():
    """A ua-parser Parser over the bundled regexes, Rust-backed when available.

    No result cache: callers classify distinct strings, and a cache would only keep raw
    UAs alive in memory.
    """
    import ua_parser

    if ua_parser.RegexResolver is not None:
        resolver = ua_parser.RegexResolver(ua_parser.load_lazy_builtins())
    else:  # pure-Python fallback: same answers, ~25x slower
        resolver = ua_parser.BestAvailableResolver(ua_parser.load_builtins())
    return ua_parser.Parser(resolver)


def _parser():
    """The module's parser, built once on first use (thread-safe)."""
    global _parser_instance
    parser = _parser_instance
    if parser is None:
        with _parser_lock:
            if _parser_instance is None:
                _parser_instance = _build_parser()
            parser = _parser_instance
    return parser


def _prepare(ua: str | None) -> str | None:
    """Normalise a raw UA for classification, or None when it carries no information."""
    if ua is None:
        return None
    if not isinstance(ua, str):
        raise TypeError(f"user agent must be str or None, not {type(ua).__name__}")
    s = ua.strip()
    if s in _EMPTY_MARKERS:
        return None
    if len(s) > MAX_UA_CHARS:
        s = s[:MAX_UA_CHARS].rstrip()
    if not s.isascii():
        s = _SURROGATES.sub("\ufffd", s)
    return s


def _label(value: str | None, default: str | None = "Other") -> str | None:
    """A printable, bounded label: no control/format characters or surrogates."""
    if not value:
        return default
    if not value.isprintable():
        value = "".join(
            " " if ch.isspace() else ch
            for ch in value
            if ch.isspace() or not unicodedata.category(ch).startswith("C")
        )
    value = _SPACES.sub(" ", value).strip()[:MAX_LABEL_CHARS].rstrip()
    return value or default


def _device_class(
    is_bot: bool, family: str, brand: str | None, os_family: str, ua: str
) -> str:
    """desktop / mobile / tablet / bot / other from ua-parser's device and OS families."""
    if is_bot:
        return "bot"
    fam = family.lower()
    brand_l = (brand or "").lower()
    if os_family in _OTHER_OS or _TV_DEVICE.search(family):
        return "other"
    if fam in _PHONE_DEVICES or fam.startswith("ipod"):
        return "mobile"
    if (
        fam in _TABLET_DEVICES
        or "tablet" in fam
        or "tablet" in brand_l
        or fam.startswith("kindle")
        or os_family == "BlackBerry Tablet OS"
    ):
        return "tablet"
    if os_family in _ANDROID_OS:
        return "mobile" if "mobile" in ua.lower() else "tablet"
    if os_family in MOBILE_OS:
        return "mobile"
    if os_family in DESKTOP_OS:
        return "desktop"
    return "other"


def _bot_name(spider: bool, browser: str, match: str | None) -> str:
    """Readable crawler name: ua-parser's spider family, else crawlerdetect's match."""
    if spider and browser != "Other" and browser not in COMMON_BROWSERS:
        return browser
    if match:
        name = _label(_MATCH_TAIL.sub("", match.strip()), None)
        if name and "@" not in name and "[at]" not in name:  # no contact addresses
            # crawlerdetect matched a prefix of ua-parser's own name ("Headless" of
            # "HeadlessChrome"): the longer, parser-curated family reads better.
            if (
                browser not in COMMON_BROWSERS
                and browser != "Other"
                and browser.lower().startswith(name.lower())
            ):
                return browser
            return name
    if browser != "Other" and browser not in COMMON_BROWSERS:
        return browser
    return "Other"


def _classify_prepared(s: str, *, shortcut: bool = True) -> Agent:
    result = _parser().parse(s)
    ua, os_, dev = result.user_agent, result.os, result.device
    browser = _label(ua.family if ua else None)
    major = _label(ua.major if ua else None, None)
    major = major[:16].rstrip() or None if major else None
    os_family = _label(os_.family if os_ else None)
    dev_family = dev.family if dev else "Other"
    spider = dev_family == "Spider"

    if (
        shortcut
        and not spider
        and browser in COMMON_BROWSERS
        and CLEAN_BROWSER_UA.fullmatch(s) is not None
    ):
        crawler, match = False, None
    else:
        # A fresh detector per call: CrawlerDetect keeps the last match on the instance
        # (not thread-safe) and an LRU cache of raw UAs; its compiled regexes are shared.
        detector = CrawlerDetect()
        crawler = detector.is_crawler(s)
        match = detector.get_matches() if crawler else None

    is_bot = crawler or spider
    return Agent(
        browser=browser,
        browser_major=major,
        os=os_family,
        device=_device_class(is_bot, dev_family, dev.brand if dev else None, os_family, s),
        is_bot=is_bot,
        bot_name=_bot_name(spider, browser, match) if is_bot else None,
    )


def classify_agent(ua: str | None) -> Agent:
    """Classify one raw User-Agent header.

    ``None``, ``''`` and ``'-'`` (the log placeholder) give :data:`UNKNOWN_AGENT`.
    Never raises for any ``str``; raises TypeError for other types.
    """
    s = _prepare(ua)
    if s is None:
        return UNKNOWN_AGENT
    return _classify_prepared(s)


def classify_agents(uas: Sequence[str | None]) -> dict[str, list]:
    """Classify the distinct UAs of a batch, column-oriented.

    Returns ``{'user_agent', 'browser', 'browser_major', 'os', 'device', 'is_bot',
    'bot_name'}`` -> lists, one row per distinct input value in first-seen order
    (``None`` included as its own row when present), ready to build an Arrow table and
    join back on ``user_agent``.  Each row equals :func:`classify_agent` of its key.
    """
    columns: dict[str, list] = {name: [] for name in _COLUMNS}
    by_prepared: dict[str | None, Agent] = {None: UNKNOWN_AGENT}
    for ua in dict.fromkeys(uas):
        s = _prepare(ua)
        agent = by_prepared.get(s)
        if agent is None:
            agent = by_prepared[s] = _classify_prepared(s)
        columns["user_agent"].append(ua)
        columns["browser"].append(agent.browser)
        columns["browser_major"].append(agent.browser_major)
        columns["os"].append(agent.os)
        columns["device"].append(agent.device)
        columns["is_bot"].append(agent.is_bot)
        columns["bot_name"].append(agent.bot_name)
    return columns

"""Client addresses: parse them, cut them to the policy network, keep them out of free text.

Policy (privacy invariants 1 and 5 in the design notes): a full client address exists only in
the RAW tier. Everything downstream keys on the client's *network*: IPv4 /24 and IPv6 /48 by
default, configurable down to /16 and /32 (`validate_prefixes`). Every function here that
truncates, masks or audits checks its prefixes against those bounds, so a mistyped setting
can never widen what is kept.

Two IPv6 ranges carry an IPv4 address and therefore get the IPv4 rule:

- IPv4-mapped ``::ffff:a.b.c.d`` is the IPv4 client it maps (`parse_client` reports it as IPv4).
- 6to4 ``2002:AABB:CCDD::/48`` holds a whole IPv4 address in bits 16-48, so its /48 *is* the
  full address; it is cut to 16 + the IPv4 prefix bits (/40 by default).

Literals in free text (`mask_addresses`, `find_leaks`) are found by these rules, chosen so that
no real address is missed while the usual false alarms are avoided:

- Escapes ``%hh``, ``\\xhh``, ``\\uhhhh``, ``\\n``, ``\\r``, ``\\t`` are separators, so
  ``/q%20203.0.113.7`` and ``"\\u00202001:db8::1"`` are found. Separators that are themselves
  percent-encoded (``203%2E0%2E113%2E7``, ``%3A``) are not decoded: scan decoded text for that.
- IPv4: four dotted decimal numbers 0-255 (leading zeros allowed, read as decimal) that do not
  continue a number: no digit on either side, no ``digit.`` before and no ``.digit`` after.
  Letters are separators, so ``ip203.0.113.7``, ``a1.2.3.4b`` and ``v1.2.3.4`` count (escaped
  text glues letters to literals: ``\\n203.0.113.7``). Runs of five or more numbers (OIDs,
  long versions like ``1.3.6.1.4``) and parts over 255 (``Chrome/120.0.6099.109``) are not
  addresses.
- IPv6: at each position the longest text that `ipaddress` accepts (compressed, full, or with
  a dotted IPv4 tail), not touching a letter, digit or underscore, and not inside a dotted run
  (no hex digit and ``.`` before it, no ``.digit`` after it). So ``std::cout``,
  ``Data::Dumper`` and ``12:30:45`` are not addresses, ``dead::beef`` standing alone is, and
  so are the ones in ``client:2001:db8::1`` and ``2001:db8::1: refused``.

`mask_addresses` writes the network address in its usual short form; in the rare text where that
would pair up with a neighbour into a new literal (``::1::1`` -> ``::`` + ``::1``), it writes the
network over the literal digit for digit instead (``::0::1``), which cannot change how the text
is read.
"""
from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

IPV4_PREFIXES = range(16, 25)
IPV6_PREFIXES = range(32, 49)


@dataclass(frozen=True, slots=True)
class Client:
    """What a log's client field held. `address` and `hostname` are full client data: RAW only."""

    kind: str  # 'ipv4' | 'ipv6' | 'hostname' | 'unix' | 'none' | 'invalid'
    address: str | None = None
    hostname: str | None = None
    ip_version: int | None = None


def validate_prefixes(ipv4_prefix: int, ipv6_prefix: int) -> None:
    """Raise ValueError unless both prefixes are within the privacy policy's bounds."""
    for family, prefix, allowed in (
        ("IPv4", ipv4_prefix, IPV4_PREFIXES),
        ("IPv6", ipv6_prefix, IPV6_PREFIXES),
    ):
        # bool is an int subclass; True would silently mean /1.
        if isinstance(prefix, bool) or not isinstance(prefix, int) or prefix not in allowed:
            raise ValueError(
                f"{family} prefix must be a whole number from {allowed.start} to "
                f"{allowed.stop - 1} (privacy policy), got {prefix!r}."
            )


# ---------------------------------------------------------------- parsing a client field

# kind, address, hostname, ip_version, integer value of the address
_Parsed = tuple[str, str | None, str | None, int | None, int | None]
_NONE: _Parsed = ("none", None, None, None, None)
_UNIX: _Parsed = ("unix", None, None, None, None)
_INVALID: _Parsed = ("invalid", None, None, None, None)

# Strict octets (no leading zeros, like `ipaddress`): servers never pad, and '010' is ambiguous.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_IPV4_PORT = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?::([0-9]{{1,5}}))?")
_BRACKETED = re.compile(r"\[([^\]]+)\](?::([0-9]{1,5}))?")
_ZONE = re.compile(r"[0-9A-Za-z_.~-]+")  # RFC 6874 zone ids are unreserved characters
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def parse_client(field: str | None) -> Client:
    """Classify a log's client field; never raises on a str."""
    kind, address, hostname, version, _ = _parse(field)
    return Client(kind, address, hostname, version)


def _parse(field: str | None) -> _Parsed:
    if field is None:
        return _NONE
    text = field.strip()
    if text in ("", "-"):
        return _NONE
    # Fast path: a plain dotted quad is nearly every row, so no ipaddress object for it.
    if match := _IPV4_PORT.fullmatch(text):
        a, b, c, d, port = match.groups()
        if port is not None and int(port) > 65535:
            return _INVALID
        value = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
        return "ipv4", text if port is None else text[: match.start(5) - 1], None, 4, value
    if text.startswith("unix:"):
        return _UNIX
    if text.startswith("["):
        match = _BRACKETED.fullmatch(text)
        if match is None or (match[2] is not None and int(match[2]) > 65535):
            return _INVALID
        return _parse_ipv6(match[1])
    if ":" in text:
        return _parse_ipv6(text)
    return _parse_hostname(text)


def _parse_ipv6(text: str) -> _Parsed:
    address, percent, zone = text.partition("%")
    if percent and not _ZONE.fullmatch(zone):
        return _INVALID
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return _INVALID
    if (mapped := ip.ipv4_mapped) is not None:
        return "ipv4", str(mapped), None, 4, int(mapped)
    return "ipv6", ip.compressed, None, 6, int(ip)


def _parse_hostname(text: str) -> _Parsed:
    # ASCII first: str.lower() turns some non-ASCII letters (the Kelvin sign) into ASCII ones.
    if not text.isascii():
        return _INVALID
    name = text.lower().removesuffix(".")
    # A numeric last label is never a host name (RFC 3696): '999.1.1.1' is a bad address.
    if len(name) > 253 or not _HOSTNAME.fullmatch(name) or name.rpartition(".")[2].isdigit():
        return _INVALID
    return "hostname", None, name, None, None


# ---------------------------------------------------------------- truncation

_MAPPED_TAG = 0xFFFF  # bits 96-111 of ::ffff:a.b.c.d
_SIX_TO_FOUR_TAG = 0x2002  # bits 0-15 of 2002::/16


def _kept_bits(version: int, value: int, ipv4_prefix: int, ipv6_prefix: int) -> int:
    """How many leading bits of this address the policy keeps."""
    if version == 4:
        return ipv4_prefix
    if value >> 32 == _MAPPED_TAG:
        return 96 + ipv4_prefix
    if value >> 112 == _SIX_TO_FOUR_TAG:
        return min(ipv6_prefix, 16 + ipv4_prefix)
    return ipv6_prefix


def _network(version: int, value: int, ipv4_prefix: int, ipv6_prefix: int) -> tuple[int, int]:
    """(network value, kept bits): the address with every bit past the policy prefix zeroed."""
    kept = _kept_bits(version, value, ipv4_prefix, ipv6_prefix)
    host_bits = (32 if version == 4 else 128) - kept
    return value >> host_bits << host_bits, kept


def _ipv4_text(value: int) -> str:
    return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _network_text(version: int, value: int, ipv4_prefix: int, ipv6_prefix: int) -> str:
    if version == 6 and value >> 32 == _MAPPED_TAG:
        version, value = 4, value & 0xFFFFFFFF
    net, kept = _network(version, value, ipv4_prefix, ipv6_prefix)
    if version == 4:
        return f"{_ipv4_text(net)}/{kept}"
    return f"{ipaddress.IPv6Address(net).compressed}/{kept}"


def truncate(address: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str:
    """The policy network of an address as CIDR text ('203.0.113.7' -> '203.0.113.0/24')."""
    validate_prefixes(ipv4_prefix, ipv6_prefix)
    if match := _IPV4.fullmatch(address):
        a, b, c, d = map(int, match.groups())
        return _network_text(4, a << 24 | b << 16 | c << 8 | d, ipv4_prefix, ipv6_prefix)
    ip = ipaddress.ip_address(address)  # ValueError on anything else
    return _network_text(ip.version, int(ip), ipv4_prefix, ipv6_prefix)


def classify_clients(
    fields: Sequence[str | None], ipv4_prefix: int, ipv6_prefix: int
) -> dict[str, list]:
    """Columns for distinct client fields: parse_client's fields plus `client_net`."""
    validate_prefixes(ipv4_prefix, ipv6_prefix)
    columns: dict[str, list] = {
        name: [] for name in ("client", "kind", "address", "hostname", "ip_version", "client_net")
    }
    clients, kinds, addresses, hostnames, versions, nets = columns.values()
    for field in fields:
        kind, address, hostname, version, value = _parse(field)
        clients.append(field)
        kinds.append(kind)
        addresses.append(address)
        hostnames.append(hostname)
        versions.append(version)
        nets.append(
            None if value is None else _network_text(version, value, ipv4_prefix, ipv6_prefix)
        )
    return columns


# ---------------------------------------------------------------- literals in free text

# Escapes ending in a digit or hex letter would otherwise glue onto a literal ('%20203.0.113.7');
# they are blanked out in a same-length "view" of the text so positions still match.
_ESCAPES = re.compile(r"%[0-9A-Fa-f]{2}|\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|[nrt])")
_LOOSE_OCTET = r"(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_LOOSE_IPV4 = rf"{_LOOSE_OCTET}\.{_LOOSE_OCTET}\.{_LOOSE_OCTET}\.{_LOOSE_OCTET}"
_IPV4_LITERAL = re.compile(rf"(?<![0-9])(?<![0-9]\.){_LOOSE_IPV4}(?![0-9])(?!\.[0-9])")
_LOOSE_IPV4_FULL = re.compile(_LOOSE_IPV4)
# Everything that could be (the start of) an IPv6 literal; `_ipv6_at` then finds the longest
# valid prefix. Groups are capped at 4 hex digits so 'F2001' (from '%2F2001') is skipped.
_HEX = "[0-9A-Fa-f]"
_IPV6_SHAPE = re.compile(
    rf"(?<![0-9A-Za-z_])(?<![0-9A-Fa-f]\.)"  # hex, not digits: see `_in_place`
    rf"{_HEX}{{0,4}}(?::{_HEX}{{0,4}}){{2,8}}(?:\.[0-9]{{1,3}}){{0,3}}"
)
_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGITS = frozenset("0123456789")
_HAS_DIGIT = re.compile("[0-9]").search


def _loose_ipv4_value(text: str) -> int | None:
    if match := _LOOSE_IPV4_FULL.fullmatch(text):
        a, b, c, d = map(int, match.groups())
        return a << 24 | b << 16 | c << 8 | d
    return None


def _ipv6_value(text: str) -> int | None:
    if "." in text:  # dotted tail: parse it loosely, like IPv4 literals
        head, _, tail = text.rpartition(":")
        tail_value = _loose_ipv4_value(tail)
        if tail_value is None:
            return None
        text = f"{head}:{tail_value >> 16:x}:{tail_value & 0xFFFF:x}"
    try:
        return int(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def _ends_literal(view: str, end: int) -> bool:
    """Nothing after `end` continues the literal (a word character or '.digit')."""
    if end == len(view):
        return True
    after = view[end]
    if after == ".":
        return end + 1 == len(view) or view[end + 1] not in _DIGITS
    return after not in _WORD


def _ipv6_at(view: str, start: int, stop: int) -> tuple[int, int] | None:
    """(end, value) of the longest valid IPv6 literal in view[start:stop] starting at `start`."""
    shape = view[start:stop]
    ends = [len(shape)] + [i for i in range(len(shape) - 1, 1, -1) if shape[i] in ":."]
    for end in ends:
        candidate = shape[:end]
        # Cheap rejections first: ipaddress is the slow part of a scan.
        if ":::" in candidate or ("::" not in candidate and candidate.count(":") < 6):
            continue
        if not _ends_literal(view, start + end):
            continue
        if (value := _ipv6_value(candidate)) is not None:
            return start + end, value
    return None


def _ipv6_literals(view: str) -> Iterator[tuple[int, int, int]]:
    position = 0
    while (match := _IPV6_SHAPE.search(view, position)) is not None:
        if (found := _ipv6_at(view, match.start(), match.end())) is None:
            position = match.start() + 1
            continue
        end, value = found
        yield match.start(), end, value
        position = end


def _literals(text: str) -> list[tuple[int, int, int, int]]:
    """(start, end, ip version, value) of every address literal in `text`, in order."""
    has_colon = ":" in text
    maybe_ipv4 = "." in text and _HAS_DIGIT(text) is not None
    if not has_colon and not maybe_ipv4:
        return []
    view = text
    if "%" in text or "\\" in text:
        view = _ESCAPES.sub(lambda m: " " * len(m[0]), text)
    found = [(s, e, 6, v) for s, e, v in _ipv6_literals(view)] if has_colon else []
    if maybe_ipv4:
        # An IPv4 literal overlapping an IPv6 one is its dotted tail ('::ffff:192.0.2.1').
        starts, ends = [f[0] for f in found], [f[1] for f in found]
        for match in _IPV4_LITERAL.finditer(view):
            i = bisect_left(starts, match.end()) - 1
            if i >= 0 and ends[i] > match.start():
                continue
            a, b, c, d = map(int, match.groups())
            found.append((match.start(), match.end(), 4, a << 24 | b << 16 | c << 8 | d))
        found.sort()
    return found


def _leaks(text: str, ipv4_prefix: int, ipv6_prefix: int) -> list[tuple[int, int, int, int]]:
    """(start, end, ip version, network value) of the literals with host bits set."""
    leaks = []
    for start, end, version, value in _literals(text):
        net, _ = _network(version, value, ipv4_prefix, ipv6_prefix)
        if net != value:
            leaks.append((start, end, version, net))
    return leaks


def _compressed(literal: str, version: int, net: int) -> str:
    """The network address in its usual form."""
    if version == 4:
        return _ipv4_text(net)
    if net >> 32 == _MAPPED_TAG:
        return f"::ffff:{_ipv4_text(net & 0xFFFFFFFF)}"
    return ipaddress.IPv6Address(net).compressed


def _octets_in_place(literal: str, value: int) -> str:
    octets = literal.split(".")
    return ".".join(
        f"{value >> 8 * (3 - i) & 255:0{len(octet)}d}" for i, octet in enumerate(octets)
    )


def _in_place(literal: str, version: int, net: int) -> str:
    """The network address written over `literal` group by group, each at its old width.

    Every character keeps its class (digit, hex digit, ':' or '.'), so the text around it is
    read exactly as before: this form can never pair up with its neighbours.
    """
    if version == 4:
        return _octets_in_place(literal, net)
    head, tail = literal, ""
    if "." in literal:  # dotted IPv4 tail: the last two hextets
        cut = literal.rindex(":") + 1
        head, tail = literal[:cut], _octets_in_place(literal[cut:], net & 0xFFFFFFFF)
        if not head.endswith("::"):
            head, tail = head[:-1], ":" + tail
    hextets = [net >> 16 * (7 - i) & 0xFFFF for i in range(8)]
    left, compressed, right = head.partition("::")
    left_groups = left.split(":") if left else []
    right_groups = right.split(":") if right else []
    first_right = (6 if tail else 8) - len(right_groups)
    return (
        ":".join(f"{hextets[i]:0{len(g)}x}" for i, g in enumerate(left_groups))
        + compressed
        + ":".join(f"{hextets[first_right + i]:0{len(g)}x}" for i, g in enumerate(right_groups))
        + tail
    )


def _rewrite(text: str, leaks: list[tuple[int, int, int, int]], form: Callable[..., str]) -> str:
    pieces: list[str] = []
    copied = 0
    for start, end, version, net in leaks:
        pieces += (text[copied:start], form(text[start:end], version, net))
        copied = end
    pieces.append(text[copied:])
    return "".join(pieces)


def mask_addresses(text: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str:
    """Replace each address literal with host bits by its network address (no /len suffix)."""
    validate_prefixes(ipv4_prefix, ipv6_prefix)
    leaks = _leaks(text, ipv4_prefix, ipv6_prefix)
    if not leaks:  # literals that are already networks stay as written
        return text
    masked = _rewrite(text, leaks, _compressed)
    if _leaks(masked, ipv4_prefix, ipv6_prefix):
        # A shorter form can re-pair colons with its neighbours ('::1::1' -> '::' + '::1');
        # the in-place form keeps the text's reading, so it cannot.
        masked = _rewrite(text, leaks, _in_place)
    return masked


def find_leaks(text: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> list[str]:
    """Every address literal in `text` with host bits set past the policy prefix, as written."""
    validate_prefixes(ipv4_prefix, ipv6_prefix)
    return [text[start:end] for start, end, _, _ in _leaks(text, ipv4_prefix, ipv6_prefix)]


def address_literals(text: str) -> list[tuple[str, str]]:
    """(literal as written, the address it denotes) for every address literal in `text`.

    The address is normalised like `parse_client` does (IPv6 compressed and lower-case,
    IPv4-mapped IPv6 as IPv4), so it can be compared with RAW's `client_address`.
    """
    out = []
    for start, end, version, value in _literals(text):
        if version == 6 and value >> 32 == _MAPPED_TAG:
            version, value = 4, value & 0xFFFFFFFF
        address = _ipv4_text(value) if version == 4 else ipaddress.IPv6Address(value).compressed
        out.append((text[start:end], address))
    return out

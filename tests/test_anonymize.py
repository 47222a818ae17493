"""pipelines.anonymize: an example for each documented case, then hypothesis properties."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.anonymize import (
    Client,
    classify_clients,
    find_leaks,
    mask_addresses,
    parse_client,
    truncate,
    validate_prefixes,
)

KINDS = {"ipv4", "ipv6", "hostname", "unix", "none", "invalid"}

# ---------------------------------------------------------------- parse_client


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("203.0.113.7", Client("ipv4", "203.0.113.7", None, 4)),
        ("203.0.113.7:5555", Client("ipv4", "203.0.113.7", None, 4)),
        ("2001:db8::1", Client("ipv6", "2001:db8::1", None, 6)),
        ("[2001:db8::1]", Client("ipv6", "2001:db8::1", None, 6)),
        ("[2001:db8::1]:443", Client("ipv6", "2001:db8::1", None, 6)),
        ("2001:DB8::A", Client("ipv6", "2001:db8::a", None, 6)),
        ("fe80::1%eth0", Client("ipv6", "fe80::1", None, 6)),
        ("[fe80::1%eth0]:80", Client("ipv6", "fe80::1", None, 6)),
        ("::ffff:192.0.2.1", Client("ipv4", "192.0.2.1", None, 4)),
        ("0:0:0:0:0:ffff:c000:0201", Client("ipv4", "192.0.2.1", None, 4)),
        (
            "2001:0db8:0000:0000:0000:0000:3257:9652",
            Client("ipv6", "2001:db8::3257:9652", None, 6),
        ),
        ("-", Client("none")),
        ("", Client("none")),
        (None, Client("none")),
        ("unix:/var/run/x.sock", Client("unix")),
        ("unix:", Client("unix")),
        ("host-7.example.net", Client("hostname", None, "host-7.example.net", None)),
        ("Host-7.Example.NET.", Client("hostname", None, "host-7.example.net", None)),
        ("localhost", Client("hostname", None, "localhost", None)),
        ("monitoring-server", Client("hostname", None, "monitoring-server", None)),
    ],
)
def test_parse_client_accepts_what_servers_write(field: str | None, expected: Client) -> None:
    assert parse_client(field) == expected


@pytest.mark.parametrize(
    "field",
    [
        "999.1.1.1",  # numeric labels: a bad address, not a host name
        "192.0.2",
        "192.0.2.01",  # zero-padded octets are ambiguous (octal to some tools)
        "192.0.2.1:65536",
        "[2a02:cf40::::::::4e36]:500000000",
        "[2001:db8::1]:",
        "[192.0.2.1]",  # brackets are for IPv6
        "2001:db8::1%",  # empty zone id
        "[10.1.2.3](http://10.1.2.3)",  # markdown-mangled
        "garbage!",
        "-host.example.net",
        "host..example.net",
        "under_score.example.net",
        "ex\u212aample.net",  # Kelvin sign: lower-cases to an ASCII 'k'
        "a" * 64 + ".example.net",
        "198.51.100.7, 203.0.113.9",
    ],
)
def test_parse_client_rejects_everything_else(field: str) -> None:
    assert parse_client(field) == Client("invalid")


# ---------------------------------------------------------------- truncate / validate_prefixes


@pytest.mark.parametrize(
    ("address", "ipv4_prefix", "ipv6_prefix", "network"),
    [
        ("203.0.113.7", 24, 48, "203.0.113.0/24"),
        ("203.0.113.7", 16, 48, "203.0.0.0/16"),
        ("198.51.100.255", 20, 48, "198.51.96.0/20"),
        ("2001:db8:1:2::5", 24, 48, "2001:db8:1::/48"),
        ("2001:db8:1:2::5", 24, 32, "2001:db8::/32"),
        ("::ffff:192.0.2.1", 24, 48, "192.0.2.0/24"),
        # 6to4 holds the IPv4 address 203.0.113.7 in bits 16-48: keep only its /24.
        ("2002:cb00:7107::1", 24, 48, "2002:cb00:7100::/40"),
    ],
)
def test_truncate(address: str, ipv4_prefix: int, ipv6_prefix: int, network: str) -> None:
    assert truncate(address, ipv4_prefix, ipv6_prefix) == network


@pytest.mark.parametrize("address", ["", "host-7.example.net", "192.0.2.1:80", "[2001:db8::1]"])
def test_truncate_rejects_non_addresses(address: str) -> None:
    with pytest.raises(ValueError):
        truncate(address)


@pytest.mark.parametrize(("ipv4_prefix", "ipv6_prefix"), [(16, 32), (24, 48), (20, 40)])
def test_validate_prefixes_accepts_policy_bounds(ipv4_prefix: int, ipv6_prefix: int) -> None:
    validate_prefixes(ipv4_prefix, ipv6_prefix)


@pytest.mark.parametrize(
    ("ipv4_prefix", "ipv6_prefix", "message"),
    [
        (25, 48, "IPv4 prefix must be a whole number from 16 to 24"),
        (15, 48, "IPv4 prefix must be a whole number from 16 to 24"),
        (32, 48, "IPv4 prefix"),
        (24, 49, "IPv6 prefix must be a whole number from 32 to 48"),
        (24, 64, "IPv6 prefix"),
        (24, 31, "IPv6 prefix"),
        (True, 48, "IPv4 prefix"),
        ("24", 48, "IPv4 prefix"),
    ],
)
def test_validate_prefixes_rejects_the_rest(
    ipv4_prefix: int, ipv6_prefix: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_prefixes(ipv4_prefix, ipv6_prefix)


def test_every_function_enforces_the_policy_bounds() -> None:
    # A mistyped setting must fail loudly, not keep (or stop auditing) full addresses.
    with pytest.raises(ValueError):
        truncate("203.0.113.7", 32, 48)
    with pytest.raises(ValueError):
        mask_addresses("203.0.113.7", 24, 128)
    with pytest.raises(ValueError):
        find_leaks("203.0.113.7", 32, 128)
    with pytest.raises(ValueError):
        classify_clients(["203.0.113.7"], 24, 64)


# ---------------------------------------------------------------- mask_addresses


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("/whois/203.0.113.77?x", "/whois/203.0.113.0?x"),
        ("http://[2001:db8:5:6::1]/", "http://[2001:db8:5::]/"),
        ("http://198.51.100.9:8080/a", "http://198.51.100.0:8080/a"),
        ("203.0.113.7.example.net", "203.0.113.0.example.net"),
        ("/q?ip=%20203.0.113.7", "/q?ip=%20203.0.113.0"),
        ("/x/::ffff:192.0.2.1/y", "/x/::ffff:192.0.2.0/y"),
        ("from 2001:db8::1: refused", "from 2001:db8::: refused"),
        ("192.0.2.1 and 192.0.2.2", "192.0.2.0 and 192.0.2.0"),
        # '::' + '::1' would be a new literal: the network is written digit for digit instead.
        ("::1::1", "::0::1"),
        ("x 2001:db8:5:6::1::1", "x 2001:db8:5:0::0::1"),
    ],
)
def test_mask_addresses(text: str, masked: str) -> None:
    assert mask_addresses(text) == masked


def test_mask_addresses_honours_prefixes() -> None:
    assert mask_addresses("203.0.113.7 2001:db8:5:6::1", 16, 32) == "203.0.0.0 2001:db8::"


@pytest.mark.parametrize(
    "text",
    [
        "/index.html",
        "",
        "/static/app.v2.js",
        "/download/120.0.0.0/setup.exe",  # no host bits: left as written
        "192.0.2.0/24 and 2001:db8:1::/48",
        "Mozilla/5.0 Chrome/120.0.6099.109 Safari/537.36",
    ],
)
def test_mask_addresses_leaves_text_without_leaks_alone(text: str) -> None:
    assert mask_addresses(text) is text


# ---------------------------------------------------------------- find_leaks


@pytest.mark.parametrize(
    ("text", "leaks"),
    [
        ("x 203.0.113.7 y", ["203.0.113.7"]),
        ("203.0.113.0/24", []),
        ("2001:db8:1::/48", []),
        ("203.0.113.7/24", ["203.0.113.7"]),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1"', ["192.0.2.1"]),
        ("[2001:db8::1]:443", ["2001:db8::1"]),
        ("2001:0db8:0000:0000:0000:0000:3257:9652", ["2001:0db8:0000:0000:0000:0000:3257:9652"]),
        ("::ffff:192.0.2.1", ["::ffff:192.0.2.1"]),  # one literal, not also its IPv4 tail
        ("::ffff:c000:201", ["::ffff:c000:201"]),
        ("client:2001:db8::1", ["2001:db8::1"]),
        ("2001:db8::1: connection refused", ["2001:db8::1"]),
        ("fe80::1%eth0", ["fe80::1"]),
        ("198.51.100.7,203.0.113.9", ["198.51.100.7", "203.0.113.9"]),
        ("203.000.113.007", ["203.000.113.007"]),  # zero-padded: still an address
        # Letters are separators for IPv4 ...
        ("a198.51.100.4b", ["198.51.100.4"]),
        ("ip=203.0.113.7&", ["203.0.113.7"]),
        ("v198.51.100.4", ["198.51.100.4"]),
        # ... and so are escapes ending in a digit or hex letter.
        ("/q%20203.0.113.7", ["203.0.113.7"]),
        ("%2F2001:db8::1%2F", ["2001:db8::1"]),
        ("\\x20203.0.113.7 \\u00202001:db8::1", ["203.0.113.7", "2001:db8::1"]),
        ("line\\n203.0.113.7", ["203.0.113.7"]),
        # Not addresses: parts over 255, dotted runs of five or more, times, C++/Perl names.
        ("Chrome/120.0.6099.109", []),
        ("oid 1.3.6.1.4.1.2021", []),
        ("1.2.3.4.5", []),
        ("at 13:55:36", []),
        ("std::cout << Data::Dumper->new", []),
        ("Foo::bar", []),
        # 6to4's /48 is a whole IPv4 address.
        ("2002:cb00:7107::", ["2002:cb00:7107::"]),
    ],
)
def test_find_leaks(text: str, leaks: list[str]) -> None:
    assert find_leaks(text) == leaks


def test_find_leaks_honours_prefixes() -> None:
    assert find_leaks("203.0.0.0 203.0.113.0 2001:db8:: 2001:db8:1::", 16, 32) == [
        "203.0.113.0",
        "2001:db8:1::",
    ]


def test_find_leaks_accepts_decoded_binary() -> None:
    blob = bytes(range(256)) + b"\x00192.0.2.55\xff" + bytes(range(255, -1, -1))
    assert find_leaks(blob.decode("latin-1")) == ["192.0.2.55"]


# ---------------------------------------------------------------- classify_clients


def test_classify_clients_columns() -> None:
    fields = ["198.51.100.7", "[2001:db8:1:2::5]:443", "host-7.example.net", "-", None, "999.1.1.1"]
    assert classify_clients(fields, 24, 48) == {
        "client": fields,
        "kind": ["ipv4", "ipv6", "hostname", "none", "none", "invalid"],
        "address": ["198.51.100.7", "2001:db8:1:2::5", None, None, None, None],
        "hostname": [None, None, "host-7.example.net", None, None, None],
        "ip_version": [4, 6, None, None, None, None],
        "client_net": ["198.51.100.0/24", "2001:db8:1::/48", None, None, None, None],
    }


def test_classify_clients_empty() -> None:
    assert classify_clients([], 24, 48) == {
        name: [] for name in ("client", "kind", "address", "hostname", "ip_version", "client_net")
    }


# ---------------------------------------------------------------- properties

ipv4_prefixes = st.integers(16, 24)
ipv6_prefixes = st.integers(32, 48)
# Plain random addresses plus the ranges that embed an IPv4 address.
addresses = st.one_of(
    st.ip_addresses(),
    st.ip_addresses(network="::ffff:0:0/96"),
    st.ip_addresses(network="2002::/16"),
)


def renderings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Ways logs and URLs write one address."""
    if address.version == 4:
        return [str(address), f"{address}:8080", f"::ffff:{address}"]
    return [address.compressed, address.exploded, f"[{address}]", f"[{address}]:443"]


client_fields = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEF:.[]%-x "),
    st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}\.?", fullmatch=True),
    addresses.flatmap(lambda a: st.sampled_from(renderings(a))),
)


@given(addresses, ipv4_prefixes, ipv6_prefixes)
def test_truncate_never_leaks_host_bits(address, ipv4_prefix: int, ipv6_prefix: int) -> None:
    result = truncate(str(address), ipv4_prefix, ipv6_prefix)
    network = ipaddress.ip_network(result)  # strict: a set host bit raises ValueError
    client = getattr(address, "ipv4_mapped", None) or address
    assert client in network
    assert network.prefixlen <= (ipv4_prefix if network.version == 4 else ipv6_prefix)
    assert truncate(str(network.network_address), ipv4_prefix, ipv6_prefix) == result


@given(client_fields)
def test_parse_client_never_raises(field: str | None) -> None:
    client = parse_client(field)
    assert client.kind in KINDS
    if client.kind in ("ipv4", "ipv6"):
        address = ipaddress.ip_address(client.address)
        assert str(address) == client.address
        assert address.version == client.ip_version == int(client.kind[-1])
    else:
        assert client.address is None and client.ip_version is None
    assert (client.hostname is not None) == (client.kind == "hostname")


@given(addresses)
def test_parse_client_reads_every_rendering(address) -> None:
    client = getattr(address, "ipv4_mapped", None) or address
    for field in renderings(address):
        assert parse_client(field).address == str(client)


filler = st.text(alphabet=st.characters(codec="latin-1")) | st.text(
    alphabet="0123456789abcdefxyz:./%[] _-"
)
texts_with_addresses = st.lists(
    filler | addresses.flatmap(lambda a: st.sampled_from(renderings(a))), max_size=8
).map("".join)


@given(texts_with_addresses, ipv4_prefixes, ipv6_prefixes)
def test_mask_addresses_leaves_no_leaks(text: str, ipv4_prefix: int, ipv6_prefix: int) -> None:
    masked = mask_addresses(text, ipv4_prefix, ipv6_prefix)
    assert find_leaks(masked, ipv4_prefix, ipv6_prefix) == []
    assert mask_addresses(masked, ipv4_prefix, ipv6_prefix) == masked


separators = st.sampled_from([" ", "/", "?ip=", '"', "[", "]", ",", "\t", "%20", "x"])


def kept_bits(address, ipv4_prefix: int, ipv6_prefix: int) -> int:
    """The bits of `address` the policy keeps (written out independently of the module)."""
    if address.version == 4:
        return ipv4_prefix
    if address.ipv4_mapped is not None:
        return 96 + ipv4_prefix
    if address in ipaddress.ip_network("2002::/16"):
        return min(ipv6_prefix, 16 + ipv4_prefix)
    return ipv6_prefix


@given(filler, separators, addresses, separators, filler, ipv4_prefixes, ipv6_prefixes)
def test_find_leaks_never_misses_a_separated_address(
    left: str, before: str, address, after: str, right: str, ipv4_prefix: int, ipv6_prefix: int
) -> None:
    if address.version == 6:  # letters are hex digits or glue to them: not separators for IPv6
        before, after = before.replace("x", " "), after.replace("x", " ")
    if left.endswith("\\"):  # '\\x19' + '2.0.2.1' really is an escape
        left += " "
    literal = str(address)
    bits = kept_bits(address, ipv4_prefix, ipv6_prefix)
    if ipaddress.ip_network(f"{address}/{bits}", strict=False).network_address != address:
        text = f"{left}{before}{literal}{after}{right}"
        assert literal in find_leaks(text, ipv4_prefix, ipv6_prefix)


@given(st.lists(client_fields, unique=True), ipv4_prefixes, ipv6_prefixes)
def test_classify_clients_agrees_with_parse_client(
    fields: list[str | None], ipv4_prefix: int, ipv6_prefix: int
) -> None:
    columns = classify_clients(fields, ipv4_prefix, ipv6_prefix)
    rows = list(zip(*columns.values(), strict=True))
    assert len(rows) == len(fields)
    for field, kind, address, hostname, ip_version, client_net in rows:
        assert Client(kind, address, hostname, ip_version) == parse_client(field)
        expected_net = truncate(address, ipv4_prefix, ipv6_prefix) if address else None
        assert client_net == expected_net

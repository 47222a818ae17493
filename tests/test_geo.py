"""GeoIP enrichment (pipelines.geo).

Part 1 runs the real geoip2 reader on MaxMind's official test databases
(realworld/geoip, values from realworld/EXPECTED.md section 1).  Part 2 builds
synthetic databases from DEMO_NETWORKS and reads them back.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import geoip2.database
import geoip2.errors
import maxminddb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.geo import (
    DEMO_NETWORKS,
    DOCUMENTATION_NETWORKS,
    LOOKUP_COLUMNS,
    GeoLookup,
    GeoResult,
    SyntheticNetwork,
    build_synthetic_databases,
)

EMPTY = GeoResult(None, None, None, None)


# --------------------------------------------------------------------------- MaxMind test DBs


@pytest.fixture(scope="module")
def geodir(realworld: Path) -> Path:
    path = realworld / "geoip"
    if not path.is_dir():
        pytest.fail(f"{path} missing from the realworld material")
    return path


def make(geodir: Path, country=None, city=None, asn=None, warnings=None) -> GeoLookup:
    def p(name):
        return None if name is None else geodir / name

    warn = warnings.append if warnings is not None else _no_warning
    return GeoLookup(p(country), p(city), p(asn), warn=warn)


def _no_warning(message: str) -> None:
    raise AssertionError(f"unexpected warning: {message}")


def test_city_db_alone_gives_country_not_registered_country(geodir):
    # The raw record really has a different registered country, so reading the wrong field shows.
    raw = geoip2.database.Reader(str(geodir / "GeoIP2-City-Test.mmdb"))
    try:
        assert raw.city("81.2.69.160").registered_country.iso_code == "US"
    finally:
        raw.close()
    with make(geodir, city="GeoIP2-City-Test.mmdb") as geo:
        assert geo.lookup("81.2.69.160") == GeoResult("GB", "London", None, None)
        assert geo.lookup("2.125.160.216") == GeoResult("GB", "Boxford", None, None)
        assert geo.lookup("216.160.83.56") == GeoResult("US", "Milton", None, None)


def test_country_and_city_dbs(geodir):
    with make(geodir, country="GeoIP2-Country-Test.mmdb", city="GeoIP2-City-Test.mmdb") as geo:
        assert geo.lookup("81.2.69.160") == GeoResult("GB", "London", None, None)
        assert geo.lookup("89.160.20.112") == GeoResult("SE", "Linköping", None, None)
        # 202.196.224.0/20 has represented_country US; country stays PH.
        assert geo.lookup("202.196.224.0").country == "PH"
        # anycast network with no country at all
        assert geo.lookup("214.1.1.1") == EMPTY


def test_country_db_alone_has_no_city(geodir):
    with make(geodir, country="GeoIP2-Country-Test.mmdb") as geo:
        assert geo.lookup("81.2.69.160") == GeoResult("GB", None, None, None)
        assert geo.lookup("216.160.83.56") == GeoResult("US", None, None, None)


def test_city_file_works_as_country_db(geodir):
    with make(geodir, country="GeoIP2-City-Test.mmdb") as geo:
        assert geo.lookup("81.2.69.160").country == "GB"


@pytest.mark.parametrize(
    "dbs",
    [
        {"city": "GeoIP2-City-Test.mmdb"},
        {"country": "GeoIP2-Country-Test.mmdb", "city": "GeoIP2-City-Test.mmdb"},
        {"country": "GeoLite2-Country-Test.mmdb", "city": "GeoLite2-City-Test.mmdb"},
    ],
)
def test_ipv6_address(geodir, dbs):
    with make(geodir, **dbs) as geo:
        assert geo.lookup("2001:218::1") == GeoResult("JP", None, None, None)
        assert geo.lookup("2a02:cf40:10ff:f00f::8000").country == "NO"


def test_country_falls_back_to_city_db_when_country_db_misses(geodir):
    # 175.16.199.0/24 is in GeoLite2-City-Test but not in GeoLite2-Country-Test.
    with make(geodir, country="GeoLite2-Country-Test.mmdb", city="GeoLite2-City-Test.mmdb") as geo:
        assert geo.lookup("175.16.199.1") == GeoResult("CN", "Changchun", None, None)
    with make(geodir, country="GeoLite2-Country-Test.mmdb") as geo:
        assert geo.lookup("175.16.199.1") == EMPTY


def test_asn_db(geodir):
    with make(geodir, asn="GeoLite2-ASN-Test.mmdb") as geo:
        assert geo.lookup("89.160.20.112") == GeoResult(None, None, 29518, "Bredband2 AB")
        assert geo.lookup("216.160.83.56") == GeoResult(None, None, 209, None)
        assert geo.lookup("1.128.3.4") == GeoResult(None, None, 1221, "Telstra Pty Ltd")
        assert geo.lookup("2600:7000::1") == GeoResult(None, None, 6939, "Hurricane Electric, Inc.")
        assert geo.lookup("81.2.69.160") == EMPTY


def test_all_three_dbs_together(geodir):
    with make(geodir, "GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb",
              "GeoLite2-ASN-Test.mmdb") as geo:
        assert geo.enabled
        assert set(geo.databases) == {"country_db", "city_db", "asn_db"}
        assert geo.databases["city_db"]["database_type"] == "GeoIP2-City"
        assert geo.lookup("89.160.20.112") == GeoResult("SE", "Linköping", 29518, "Bredband2 AB")


@pytest.mark.parametrize("address", ["::ffff:81.2.69.160", "::ffff:5102:45a0"])
def test_ipv4_mapped_address(geodir, address):
    with make(geodir, "GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb") as geo:
        assert geo.lookup(address) == GeoResult("GB", "London", None, None)
    with make(geodir, city="GeoIP2-City-Test.mmdb") as geo:
        assert geo.lookup(address) == GeoResult("GB", "London", None, None)


@pytest.mark.parametrize("address", ["1.2.3.4", "127.0.0.1", "::1"])
def test_address_in_no_db(geodir, address):
    with make(geodir, "GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb",
              "GeoLite2-ASN-Test.mmdb") as geo:
        assert geo.lookup(address) == EMPTY


@pytest.mark.parametrize("address", ["not-an-ip", "", "81.2.69.160:443", "[2001:218::1]", "1.2.3"])
def test_bad_address_gives_all_none_without_warning(geodir, address):
    with make(geodir, "GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb",
              "GeoLite2-ASN-Test.mmdb") as geo:
        assert geo.lookup(address) == EMPTY
        assert geo.enabled  # a bad address does not disable anything
        assert geo.lookup("81.2.69.160").city == "London"


def test_missing_file_warns_once(geodir, tmp_path):
    warnings: list[str] = []
    missing = tmp_path / "GeoLite2-City.mmdb"
    with GeoLookup(None, missing, None, warn=warnings.append) as geo:
        assert len(warnings) == 1
        assert str(missing) in warnings[0] and "city_db" in warnings[0]
        assert not geo.enabled
        assert geo.lookup("81.2.69.160") == EMPTY
        assert geo.lookup_many(["81.2.69.160"])["country"] == [None]
    assert len(warnings) == 1


def test_missing_file_leaves_other_dbs_working(geodir, tmp_path):
    warnings: list[str] = []
    missing = tmp_path / "nope" / "GeoLite2-ASN.mmdb"
    with GeoLookup(geodir / "GeoIP2-Country-Test.mmdb", None, missing,
                   warn=warnings.append) as geo:
        assert geo.enabled
        assert geo.lookup("89.160.20.112") == GeoResult("SE", None, None, None)
        geo.lookup("1.128.3.4")
    assert len(warnings) == 1 and "asn_db" in warnings[0] and str(missing) in warnings[0]


def test_non_mmdb_file_warns(tmp_path):
    junk = tmp_path / "GeoLite2-Country.mmdb"
    junk.write_text("this is not a MaxMind DB\n" * 20)
    warnings: list[str] = []
    with GeoLookup(junk, None, None, warn=warnings.append) as geo:
        assert not geo.enabled
        assert geo.lookup("81.2.69.160") == EMPTY
    assert len(warnings) == 1 and str(junk) in warnings[0] and "country_db" in warnings[0]


def test_default_warn_logs(tmp_path, caplog):
    missing = tmp_path / "absent.mmdb"
    with caplog.at_level("WARNING", logger="weblog.geo"):
        GeoLookup(missing, None, None).close()
    records = [r for r in caplog.records if r.name == "weblog.geo"]
    assert len(records) == 1 and str(missing) in records[0].getMessage()


def test_invalid_node_count_fails_on_open(geodir):
    broken = geodir / "GeoIP2-City-Test-Invalid-Node-Count.mmdb"
    warnings: list[str] = []
    with GeoLookup(geodir / "GeoIP2-Country-Test.mmdb", broken,
                   geodir / "GeoLite2-ASN-Test.mmdb", warn=warnings.append) as geo:
        assert len(warnings) == 1
        assert str(broken) in warnings[0] and "city_db" in warnings[0]
        assert geo.lookup("81.2.69.160") == GeoResult("GB", None, None, None)
        assert geo.lookup("89.160.20.112") == GeoResult("SE", None, 29518, "Bredband2 AB")
    assert len(warnings) == 1


def _geoip2_answer(reader: geoip2.database.Reader, kind: str, address: str) -> tuple:
    """What geoip2's own models give for `address`: the reference for GeoLookup."""
    try:
        record = getattr(reader, kind)(address)
    except geoip2.errors.AddressNotFoundError:
        return (None, None, None, None)
    if kind in ("asn", "isp"):
        org = record.autonomous_system_organization
        return (None, None, record.autonomous_system_number,
                org if org is not None else getattr(record, "isp", None))
    return (record.country.iso_code, getattr(record, "city", None) and record.city.name,
            None, None)


@pytest.mark.parametrize("name, setting, kind", [
    ("GeoIP2-City-Test.mmdb", "city", "city"),
    ("GeoLite2-City-Test.mmdb", "city", "city"),
    ("GeoIP2-Country-Test.mmdb", "country", "country"),
    ("GeoLite2-Country-Test.mmdb", "country", "country"),
    ("GeoLite2-ASN-Test.mmdb", "asn", "asn"),
    ("GeoIP2-ISP-Test.mmdb", "asn", "isp"),
])
def test_every_network_answers_as_geoip2s_models_do(geodir, name, setting, kind):
    """GeoLookup reads raw records (maxminddb) instead of building geoip2's models: for an
    address of every network in each test file, and for misses, it gives what the models
    give (country.iso_code, city.name in English, AS number, AS organisation or ISP)."""
    path = geodir / name
    with maxminddb.open_database(str(path)) as raw:
        addresses = [str(net.network_address) for net, _ in raw]
        addresses += [str(net[-1]) for net, _ in raw if net.num_addresses > 1]
    addresses += ["192.0.2.1", "2001:db8::1", "10.0.0.1"]  # misses
    assert len(addresses) > 100
    reference = geoip2.database.Reader(str(path), locales=["en"])
    try:
        with GeoLookup(**{f"{k}_db": path if k == setting else None
                          for k in ("country", "city", "asn")}, warn=_no_warning) as geo:
            for address in addresses:
                country, city, asn, as_org = _geoip2_answer(reference, kind, address)
                # a City file serving city_db gives the country too
                assert geo.lookup(address) == GeoResult(country, city, asn, as_org), address
    finally:
        reference.close()


def test_broken_data_section_fails_on_lookup(geodir):
    broken = geodir / "GeoIP2-City-Test-Broken-Double-Format.mmdb"
    warnings: list[str] = []
    with GeoLookup(geodir / "GeoIP2-Country-Test.mmdb", broken,
                   geodir / "GeoLite2-ASN-Test.mmdb", warn=warnings.append) as geo:
        assert warnings == []  # this file opens fine
        assert geo.databases["city_db"]["database_type"] == "GeoIP2-City"
        assert geo.lookup("81.2.69.160") == GeoResult("GB", None, None, None)
        assert len(warnings) == 1
        assert str(broken) in warnings[0] and "city_db" in warnings[0]
        assert "city_db" not in geo.databases
        # later lookups continue with the other DBs and do not warn again
        assert geo.lookup("89.160.20.112") == GeoResult("SE", None, 29518, "Bredband2 AB")
        assert geo.lookup("2001:218::1") == GeoResult("JP", None, None, None)
        cols = geo.lookup_many(["216.160.83.56", "81.2.69.160"])
        assert cols["country"] == ["US", "GB"] and cols["city"] == [None, None]
        assert geo.enabled
    assert len(warnings) == 1


def test_broken_city_db_alone_disables_lookup(geodir):
    warnings: list[str] = []
    with make(geodir, city="GeoIP2-City-Test-Broken-Double-Format.mmdb", warnings=warnings) as geo:
        assert geo.enabled
        assert geo.lookup("1.2.3.4") == EMPTY  # a miss never touches the data section
        assert warnings == []
        assert geo.lookup("216.160.83.56") == EMPTY
        assert len(warnings) == 1
        assert not geo.enabled


def test_isp_db_as_asn_db(geodir):
    with make(geodir, asn="GeoIP2-ISP-Test.mmdb") as geo:
        assert geo.databases["asn_db"]["database_type"] == "GeoIP2-ISP"
        assert geo.lookup("89.160.20.112") == GeoResult(None, None, 29518, "Bredband2 AB")
        assert geo.lookup("1.128.0.0") == GeoResult(None, None, 1221, "Telstra Pty Ltd")
        # no AS organisation in the record: the ISP name fills as_org
        assert geo.lookup("216.160.83.56") == GeoResult(None, None, 209, "Century Link")
        assert geo.lookup("81.2.69.160") == GeoResult(None, None, None, "Andrews & Arnold Ltd")
        assert geo.lookup("1.2.3.4") == EMPTY


def test_wrong_database_type_for_setting_warns(geodir):
    warnings: list[str] = []
    asn_file = geodir / "GeoLite2-ASN-Test.mmdb"
    with GeoLookup(None, asn_file, geodir / "GeoIP2-City-Test.mmdb", warn=warnings.append) as geo:
        assert len(warnings) == 2
        assert any("city_db" in w and str(asn_file) in w and "GeoLite2-ASN" in w for w in warnings)
        assert any("asn_db" in w and "GeoIP2-City" in w for w in warnings)
        assert not geo.enabled
        assert geo.lookup("89.160.20.112") == EMPTY


def test_no_databases_configured():
    with GeoLookup(None, None, None, warn=_no_warning) as geo:
        assert not geo.enabled
        assert geo.databases == {}
        assert geo.lookup("81.2.69.160") == EMPTY


def test_lookup_many_is_column_oriented_and_deduplicated(geodir):
    calls: list[str] = []

    class Counting(GeoLookup):
        def lookup(self, address):
            calls.append(address)
            return super().lookup(address)

    geo = Counting(geodir / "GeoIP2-Country-Test.mmdb", geodir / "GeoIP2-City-Test.mmdb",
                   geodir / "GeoLite2-ASN-Test.mmdb", warn=_no_warning)
    with geo:
        addresses = [
            "81.2.69.160", "89.160.20.112", "81.2.69.160", "1.2.3.4", None, "89.160.20.112",
        ]
        cols = geo.lookup_many(addresses)
    assert list(cols) == list(LOOKUP_COLUMNS) == ["address", "country", "city", "asn", "as_org"]
    assert cols["address"] == addresses
    assert cols["country"] == ["GB", "SE", "GB", None, None, "SE"]
    assert cols["city"] == ["London", "Linköping", "London", None, None, "Linköping"]
    assert cols["asn"] == [None, 29518, None, None, None, 29518]
    assert cols["as_org"] == [None, "Bredband2 AB", None, None, None, "Bredband2 AB"]
    distinct = ["81.2.69.160", "89.160.20.112", "1.2.3.4", None]
    assert sorted(calls, key=str) == sorted(distinct, key=str)
    assert geo.lookup_many([]) == {name: [] for name in LOOKUP_COLUMNS}


def test_close_is_idempotent(geodir):
    geo = make(geodir, city="GeoIP2-City-Test.mmdb")
    assert geo.lookup("81.2.69.160").city == "London"
    geo.close()
    geo.close()
    assert not geo.enabled
    assert geo.lookup("81.2.69.160") == EMPTY


def test_geo_result_is_frozen():
    result = GeoResult("GB", "London", None, None)
    with pytest.raises(AttributeError):
        result.country = "US"  # type: ignore[misc]
    assert not hasattr(result, "__dict__")


# --------------------------------------------------------------------------- synthetic DBs


@pytest.fixture(scope="module")
def demo_dbs(tmp_path_factory) -> dict[str, Path]:
    return build_synthetic_databases(tmp_path_factory.mktemp("geo"), DEMO_NETWORKS)


UNMAPPED = ipaddress.ip_network("203.0.113.192/27")


def _expected(item: SyntheticNetwork) -> GeoResult:
    return GeoResult(item.country, item.city, item.asn, item.as_org if item.asn else None)


def test_build_writes_three_files(tmp_path):
    paths = build_synthetic_databases(tmp_path / "out", DEMO_NETWORKS)
    assert paths == {
        "country_db": tmp_path / "out" / "Synthetic-GeoLite2-Country.mmdb",
        "city_db": tmp_path / "out" / "Synthetic-GeoLite2-City.mmdb",
        "asn_db": tmp_path / "out" / "Synthetic-GeoLite2-ASN.mmdb",
    }
    # nothing else (no temporary files) is left behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )


def test_synthetic_metadata(demo_dbs):
    types = {"country_db": "GeoLite2-Country", "city_db": "GeoLite2-City", "asn_db": "GeoLite2-ASN"}
    for setting, path in demo_dbs.items():
        reader = maxminddb.open_database(str(path))
        try:
            meta = reader.metadata()
            assert meta.database_type == types[setting]
            assert meta.ip_version == 6
            assert list(meta.languages) == ["en"]
            description = meta.description["en"]
            assert "synthetic" in description.lower()
            assert "not maxmind" in description.lower()
            assert "documentation" in description.lower()
        finally:
            reader.close()


def test_synthetic_round_trip_every_network(demo_dbs):
    with GeoLookup(**demo_dbs, warn=_no_warning) as geo:
        for item in DEMO_NETWORKS:
            net = ipaddress.ip_network(item.network)
            middle = net.network_address + net.num_addresses // 2
            for address in (net.network_address, middle, net.broadcast_address):
                assert geo.lookup(str(address)) == _expected(item), (item.network, address)
            if net.version == 4:
                assert geo.lookup(f"::ffff:{middle}") == _expected(item)


def test_synthetic_unmapped_block_misses(demo_dbs):
    with GeoLookup(**demo_dbs, warn=_no_warning) as geo:
        for address in (UNMAPPED.network_address, UNMAPPED.network_address + 17,
                        UNMAPPED.broadcast_address):
            assert geo.lookup(str(address)) == EMPTY
            assert geo.lookup(f"::ffff:{address}") == EMPTY
        assert geo.lookup("2001:db8:ffff::1") == EMPTY
        assert geo.lookup("81.2.69.160") == EMPTY  # outside the documentation ranges


def test_synthetic_city_db_alone_and_asn_db_alone(demo_dbs):
    with GeoLookup(None, demo_dbs["city_db"], None, warn=_no_warning) as geo:
        assert geo.lookup("198.51.100.200") == GeoResult("BR", "São Paulo", None, None)
    with GeoLookup(None, None, demo_dbs["asn_db"], warn=_no_warning) as geo:
        assert geo.lookup("2001:db8:4::7") == GeoResult(
            None, None, 64521, "Thames Telecom Ltd (synthetic)"
        )


def test_raw_reader_misses_ipv4_mapped_in_writer_files(demo_dbs):
    """mmdb-writer stores IPv4 under ::/96 only; GeoLookup must translate ::ffff:a.b.c.d."""
    reader = maxminddb.open_database(str(demo_dbs["country_db"]))
    try:
        assert reader.get("192.0.2.1")["country"]["iso_code"] == "JP"
        assert reader.get("::ffff:192.0.2.1") is None
    finally:
        reader.close()
    with GeoLookup(demo_dbs["country_db"], None, None, warn=_no_warning) as geo:
        assert geo.lookup("::ffff:192.0.2.1").country == "JP"


def test_demo_networks_shape():
    nets = [ipaddress.ip_network(item.network) for item in DEMO_NETWORKS]
    for net in nets:
        assert any(net.version == d.version and net.subnet_of(d) for d in DOCUMENTATION_NETWORKS)
        assert net.prefixlen in ((26, 27) if net.version == 4 else (48,))
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert not (a.version == b.version and a.overlaps(b)), (a, b)
    assert not any(net.overlaps(UNMAPPED) for net in nets if net.version == 4)
    ipv4_covered = sum(net.num_addresses for net in nets if net.version == 4)
    assert ipv4_covered == 3 * 256 - UNMAPPED.num_addresses
    assert sum(net.version == 6 for net in nets) >= 4
    cities = {(item.country, item.city) for item in DEMO_NETWORKS if item.city}
    assert 8 <= len(cities) <= 12
    assert {("JP", "Tokyo"), ("JP", "Osaka"), ("US", "Seattle"), ("DE", "Berlin"),
            ("GB", "London"), ("FR", "Paris"), ("BR", "São Paulo"), ("IN", "Mumbai")} <= cities
    for item in DEMO_NETWORKS:
        if item.asn is not None:
            assert 64512 <= item.asn <= 65534
            assert item.as_org and item.as_org.endswith("(synthetic)")


def test_rebuild_replaces_files(tmp_path):
    first = build_synthetic_databases(tmp_path, DEMO_NETWORKS)
    with GeoLookup(**first, warn=_no_warning) as geo:
        assert geo.lookup("192.0.2.1").city == "Tokyo"
    other = [
        SyntheticNetwork("192.0.2.0/25", "SE", "Sweden", "Stockholm", 65000, "Nord (synthetic)")
    ]
    second = build_synthetic_databases(tmp_path, other)
    assert second == first
    with GeoLookup(**second, warn=_no_warning) as geo:
        assert geo.lookup("192.0.2.1") == GeoResult("SE", "Stockholm", 65000, "Nord (synthetic)")
        assert geo.lookup("198.51.100.1") == EMPTY
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize(
    "networks",
    [
        [SyntheticNetwork("8.8.8.0/24", "US", "United States", None, None, None)],
        [SyntheticNetwork("2001:db9::/48", "US", "United States", None, None, None)],
        [SyntheticNetwork("192.0.2.1/24", "US", "United States", None, None, None)],
        [SyntheticNetwork("192.0.2.0/26", "JP", "Japan", None, None, None),
         SyntheticNetwork("192.0.2.32/27", "US", "United States", None, None, None)],
        [SyntheticNetwork("192.0.2.0/26", "Japan", None, None, None, None)],
        [SyntheticNetwork("192.0.2.0/26", None, None, None, -5, "x (synthetic)")],
    ],
    ids=["real-range", "outside-2001-db8", "host-bits", "overlap", "bad-iso", "bad-asn"],
)
def test_build_rejects_bad_networks(tmp_path, networks):
    with pytest.raises(ValueError):
        build_synthetic_databases(tmp_path, networks)
    assert list(tmp_path.iterdir()) == []


def test_build_with_partial_records(tmp_path):
    networks = [
        SyntheticNetwork("198.51.100.0/27", None, None, None, 65001, "Only AS (synthetic)"),
        SyntheticNetwork("198.51.100.32/27", "FR", "France", None, None, None),
        SyntheticNetwork("2001:db8:9::/48", "DE", None, "Berlin", 65002, None),
    ]
    paths = build_synthetic_databases(tmp_path, networks)
    with GeoLookup(**paths, warn=_no_warning) as geo:
        assert geo.lookup("198.51.100.5") == GeoResult(None, None, 65001, "Only AS (synthetic)")
        assert geo.lookup("198.51.100.40") == GeoResult("FR", None, None, None)
        assert geo.lookup("2001:db8:9::1") == GeoResult("DE", "Berlin", 65002, None)
        assert geo.lookup("198.51.100.70") == EMPTY


_DEMO_PARSED = [(ipaddress.ip_network(item.network), item) for item in DEMO_NETWORKS]


def _reference(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> GeoResult:
    for net, item in _DEMO_PARSED:
        if address.version == net.version and address in net:
            return _expected(item)
    return EMPTY


_doc_addresses = st.one_of(
    *[
        st.integers(0, net.num_addresses - 1).map(lambda i, net=net: net.network_address + i)
        for net in DOCUMENTATION_NETWORKS[:3]
    ],
    # IPv6: mostly the first few /48s of 2001:db8::/32, where the demo networks sit
    st.tuples(st.integers(0, 8), st.integers(0, 2**80 - 1)).map(
        lambda t: ipaddress.IPv6Address((0x20010DB8 << 96) | (t[0] << 80) | t[1])
    ),
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=_doc_addresses)
def test_synthetic_lookup_matches_reference(demo_dbs, address):
    with GeoLookup(**demo_dbs, warn=_no_warning) as geo:
        want = _reference(address)
        assert geo.lookup(str(address)) == want
        if address.version == 4:
            assert geo.lookup(f"::ffff:{address}") == want
        assert geo.lookup_many([str(address)])["country"] == [want.country]

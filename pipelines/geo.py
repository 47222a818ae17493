"""GeoIP enrichment: country, city and autonomous system for client addresses.

`GeoLookup` wraps up to three MaxMind-format databases (``.mmdb``), read with
``maxminddb`` (the C reader geoip2 is built on):

* ``country_db`` - a Country database (GeoLite2-Country, GeoIP2-Country, ...);
* ``city_db``    - a City database; also supplies the country when no Country
  database is configured or the Country database has no answer;
* ``asn_db``     - GeoLite2-ASN, or a GeoIP2-ISP database.

Each file's role is checked on its ``metadata().database_type`` the way geoip2
checks it (geoip2 refuses e.g. ``country()`` on a City file), so a City file works
as ``country_db`` and an ISP file works as ``asn_db``.  Lookups read the raw record
(``Reader.get``) and take the four fields geoip2's models would give (``city.names.en``,
``country.iso_code``, ``autonomous_system_number``, ``autonomous_system_organization``
or else ``isp``), without building the models or raising on a miss: a hit in
MaxMind's City test file took 14 us through geoip2 and 6 us this way, a miss 1.6
and 0.2 us.  The country is always ``country.iso_code`` (where the address is
used), never ``registered_country`` (where the block is registered) - the two
differ for many networks.

Degraded operation never raises: a missing, unreadable or corrupt database
produces exactly one warning (naming the setting and the file) through the
``warn`` callback and its columns stay empty.  A database whose data section
turns out to be corrupt during a lookup is warned about once and disabled.

`build_synthetic_databases` writes small Country/City/ASN databases with
mmdb-writer, covering only the documentation address ranges (RFC 5737 and
RFC 3849), for tests and the demo.  They are named like MaxMind's files so a
real database drops in by changing a path; their metadata says plainly that
they are synthetic and not MaxMind data.  `DEMO_NETWORKS` is the spread used
by the demo.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

__all__ = [
    "DEMO_NETWORKS",
    "DOCUMENTATION_NETWORKS",
    "GeoLookup",
    "GeoResult",
    "LOOKUP_COLUMNS",
    "SYNTHETIC_DESCRIPTION",
    "SyntheticNetwork",
    "build_synthetic_databases",
]

_LOG = logging.getLogger("weblog.geo")

#: Keys of the dict returned by `GeoLookup.lookup_many`, in order.
LOOKUP_COLUMNS: tuple[str, ...] = ("address", "country", "city", "asn", "as_org")


def _default_warn(message: str) -> None:
    _LOG.warning("%s", message)


# --------------------------------------------------------------------------- lookup


@dataclass(frozen=True, slots=True)
class GeoResult:
    """Geo attributes of one address; every field is None when unknown."""

    country: str | None  # ISO 3166-1 alpha-2 from `country.iso_code`
    city: str | None  # English city name
    asn: int | None
    as_org: str | None


_EMPTY = GeoResult(None, None, None, None)

# Database kinds each setting accepts, named after the geoip2 Reader method for them.
_ROLE_KINDS: dict[str, frozenset[str]] = {
    "country_db": frozenset({"country", "city", "enterprise"}),
    "city_db": frozenset({"city", "enterprise"}),
    "asn_db": frozenset({"asn", "isp"}),
}


def _kind_of(database_type: str) -> str | None:
    """The geoip2 Reader method usable on a database of this type.

    Mirrors geoip2's own check (a substring test on ``database_type``):
    ``city()`` needs "City", ``country()`` "Country", ``enterprise()``
    "Enterprise", ``asn()`` "GeoLite2-ASN" and ``isp()`` "GeoIP2-ISP".
    """
    if "City" in database_type:
        return "city"
    if "Country" in database_type:
        return "country"
    if "Enterprise" in database_type:
        return "enterprise"
    if "GeoLite2-ASN" in database_type:
        return "asn"
    if "GeoIP2-ISP" in database_type:
        return "isp"
    return None


def _english_name(place: Any) -> str | None:
    """geoip2's ``.name`` with locales=["en"]: the English name, else None."""
    names = place.get("names") if isinstance(place, dict) else None
    return names.get("en") if isinstance(names, dict) else None


def _iso_code(place: Any) -> str | None:
    return place.get("iso_code") if isinstance(place, dict) else None


@dataclass(slots=True)
class _Source:
    setting: str  # "country_db" | "city_db" | "asn_db"
    path: Path
    reader: maxminddb.Reader | None
    database_type: str
    build_epoch: int | None
    method: Callable[[str], Any] | None  # the reader's get: the raw record, or None


class GeoLookup:
    """Look up country, city and AS of IP addresses in local MaxMind databases.

    Each argument is the path of a database or None (not configured).  Opening
    never raises for a missing or corrupt file: ``warn`` receives one message
    naming the setting and the file, and that database is treated as absent.
    Usable as a context manager; `close` releases the files.
    """

    def __init__(
        self,
        country_db: Path | None,
        city_db: Path | None,
        asn_db: Path | None,
        warn: Callable[[str], None] = _default_warn,
    ) -> None:
        self._warn = warn
        configured = {
            "country_db": country_db,
            "city_db": city_db,
            "asn_db": asn_db,
        }
        self._configured = {k for k, v in configured.items() if v not in (None, "")}
        self._country: _Source | None = None
        self._city: _Source | None = None
        self._asn: _Source | None = None
        for setting, path in configured.items():
            if path in (None, ""):
                continue
            source = self._open(setting, Path(os.fspath(path)))
            if source is not None:
                setattr(self, "_" + setting.removesuffix("_db"), source)

    # -- opening / disabling

    def _consequence(self, setting: str) -> str:
        if setting == "country_db":
            if "city_db" in self._configured:
                return "country column comes from city_db only"
            return "country column stays empty"
        if setting == "city_db":
            if "country_db" in self._configured:
                return "city column stays empty"
            return "city and country columns stay empty"
        return "asn and as_org columns stay empty"

    def _open(self, setting: str, path: Path) -> _Source | None:
        try:
            reader = maxminddb.open_database(os.fspath(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self._warn(
                f"GeoIP {setting} {path} is not readable "
                f"({type(exc).__name__}: {exc}): {self._consequence(setting)}"
            )
            return None
        metadata = reader.metadata()
        database_type = str(metadata.database_type)
        kind = _kind_of(database_type)
        if kind not in _ROLE_KINDS[setting]:
            reader.close()
            self._warn(
                f"GeoIP {setting} {path} has database_type {database_type!r}, "
                f"which cannot serve {setting}: {self._consequence(setting)}"
            )
            return None
        return _Source(
            setting=setting,
            path=path,
            reader=reader,
            database_type=database_type,
            build_epoch=getattr(metadata, "build_epoch", None),
            method=reader.get,
        )

    def _disable(self, source: _Source, exc: Exception) -> None:
        if source.reader is None:
            return
        with contextlib.suppress(Exception):
            source.reader.close()
        source.reader = None
        source.method = None
        # the class only: maxminddb's message quotes the address being looked up
        self._warn(
            f"GeoIP {source.setting} {source.path} is corrupt "
            f"({type(exc).__name__}); disabled: {self._consequence(source.setting)}"
        )

    def _query(self, source: _Source | None, address: str) -> Any:
        """The raw record (a dict) for `address`, or None (miss, bad address, unusable DB)."""
        if source is None or source.method is None:
            return None
        try:
            record = source.method(address)
            return record if isinstance(record, dict) else None
        except ValueError:
            # Not an IP address, or an IPv6 address against an IPv4-only file.
            return None
        except maxminddb.InvalidDatabaseError as exc:
            self._disable(source, exc)
            return None

    # -- public API

    @staticmethod
    def _normalise(address: str) -> str:
        """Map ``::ffff:a.b.c.d`` to ``a.b.c.d``; other strings pass unchanged.

        Files built with mmdb-writer store IPv4 only under ``::/96``, so the
        IPv4-mapped form misses there unless it is translated.
        """
        if ":" in address:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return address  # the readers reject it as well
            mapped = getattr(ip, "ipv4_mapped", None)
            if mapped is not None:
                return str(mapped)
        return address

    def lookup(self, address: str) -> GeoResult:
        """Geo attributes of one normalised IP address string (no port or brackets)."""
        if not isinstance(address, str) or not address or not self.enabled:
            return _EMPTY
        address = self._normalise(address)

        country = city = as_org = None
        asn: int | None = None
        city_country = None
        record = self._query(self._city, address)
        if record is not None:
            city = _english_name(record.get("city"))
            city_country = _iso_code(record.get("country"))
        record = self._query(self._country, address)
        if record is not None:
            country = _iso_code(record.get("country"))
        if country is None:
            country = city_country
        record = self._query(self._asn, address)
        if record is not None:
            asn = record.get("autonomous_system_number")
            as_org = record.get("autonomous_system_organization")
            if as_org is None:
                # GeoIP2-ISP files often name the ISP but not the AS organisation.
                as_org = record.get("isp")
        if country is None and city is None and asn is None and as_org is None:
            return _EMPTY
        return GeoResult(country=country, city=city, asn=asn, as_org=as_org)

    def lookup_many(self, addresses: Sequence[str]) -> dict[str, list]:
        """Column-oriented lookups: one row per input address, in input order.

        Keys are `LOOKUP_COLUMNS`; each distinct address is looked up once.
        None (or empty) addresses give rows of None.
        """
        columns: dict[str, list] = {name: [] for name in LOOKUP_COLUMNS}
        col_address = columns["address"]
        col_country = columns["country"]
        col_city = columns["city"]
        col_asn = columns["asn"]
        col_org = columns["as_org"]
        seen: dict[str, GeoResult] = {}
        for address in addresses:
            result = seen.get(address)
            if result is None:
                result = self.lookup(address)
                seen[address] = result
            col_address.append(address)
            col_country.append(result.country)
            col_city.append(result.city)
            col_asn.append(result.asn)
            col_org.append(result.as_org)
        return columns

    @property
    def enabled(self) -> bool:
        """True while at least one database is usable."""
        return any(
            source is not None and source.method is not None
            for source in (self._country, self._city, self._asn)
        )

    @property
    def databases(self) -> dict[str, dict[str, Any]]:
        """Usable databases by setting: path, database_type and build_epoch (provenance)."""
        return {
            source.setting: {
                "path": source.path,
                "database_type": source.database_type,
                "build_epoch": source.build_epoch,
            }
            for source in (self._country, self._city, self._asn)
            if source is not None and source.method is not None
        }

    def close(self) -> None:
        """Release the database files; later lookups return empty results."""
        for source in (self._country, self._city, self._asn):
            if source is not None and source.reader is not None:
                with contextlib.suppress(Exception):
                    source.reader.close()
                source.reader = None
                source.method = None

    def __enter__(self) -> GeoLookup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        usable = ", ".join(f"{k}={v['database_type']}" for k, v in self.databases.items())
        return f"GeoLookup({usable or 'no databases'})"


# --------------------------------------------------------------------------- synthetic


#: The only ranges synthetic databases may describe (RFC 5737 and RFC 3849).
DOCUMENTATION_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
)

SYNTHETIC_DESCRIPTION = (
    "SYNTHETIC test data for documentation address ranges only "
    "(RFC 5737 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; RFC 3849 2001:db8::/32). "
    "Made-up countries, cities and private-use ASNs generated by weblog; "
    "NOT MaxMind data and not real geolocation."
)

# setting -> (file name, database_type)
_SYNTHETIC_FILES: dict[str, tuple[str, str]] = {
    "country_db": ("Synthetic-GeoLite2-Country.mmdb", "GeoLite2-Country"),
    "city_db": ("Synthetic-GeoLite2-City.mmdb", "GeoLite2-City"),
    "asn_db": ("Synthetic-GeoLite2-ASN.mmdb", "GeoLite2-ASN"),
}

# Continent of the countries used in synthetic data (omitted for others).
_CONTINENTS: dict[str, tuple[str, str]] = {
    "AU": ("OC", "Oceania"),
    "BR": ("SA", "South America"),
    "CA": ("NA", "North America"),
    "CN": ("AS", "Asia"),
    "DE": ("EU", "Europe"),
    "ES": ("EU", "Europe"),
    "FR": ("EU", "Europe"),
    "GB": ("EU", "Europe"),
    "IN": ("AS", "Asia"),
    "IT": ("EU", "Europe"),
    "JP": ("AS", "Asia"),
    "KE": ("AF", "Africa"),
    "NL": ("EU", "Europe"),
    "SE": ("EU", "Europe"),
    "SG": ("AS", "Asia"),
    "US": ("NA", "North America"),
    "ZA": ("AF", "Africa"),
}


@dataclass(frozen=True)
class SyntheticNetwork:
    """One network of a synthetic database; None fields are left out of the records."""

    network: str  # CIDR, IPv4 or IPv6, inside DOCUMENTATION_NETWORKS
    country: str | None  # ISO code
    country_name: str | None
    city: str | None
    asn: int | None
    as_org: str | None


def _demo(network: str, country: str | None, country_name: str | None, city: str | None,
       asn: int | None, as_org: str | None) -> SyntheticNetwork:
    return SyntheticNetwork(network, country, country_name, city, asn, as_org)


_SAKURA = (64512, "Sakura Fibre KK (synthetic)")
_CASCADE = (64513, "Cascade Cloud Hosting (synthetic)")
_SPREE = (64520, "Spree Netz GmbH (synthetic)")
_THAMES = (64521, "Thames Telecom Ltd (synthetic)")
_SEINE = (64522, "Seine Hébergement SAS (synthetic)")
_PAULISTA = (64530, "Paulista Banda Larga (synthetic)")
_KONKAN = (64540, "Konkan Broadband (synthetic)")
_HARBOUR = (64550, "Harbour Bridge Internet (synthetic)")

#: Demo spread over the documentation ranges.  203.0.113.192/27 is deliberately
#: unmapped (a miss in every database); 203.0.113.128/27 has a country only.
DEMO_NETWORKS: tuple[SyntheticNetwork, ...] = (
    _demo("192.0.2.0/26", "JP", "Japan", "Tokyo", *_SAKURA),
    _demo("192.0.2.64/26", "JP", "Japan", "Osaka", *_SAKURA),
    _demo("192.0.2.128/26", "US", "United States", "Seattle", *_CASCADE),
    _demo("192.0.2.192/26", "US", "United States", "New York", *_CASCADE),
    _demo("198.51.100.0/26", "DE", "Germany", "Berlin", *_SPREE),
    _demo("198.51.100.64/26", "GB", "United Kingdom", "London", *_THAMES),
    _demo("198.51.100.128/26", "FR", "France", "Paris", *_SEINE),
    _demo("198.51.100.192/26", "BR", "Brazil", "São Paulo", *_PAULISTA),
    _demo("203.0.113.0/27", "IN", "India", "Mumbai", *_KONKAN),
    _demo("203.0.113.32/27", "AU", "Australia", "Sydney", *_HARBOUR),
    _demo("203.0.113.64/27", "GB", "United Kingdom", "London", *_THAMES),
    _demo("203.0.113.96/27", "US", "United States", "Seattle", *_CASCADE),
    _demo("203.0.113.128/27", "NL", "Netherlands", None, None, None),
    _demo("203.0.113.160/27", "DE", "Germany", "Berlin", *_CASCADE),
    # 203.0.113.192/27: unmapped on purpose
    _demo("203.0.113.224/27", "FR", "France", "Paris", *_SEINE),
    _demo("2001:db8:1::/48", "JP", "Japan", "Tokyo", *_SAKURA),
    _demo("2001:db8:2::/48", "US", "United States", "Seattle", *_CASCADE),
    _demo("2001:db8:3::/48", "DE", "Germany", "Berlin", *_SPREE),
    _demo("2001:db8:4::/48", "GB", "United Kingdom", "London", *_THAMES),
    _demo("2001:db8:5::/48", "IN", "India", "Mumbai", *_KONKAN),
    _demo("2001:db8:6::/48", "BR", "Brazil", "São Paulo", *_PAULISTA),
)


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _validate(networks: Sequence[SyntheticNetwork]) -> list[_Network]:
    parsed = []
    for item in networks:
        try:
            net = ipaddress.ip_network(item.network, strict=True)
        except ValueError as exc:
            raise ValueError(f"synthetic network {item.network!r}: {exc}") from None
        if not any(
            net.version == doc.version and net.subnet_of(doc)  # type: ignore[arg-type]
            for doc in DOCUMENTATION_NETWORKS
        ):
            raise ValueError(
                f"synthetic network {item.network} is outside the documentation ranges "
                f"({', '.join(map(str, DOCUMENTATION_NETWORKS))})"
            )
        if item.country is not None and not (
            len(item.country) == 2 and item.country.isascii() and item.country.isupper()
        ):
            raise ValueError(f"synthetic network {item.network}: bad ISO country {item.country!r}")
        if item.asn is not None and not (
            isinstance(item.asn, int) and not isinstance(item.asn, bool) and 0 < item.asn < 2**32
        ):
            raise ValueError(f"synthetic network {item.network}: bad ASN {item.asn!r}")
        parsed.append(net)
    ordered = sorted(parsed, key=lambda n: (n.version, n.network_address, n.prefixlen))
    for left, right in zip(ordered, ordered[1:]):
        if left.version == right.version and left.overlaps(right):
            raise ValueError(f"synthetic networks {left} and {right} overlap")
    return parsed


def _country_record(item: SyntheticNetwork) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if item.country is not None:
        country: dict[str, Any] = {"iso_code": item.country}
        if item.country_name:
            country["names"] = {"en": item.country_name}
        record["country"] = country
        continent = _CONTINENTS.get(item.country)
        if continent is not None:
            record["continent"] = {"code": continent[0], "names": {"en": continent[1]}}
    return record


def _city_record(item: SyntheticNetwork) -> dict[str, Any]:
    record = _country_record(item)
    if item.city:
        record["city"] = {"names": {"en": item.city}}
    return record


def _asn_record(item: SyntheticNetwork) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if item.asn is not None:
        record["autonomous_system_number"] = item.asn
        if item.as_org:
            record["autonomous_system_organization"] = item.as_org
    return record


_RECORD_BUILDERS: dict[str, Callable[[SyntheticNetwork], dict[str, Any]]] = {
    "country_db": _country_record,
    "city_db": _city_record,
    "asn_db": _asn_record,
}


def _expected(item: SyntheticNetwork) -> GeoResult:
    return GeoResult(
        country=item.country,
        city=item.city or None,
        asn=item.asn,
        as_org=(item.as_org or None) if item.asn is not None else None,
    )


def _verify(paths: dict[str, Path], networks: Sequence[SyntheticNetwork],
            parsed: Sequence[_Network]) -> None:
    """Read the written files back through GeoLookup (first/last address, ::ffff: form)."""
    problems: list[str] = []
    with GeoLookup(paths["country_db"], paths["city_db"], paths["asn_db"],
                   warn=problems.append) as geo:
        if problems:
            raise RuntimeError(f"synthetic GeoIP databases unreadable: {problems}")
        for item, net in zip(networks, parsed):
            want = _expected(item)
            probes = [str(net.network_address), str(net.broadcast_address)]
            if net.version == 4:
                probes.append(f"::ffff:{net.network_address}")
            for probe in probes:
                got = geo.lookup(probe)
                if got != want:
                    raise RuntimeError(
                        f"synthetic GeoIP read-back of {probe} ({item.network}): {got} != {want}"
                    )
        if problems:
            raise RuntimeError(f"synthetic GeoIP databases unreadable: {problems}")


def build_synthetic_databases(
    out_dir: Path, networks: Sequence[SyntheticNetwork]
) -> dict[str, Path]:
    """Write synthetic Country, City and ASN databases for `networks` into `out_dir`.

    Files: Synthetic-GeoLite2-{Country,City,ASN}.mmdb with database_type
    GeoLite2-Country / GeoLite2-City / GeoLite2-ASN (IPv6 trees with IPv4 under
    ``::/96``).  Networks must be non-overlapping subnets of the documentation
    ranges.  The files are written to temporary names, read back through
    `GeoLookup`, then renamed into place.  Returns
    ``{'country_db': path, 'city_db': path, 'asn_db': path}``.
    """
    networks = list(networks)
    parsed = _validate(networks)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # the writer is only needed here (demo and fixtures): not imported by every command
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    temps: dict[str, Path] = {}
    try:
        for setting, (file_name, database_type) in _SYNTHETIC_FILES.items():
            writer = MMDBWriter(
                ip_version=6,
                ipv4_compatible=True,
                database_type=database_type,
                languages=["en"],
                description={"en": SYNTHETIC_DESCRIPTION},
            )
            build = _RECORD_BUILDERS[setting]
            for item in networks:
                record = build(item)
                if record:
                    writer.insert_network(IPSet([item.network]), record)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".tmp", dir=out_dir)
            os.close(fd)
            temps[setting] = Path(tmp_name)
            writer.to_db_file(tmp_name)
            os.chmod(tmp_name, 0o644)
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
        _verify(temps, networks, parsed)
        result: dict[str, Path] = {}
        for setting, (file_name, _) in _SYNTHETIC_FILES.items():
            target = out_dir / file_name
            os.replace(temps.pop(setting), target)
            result[setting] = target
        return result
    finally:
        for leftover in temps.values():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

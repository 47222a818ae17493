"""Configuration: one settings table, a TOML file, and a frozen Config.

`SETTINGS` is the single source of truth: name (as written in TOML), default, type and
help. The README's configuration table and `weblog config` are generated from it, and a
test fails when they drift apart.

Where the config comes from, first match wins: `--config PATH`, env `WEBLOG_CONFIG`,
`./weblog.toml` when present, else the built-in defaults. `--data-dir` / env
`WEBLOG_DATA_DIR` override `data_dir`. Relative paths inside a config file are relative to
that file's folder (so is the default `data` when a config file does not set data_dir);
paths given on the command line or in the environment are relative to the working
directory.
"""
from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError
from .formats import get_format

DEFAULT_CONFIG_NAME = "weblog.toml"
DEFAULT_DATA_DIR = "data"  # relative to the config file's folder, else the working directory
#: retention windows longer than this (100 years) are a typo, and overflow date arithmetic
MAX_RETENTION_DAYS = 36500


@dataclass(frozen=True)
class Setting:
    name: str  # dotted TOML key, e.g. "retention.raw_days"
    attr: str  # Config attribute
    default: Any
    kind: str  # int | float | bool | str | str? | path | path? | str-list | cidr-list | ip-list | sources | timezone
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "data_dir", "data", "path",
            "Folder holding raw/, warehouse.duckdb, audit/ and reports/."),
    Setting("timezone", "timezone", "UTC", "timezone",
            "Site time zone (IANA name) for day and hour boundaries."),
    Setting("retention.raw_days", "raw_days", 7, "int",
            "Days the RAW tier (full addresses, full URLs, user agents, rejects) is kept; "
            "with 7 and as-of D, days D-7 .. D are inside the window (1-36500)."),
    Setting("retention.detail_days", "detail_days", 90, "int",
            "Days DETAIL (truncated addresses; `detail/`, the warehouse view `requests`) is "
            "kept (raw_days-36500)."),
    Setting("retention.purge_source_logs", "purge_source_logs", False, "bool",
            "Also delete source log files once ingested and older than raw_days."),
    Setting("anonymize.ipv4_prefix", "ipv4_prefix", 24, "int",
            "IPv4 prefix kept outside RAW (16-24)."),
    Setting("anonymize.ipv6_prefix", "ipv6_prefix", 48, "int",
            "IPv6 prefix kept outside RAW (32-48)."),
    Setting("anonymize.query_keep", "query_keep", (), "str-list",
            "Query parameters kept in DETAIL paths; all other query values are dropped."),
    Setting("stats.k_min", "k_min", 5, "int",
            "Client-keyed statistics cells with fewer distinct visitors go to '(other)'."),
    Setting("stats.site_domains", "site_domains", (), "str-list",
            "Registered domains of the site itself: such referrers count as internal."),
    Setting("geoip.country_db", "country_db", None, "path?",
            "MaxMind Country .mmdb (optional)."),
    Setting("geoip.city_db", "city_db", None, "path?",
            "MaxMind City .mmdb (optional; gives the country too when country_db is unset)."),
    Setting("geoip.asn_db", "asn_db", None, "path?",
            "MaxMind ASN (or ISP) .mmdb (optional)."),
    Setting("trusted_proxies", "trusted_proxies", (), "cidr-list",
            "Networks of your own proxies and load balancers (CIDR): the client is the "
            "right-most address of X-Forwarded-For / Forwarded / %{c}a plus the peer that is "
            "not in one of them."),
    Setting("enrich.reverse_dns", "reverse_dns", False, "bool",
            "Look up the host name of each distinct client address once per run (RAW keeps "
            "the name, DETAIL its registered domain)."),
    Setting("enrich.nameservers", "nameservers", (), "ip-list",
            "DNS servers for reverse_dns (addresses, optionally with :port); empty: the "
            "system's resolv.conf."),
    Setting("enrich.dns_timeout", "dns_timeout", 1.0, "float",
            "Seconds one reverse lookup may take."),
    Setting("enrich.dns_budget_seconds", "dns_budget_seconds", 30.0, "float",
            "Seconds all reverse lookups of one run may take together; the rest stay unresolved."),
    Setting("sources", "sources", (), "sources",
            "[[sources]] tables: path (glob), format (default 'auto'), vhost (optional)."),
    Setting("prefect.task_runner", "task_runner", "thread", "str",
            "How the nightly flow runs its per-file ingest tasks: 'thread' (one process) or "
            "'dask' (prefect-dask; see prefect.dask_address)."),
    Setting("prefect.dask_address", "dask_address", None, "str?",
            "Scheduler address of an existing Dask cluster (tcp://host:8786) for "
            "task_runner = 'dask'; unset: a local cluster per run."),
    Setting("prefect.workers", "workers", 4, "int",
            "Files ingested at once: threads, or workers of the local Dask cluster."),
    Setting("prefect.lock_wait_seconds", "lock_wait_seconds", 600, "int",
            "Seconds a run (nightly, ingest, aggregate, purge, erase, verify) waits for "
            "another run's data-dir lock before it gives up (exit 3)."),
)

TASK_RUNNERS = ("thread", "dask")

SOURCE_KEYS = {"path": "glob of log files", "format": "log format name",
               "vhost": "virtual host name for lines that do not log one"}


@dataclass(frozen=True)
class Source:
    path: str  # glob, absolute after loading
    format: str = "auto"
    vhost: str | None = None


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("data")
    timezone: str = "UTC"
    raw_days: int = 7
    detail_days: int = 90
    purge_source_logs: bool = False
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    query_keep: tuple[str, ...] = ()
    k_min: int = 5
    site_domains: tuple[str, ...] = ()
    country_db: Path | None = None
    city_db: Path | None = None
    asn_db: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    reverse_dns: bool = False
    nameservers: tuple[str, ...] = ()
    dns_timeout: float = 1.0
    dns_budget_seconds: float = 30.0
    sources: tuple[Source, ...] = ()
    task_runner: str = "thread"
    dask_address: str | None = None
    workers: int = 4
    lock_wait_seconds: int = 600
    config_file: Path | None = field(default=None, compare=False)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def policy(self) -> dict[str, Any]:
        """The retention/anonymisation policy in force (recorded in ledgers, no paths)."""
        return {
            "raw_days": self.raw_days,
            "detail_days": self.detail_days,
            "ipv4_prefix": self.ipv4_prefix,
            "ipv6_prefix": self.ipv6_prefix,
            "k_min": self.k_min,
            "query_keep": list(self.query_keep),
            "timezone": self.timezone,
        }

    def policy_hash(self) -> str:
        blob = json.dumps(self.policy(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _where(origin: str, name: str) -> str:
    return f"{origin}: setting '{name}'"


def _coerce(setting: Setting, value: Any, origin: str, base: Path) -> Any:
    where = _where(origin, setting.name)
    kind = setting.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, not {type(value).__name__} {value!r}.")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, not {type(value).__name__} {value!r}.")
        return float(value)
    if kind in ("cidr-list", "ip-list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}.")
        for v in value:
            try:
                if kind == "cidr-list":
                    ipaddress.ip_network(v, strict=False)
                else:  # a DNS server: address, or address:port / [IPv6]:port
                    from .rdns import split_server

                    ipaddress.ip_address(split_server(v)[0])
            except ValueError:
                what = ("a network like '10.0.0.0/8'" if kind == "cidr-list"
                        else "an IP address (optionally with :port)")
                raise ConfigError(f"{where}: {v!r} is not {what}.") from None
        return tuple(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}.")
        return value
    if kind in ("str", "str?", "timezone"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string, not {value!r}.")
        return value
    if kind in ("path", "path?"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a path string, not {value!r}.")
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if kind == "str-list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}.")
        return tuple(value)
    if kind == "sources":
        return _sources(value, origin, base)
    raise AssertionError(kind)  # pragma: no cover - table is static


def _sources(value: Any, origin: str, base: Path) -> tuple[Source, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{origin}: 'sources' must be [[sources]] tables.")
    out = []
    for i, table in enumerate(value, 1):
        unknown = sorted(set(table) - set(SOURCE_KEYS))
        if unknown:
            raise ConfigError(f"{origin}: [[sources]] #{i} has an unknown key '{unknown[0]}' "
                              f"(known: {', '.join(SOURCE_KEYS)}).")
        path = table.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{origin}: [[sources]] #{i} needs a 'path' string (a file or glob).")
        fmt = table.get("format", "auto")
        vhost = table.get("vhost")
        if not isinstance(fmt, str) or (vhost is not None and not isinstance(vhost, str)):
            raise ConfigError(f"{origin}: [[sources]] #{i}: 'format' and 'vhost' must be strings.")
        try:
            get_format(fmt)  # a misspelt format is a config error now, not an ingest error later
        except InputError as exc:
            raise ConfigError(f"{origin}: [[sources]] #{i}: {exc}") from None
        p = Path(path).expanduser()
        out.append(Source(str(p if p.is_absolute() else base / p), fmt, vhost))
    return tuple(out)


def _did_you_mean(name: str, names: list[str]) -> str | None:
    """The setting a misspelt or misplaced key most likely meant (raw_day -> retention.raw_days)."""
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return close[0]
    leaves = {n.rpartition(".")[2]: n for n in names}
    close = difflib.get_close_matches(name.rpartition(".")[2], leaves, n=1)
    return leaves[close[0]] if close else None


def parse_config(doc: dict[str, Any], origin: str, base: Path) -> dict[str, Any]:
    """Validate a TOML document; return Config keyword arguments (raises ConfigError)."""
    by_name = {s.name: s for s in SETTINGS}
    flat = _flatten({k: v for k, v in doc.items() if k != "sources"})
    if "sources" in doc:
        flat["sources"] = doc["sources"]
    kwargs: dict[str, Any] = {}
    for name, value in flat.items():
        setting = by_name.get(name)
        if setting is None:
            close = _did_you_mean(name, list(by_name))
            hint = f" (did you mean '{close}'?)" if close else ""
            raise ConfigError(f"{origin}: unknown setting '{name}'{hint}.")
        kwargs[setting.attr] = _coerce(setting, value, origin, base)
    return kwargs


def validate(cfg: Config, origin: str) -> Config:
    """Check values that need more than a type (ranges, time zone, folders)."""
    from .anonymize import validate_prefixes

    if not known_timezone(cfg.timezone):
        raise ConfigError(f"{_where(origin, 'timezone')}: unknown time zone {cfg.timezone!r} "
                          "(use an IANA name such as 'Europe/Berlin' or 'UTC').")
    if not 1 <= cfg.raw_days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"{_where(origin, 'retention.raw_days')} must be 1 to "
                          f"{MAX_RETENTION_DAYS} (100 years).")
    if not cfg.raw_days <= cfg.detail_days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"{_where(origin, 'retention.detail_days')} must be at least "
                          f"retention.raw_days ({cfg.raw_days}) and at most "
                          f"{MAX_RETENTION_DAYS} (100 years).")
    if cfg.dns_timeout <= 0 or cfg.dns_budget_seconds < 0:
        raise ConfigError(f"{_where(origin, 'enrich.dns_timeout')} must be above 0 and "
                          "enrich.dns_budget_seconds not below 0.")
    if cfg.k_min < 1:
        raise ConfigError(f"{_where(origin, 'stats.k_min')} must be at least 1.")
    if cfg.task_runner not in TASK_RUNNERS:
        raise ConfigError(f"{_where(origin, 'prefect.task_runner')} must be one of "
                          f"{', '.join(TASK_RUNNERS)}, not {cfg.task_runner!r}.")
    if cfg.workers < 1 or cfg.lock_wait_seconds < 0:
        raise ConfigError(f"{origin}: prefect.workers must be at least 1 and "
                          "prefect.lock_wait_seconds at least 0.")
    try:
        validate_prefixes(cfg.ipv4_prefix, cfg.ipv6_prefix)
    except ValueError as exc:
        setting = "anonymize.ipv4_prefix" if "IPv4" in str(exc) else "anonymize.ipv6_prefix"
        raise ConfigError(f"{_where(origin, setting)}: {exc}") from None
    # the data folder is created on first use: it, or its nearest existing parent, must be a folder
    existing = cfg.data_dir
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{_where(origin, 'data_dir')}: {existing} exists and is not a folder.")
    return cfg


def known_timezone(name: str) -> bool:
    """An IANA zone both zoneinfo and DuckDB know ('localtime' or a folder like 'America' is not)."""
    return name in zoneinfo.available_timezones() and name != "localtime"


def find_config_file(explicit: str | os.PathLike | None) -> Path | None:
    """--config, then $WEBLOG_CONFIG, then ./weblog.toml when present."""
    chosen = explicit or os.environ.get("WEBLOG_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        if path.is_dir():
            raise ConfigError(f"Config file {path} is a folder; give a TOML file.")
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.")
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_config(path: str | os.PathLike | None = None,
                data_dir: str | os.PathLike | None = None,
                **overrides: Any) -> Config:
    """Load and validate the configuration (raises ConfigError with one clear sentence)."""
    file = find_config_file(path)
    kwargs: dict[str, Any] = {}
    origin = "built-in defaults"
    if file is not None:
        origin = str(file)
        try:
            doc = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {file} cannot be read: {exc}.") from None
        base = file.resolve().parent
        kwargs = {"data_dir": base / DEFAULT_DATA_DIR, **parse_config(doc, origin, base)}
    else:
        kwargs["data_dir"] = Path(DEFAULT_DATA_DIR).absolute()
    env_dir = data_dir or os.environ.get("WEBLOG_DATA_DIR")
    if env_dir:
        kwargs["data_dir"] = Path(env_dir).expanduser().absolute()
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    cfg = Config(config_file=file, **kwargs)
    return validate(cfg, origin)


def with_data_dir(cfg: Config, data_dir: Path) -> Config:
    return replace(cfg, data_dir=data_dir)


def config_attrs() -> set[str]:
    return {f.name for f in fields(Config)} - {"config_file"}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def to_toml(cfg: Config) -> str:
    """The configuration as a TOML document that load_config() reads back to `cfg`."""
    tables: dict[str, list[str]] = {"": []}
    for s in SETTINGS:
        value = getattr(cfg, s.attr)
        if value is None or s.kind == "sources":
            continue
        table, _, key = s.name.rpartition(".")
        tables.setdefault(table, []).append(f"{key} = {_toml_value(value)}")
    out = list(tables.pop(""))
    for table, lines in tables.items():
        out += ["", f"[{table}]", *lines]
    for src in cfg.sources:
        out += ["", "[[sources]]", f"path = {_toml_value(src.path)}",
                f"format = {_toml_value(src.format)}"]
        if src.vhost is not None:
            out.append(f"vhost = {_toml_value(src.vhost)}")
    return "\n".join(out) + "\n"

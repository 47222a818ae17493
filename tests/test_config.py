"""Configuration (pipelines.config): defaults, TOML, path resolution, precedence, and one
clear sentence with exit code 2 for every mistake."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.config import SETTINGS, Config, Source, config_attrs, load_config
from pipelines.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
WEBLOG = Path(sys.executable).parent / "weblog"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No config or data dir leaks in from the caller's environment or working directory."""
    monkeypatch.delenv("WEBLOG_CONFIG", raising=False)
    monkeypatch.delenv("WEBLOG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith("."), message
    assert "Traceback" not in message


# --------------------------------------------------------------------------- defaults

def test_defaults_without_any_config(tmp_path):
    cfg = load_config()
    assert cfg.config_file is None
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.data_dir.is_absolute()
    assert (cfg.timezone, cfg.raw_days, cfg.detail_days) == ("UTC", 7, 90)
    assert (cfg.ipv4_prefix, cfg.ipv6_prefix, cfg.query_keep, cfg.k_min) == (24, 48, (), 5)
    assert (cfg.country_db, cfg.city_db, cfg.asn_db) == (None, None, None)
    assert cfg.sources == ()
    assert cfg.purge_source_logs is False


def test_settings_table_matches_config_defaults():
    by_attr = {s.attr: s for s in SETTINGS}
    assert set(by_attr) == config_attrs()
    for attr, setting in by_attr.items():
        default = getattr(Config(), attr)
        expected = Path(setting.default) if setting.kind == "path" else setting.default
        assert default == expected, attr
        assert setting.help.strip(), attr


def test_local_weblog_toml_is_used_when_present(tmp_path):
    write(tmp_path / "weblog.toml", 'timezone = "Asia/Tokyo"\n')
    cfg = load_config()
    assert cfg.timezone == "Asia/Tokyo"
    assert cfg.config_file == Path("weblog.toml")


# --------------------------------------------------------------------------- TOML

FULL = """
data_dir = "store"
timezone = "Europe/Berlin"
trusted_proxies = ["10.0.0.0/8", "2001:db8:ffff::/48"]

[retention]
raw_days = 3
detail_days = 30
purge_source_logs = true

[anonymize]
ipv4_prefix = 16
ipv6_prefix = 32
query_keep = ["page", "lang"]

[stats]
k_min = 10
site_domains = ["example.com"]

[geoip]
country_db = "geo/Country.mmdb"
city_db = "/abs/City.mmdb"
asn_db = "geo/ASN.mmdb"

[enrich]
reverse_dns = true
nameservers = ["192.0.2.53"]
dns_timeout = 0.5
dns_budget_seconds = 10

[[sources]]
path = "logs/access.log*"
format = "vhost_combined"

[[sources]]
path = "/var/log/other/*.log"
vhost = "www.example.org"
"""


def test_toml_loading_every_setting(tmp_path):
    conf = write(tmp_path / "etc" / "weblog.toml", FULL)
    cfg = load_config(conf)
    base = conf.parent.resolve()
    assert cfg.config_file == conf
    assert cfg.data_dir == base / "store"
    assert cfg.timezone == "Europe/Berlin"
    assert (cfg.raw_days, cfg.detail_days, cfg.purge_source_logs) == (3, 30, True)
    assert (cfg.ipv4_prefix, cfg.ipv6_prefix) == (16, 32)
    assert cfg.query_keep == ("page", "lang")
    assert cfg.k_min == 10 and cfg.site_domains == ("example.com",)
    assert cfg.country_db == base / "geo" / "Country.mmdb"
    assert cfg.city_db == Path("/abs/City.mmdb")
    assert cfg.asn_db == base / "geo" / "ASN.mmdb"
    assert cfg.sources == (
        Source(str(base / "logs" / "access.log*"), "vhost_combined", None),
        Source("/var/log/other/*.log", "auto", "www.example.org"),
    )
    assert cfg.trusted_proxies == ("10.0.0.0/8", "2001:db8:ffff::/48")
    assert (cfg.reverse_dns, cfg.nameservers) == (True, ("192.0.2.53",))
    assert (cfg.dns_timeout, cfg.dns_budget_seconds) == (0.5, 10.0)


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    conf = write(tmp_path / "site" / "weblog.toml",
                 'data_dir = "d"\n[geoip]\ncity_db = "g/City.mmdb"\n[[sources]]\npath = "l/*.log"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config("../site/weblog.toml")
    site = (tmp_path / "site").resolve()
    assert cfg.data_dir == site / "d"
    assert cfg.city_db == site / "g" / "City.mmdb"
    assert cfg.sources[0].path == str(site / "l" / "*.log")
    assert conf.exists()


def test_default_data_dir_of_a_config_file_is_beside_it(tmp_path, monkeypatch):
    write(tmp_path / "site" / "weblog.toml", 'timezone = "UTC"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config("site/weblog.toml")
    assert cfg.data_dir == (tmp_path / "site" / "data").resolve()


def test_example_config_loads(tmp_path):
    cfg = load_config(REPO / "weblog.example.toml")
    assert cfg.timezone == "Asia/Tokyo"
    assert cfg.data_dir == REPO / "data"
    assert cfg.sources[0].vhost == "www.example.com"
    assert cfg.sources[0].path == str(REPO / "data" / "sample" / "access.log*")


# --------------------------------------------------------------------------- precedence

def test_data_dir_precedence(tmp_path, monkeypatch):
    conf = write(tmp_path / "weblog.toml", 'data_dir = "from-file"\n')
    assert load_config(conf).data_dir == tmp_path / "from-file"
    monkeypatch.setenv("WEBLOG_DATA_DIR", "from-env")
    assert load_config(conf).data_dir == tmp_path / "from-env"
    assert load_config(conf, data_dir="from-flag").data_dir == tmp_path / "from-flag"


def test_config_file_precedence(tmp_path, monkeypatch):
    write(tmp_path / "weblog.toml", 'timezone = "Asia/Tokyo"\n')
    env = write(tmp_path / "env.toml", 'timezone = "Europe/Paris"\n')
    flag = write(tmp_path / "flag.toml", 'timezone = "America/New_York"\n')
    assert load_config().timezone == "Asia/Tokyo"
    monkeypatch.setenv("WEBLOG_CONFIG", str(env))
    assert load_config().timezone == "Europe/Paris"
    assert load_config(flag).timezone == "America/New_York"


def test_cli_flags_beat_environment(tmp_path, monkeypatch):
    write(tmp_path / "env.toml", 'timezone = "Europe/Paris"\n')
    write(tmp_path / "flag.toml", 'timezone = "America/New_York"\n')
    monkeypatch.setenv("WEBLOG_CONFIG", "env.toml")
    monkeypatch.setenv("WEBLOG_DATA_DIR", "env-data")
    runner = CliRunner()
    out = runner.invoke(cli, ["config"]).output
    assert "timezone = Europe/Paris" in out
    assert f"data_dir = {tmp_path / 'env-data'}" in out
    out = runner.invoke(cli, ["--config", "flag.toml", "--data-dir", "flag-data", "config"]).output
    assert "timezone = America/New_York" in out
    assert f"data_dir = {tmp_path / 'flag-data'}" in out


# --------------------------------------------------------------------------- mistakes

BAD = [
    ("raw_day = 3\n", "unknown setting 'raw_day' (did you mean 'retention.raw_days'?)"),
    ("[retention]\nraw_day = 3\n", "unknown setting 'retention.raw_day' (did you mean 'retention.raw_days'?)"),
    ("[anonymise]\nipv4_prefix = 24\n", "did you mean 'anonymize.ipv4_prefix'?"),
    ("colour = 1\n", "unknown setting 'colour'."),
    ('[retention]\nraw_days = "7"\n', "setting 'retention.raw_days' must be an integer, not str '7'"),
    ("[retention]\nraw_days = 7.5\n", "must be an integer"),
    ("[retention]\nraw_days = true\n", "must be an integer"),
    ('[retention]\npurge_source_logs = "yes"\n', "must be true or false"),
    ('[anonymize]\nquery_keep = "page"\n', "setting 'anonymize.query_keep' must be a list of strings"),
    ("data_dir = 5\n", "setting 'data_dir' must be a path string"),
    ('timezone = "Mars/Olympus_Mons"\n', "setting 'timezone': unknown time zone 'Mars/Olympus_Mons'"),
    ('timezone = "America"\n', "unknown time zone 'America'"),
    ('timezone = "localtime"\n', "unknown time zone 'localtime'"),
    ('timezone = "../../etc/passwd"\n', "unknown time zone"),
    ('timezone = ""\n', "setting 'timezone' must be a non-empty string"),
    ("[anonymize]\nipv4_prefix = 8\n", "setting 'anonymize.ipv4_prefix': IPv4 prefix must be a whole number from 16 to 24"),
    ("[anonymize]\nipv4_prefix = 32\n", "IPv4 prefix must be a whole number from 16 to 24"),
    ("[anonymize]\nipv6_prefix = 64\n", "setting 'anonymize.ipv6_prefix': IPv6 prefix must be a whole number from 32 to 48"),
    ("[retention]\nraw_days = 0\n", "setting 'retention.raw_days' must be 1 to 36500"),
    ("[retention]\nraw_days = 3000000\ndetail_days = 3000000\n",
     "setting 'retention.raw_days' must be 1 to 36500"),
    ("[retention]\ndetail_days = 36501\n", "setting 'retention.detail_days' must be at least"),
    ("[retention]\nraw_days = 10\ndetail_days = 5\n", "'retention.detail_days' must be at least retention.raw_days (10)"),
    ("[stats]\nk_min = 0\n", "setting 'stats.k_min' must be at least 1"),
    ('[[sources]]\npath = "x.log"\nvhsot = "a"\n', "[[sources]] #1 has an unknown key 'vhsot' (known: path, format, vhost)"),
    ('[[sources]]\nformat = "combined"\n', "[[sources]] #1 needs a 'path' string"),
    ('[[sources]]\npath = "x.log"\nformat = "combind"\n', "[[sources]] #1: Unknown log format 'combind'"),
    ('[[sources]]\npath = "x.log"\nformat = 3\n', "'format' and 'vhost' must be strings"),
    ('sources = "x.log"\n', "'sources' must be [[sources]] tables"),
    ('[sources]\npath = "x.log"\n', "'sources' must be [[sources]] tables"),
    ("timezone = \n", "is not valid TOML"),
    ('trusted_proxies = ["10.0.0.0/33"]\n', "setting 'trusted_proxies': '10.0.0.0/33' is not a network"),
    ('trusted_proxies = ["proxy.example.com"]\n', "is not a network like '10.0.0.0/8'"),
    ('trusted_proxies = "10.0.0.0/8"\n', "setting 'trusted_proxies' must be a list of strings"),
    ('[enrich]\nnameservers = ["dns.example.com"]\n', "'dns.example.com' is not an IP address"),
    ('[enrich]\ndns_timeout = "1s"\n', "setting 'enrich.dns_timeout' must be a number"),
    ('[enrich]\ndns_timeout = 0\n', "'enrich.dns_timeout' must be above 0"),
    ('[enrich]\nreverse_dns = "yes"\n', "setting 'enrich.reverse_dns' must be true or false"),
    ('[[sources]]\npath = "x.log"\nformat = "nginx:$remote_addr $nonsense [$time_local]"\n',
     "nginx variable '$nonsense' is not supported"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_wrong_config_is_one_clear_sentence(tmp_path, text, expected):
    conf = write(tmp_path / "weblog.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    message = str(err.value)
    assert expected in message
    assert str(conf) in message  # says which file
    one_sentence(message)


def test_data_dir_that_is_a_file(tmp_path):
    write(tmp_path / "taken", "not a folder")
    conf = write(tmp_path / "weblog.toml", 'data_dir = "taken"\n')
    with pytest.raises(ConfigError, match="taken exists and is not a folder"):
        load_config(conf)
    with pytest.raises(ConfigError, match="is not a folder"):
        load_config(conf, data_dir=str(tmp_path / "taken" / "below"))


def test_missing_config_file(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"Config file nope\.toml does not exist\.") as err:
        load_config("nope.toml")
    one_sentence(str(err.value))
    monkeypatch.setenv("WEBLOG_CONFIG", "gone.toml")
    with pytest.raises(ConfigError, match="gone.toml does not exist"):
        load_config()


def test_unreadable_config_file(tmp_path):
    conf = tmp_path / "weblog.toml"
    conf.write_bytes(b'timezone = "\xff"\n')
    with pytest.raises(ConfigError, match="cannot be read") as err:
        load_config(conf)
    one_sentence(str(err.value))


def test_config_that_is_a_folder(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match="dir.toml is a folder; give a TOML file"):
        load_config(tmp_path / "dir.toml")


def test_policy_hash_changes_with_the_policy():
    assert Config().policy_hash() == Config().policy_hash()
    assert Config(raw_days=3).policy_hash() != Config().policy_hash()
    assert Config(data_dir=Path("/elsewhere")).policy_hash() == Config().policy_hash()
    assert "data_dir" not in Config().policy()


# --------------------------------------------------------------------------- via the CLI

CLI_BAD = [
    (["--config", "missing.toml", "status"], None, "Config file missing.toml does not exist."),
    (["config"], "[retention]\nraw_day = 3\n", "did you mean 'retention.raw_days'?"),
    (["status"], "[anonymize]\nipv6_prefix = 128\n", "IPv6 prefix must be a whole number"),
    (["ingest", "x.log"], 'timezone = "Nowhere/City"\n', "unknown time zone 'Nowhere/City'"),
    (["demo"], '[[sources]]\npath = "x"\ncolour = "red"\n', "unknown key 'colour'"),
]


@pytest.mark.parametrize("args, text, expected", CLI_BAD)
def test_cli_config_errors_exit_2_with_one_line(tmp_path, args, text, expected):
    if text is not None:
        write(tmp_path / "weblog.toml", text)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("weblog: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # nothing was created


def test_console_script_config_error(tmp_path):
    write(tmp_path / "weblog.toml", "[retention]\nraw_days = -1\n")
    proc = subprocess.run([str(WEBLOG), "status"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "weblog: error: weblog.toml: setting 'retention.raw_days' must be 1 to 36500 "
        "(100 years)."]


def test_console_script_data_dir_from_environment(tmp_path):
    proc = subprocess.run([str(WEBLOG), "config", "--json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "WEBLOG_DATA_DIR": "elsewhere"})
    assert proc.returncode == 0, proc.stderr
    assert f'"data_dir": "{tmp_path / "elsewhere"}"' in proc.stdout

"""DETAIL's referrer_path (pipelines.ingest): the path of an INTERNAL referrer only, with
query and fragment dropped and address literals masked, for daily_not_found's
broken-links view. External referrer paths stay in RAW."""
from __future__ import annotations

import datetime as dt

from pipelines import anonymize, warehouse
from pipelines.config import Config
from pipelines.ingest import ingest_paths

LINE = ('{vhost} 192.0.2.10 - - [02/Mar/2026:10:00:00 +0000] "GET /missing/ HTTP/1.1" 404 196 '
        '"{referrer}" "curl/8.5.0" 100')
FORMAT = 'apache:%v %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
CASES = [
    # vhost, referrer, DETAIL referrer_path
    ("www.example.com", "https://www.example.com/about/?utm=1#team", "/about/"),
    ("www.example.com", "http://example.com", "/"),                     # vhost's own domain
    ("shop.example.com", "https://www.example.com/docs/", "/docs/"),     # sibling sub-domain
    ("www.example.com", "https://news.example.net/links/x?id=7", "/links/x"),  # site_domains
    ("www.example.com", "https://www.example.com/u/192.0.2.77/p", "/u/192.0.2.0/p"),  # masked
    ("www.example.com", "https://blog.example.org/2026/secret-name/", None),  # external
    ("www.example.com", "https://www.google.com/search?q=name", None),       # search
    ("www.example.com", "-", None),                                           # direct
    ("default.example.org", "https://www.example.com/about/", None),          # other site
]


def test_referrer_path_only_for_internal_referrers(tmp_path):
    cfg = Config(data_dir=tmp_path / "data", site_domains=("example.net",))
    log = tmp_path / "access.log"
    log.write_text("\n".join(LINE.format(vhost=v, referrer=r) for v, r, _ in CASES) + "\n")
    [result] = ingest_paths(cfg, [str(log)], format_name=FORMAT,
                            as_of=dt.date(2026, 3, 2))
    assert result.lines_parsed == len(CASES)
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        got = [p for (p,) in con.execute("select referrer_path from requests order by line_no"
                                         ).fetchall()]
    finally:
        con.close()
    assert got == [expected for _, _, expected in CASES]
    assert not [p for p in got if p and anonymize.find_leaks(p)]


def test_without_site_domains_the_vhost_decides(tmp_path):
    cfg = Config(data_dir=tmp_path / "data")
    log = tmp_path / "access.log"
    log.write_text(LINE.format(vhost="www.example.com", referrer="https://news.example.net/a")
                   + "\n" + LINE.format(vhost="www.example.com",
                                        referrer="https://example.com/b") + "\n")
    ingest_paths(cfg, [str(log)], format_name=FORMAT,
                 as_of=dt.date(2026, 3, 2))
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        got = [p for (p,) in con.execute("select referrer_path from requests order by line_no"
                                         ).fetchall()]
    finally:
        con.close()
    assert got == [None, "/b"]

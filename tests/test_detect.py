"""Format auto-detection (pipelines.detect): the rules on hand-made samples, the Matomo and
CrowdSec samples from ../shared/realworld (EXPECTED.md 2.1 and 6), and `weblog detect`."""
from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa
import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.detect import SAMPLE_LINES, detect_file, detect_table, resolve
from pipelines.errors import InputError
from pipelines.formats import AUTO, PRESETS, detectable_presets, get_format
from pipelines.forwarded import choose
from test_formats import realworld_lines
from test_parse import parse

COMBINED = ('192.0.2.{n} - - [10/Nov/2026:08:34:{s:02d} +0000] "GET /p{n} HTTP/1.1" 200 {n} '
            '"-" "curl/8.5.0"')
MAIN = COMBINED + ' "198.51.100.{n}"'


def table(lines: list[str]) -> pa.Table:
    return pa.table({"line_no": pa.array(range(1, len(lines) + 1), pa.int64()),
                     "line": pa.array(lines, pa.large_string())})


def combined(n: int, template: str = COMBINED) -> list[str]:
    return [template.format(n=i % 250 + 1, s=i % 60) + "\n" for i in range(n)]


def detected(lines: list[str]) -> str | None:
    found = detect_table(table(lines))
    return found.format.name if found.format else None


# --------------------------------------------------------------------------- rules

def test_the_most_specific_format_that_reads_the_lines_wins():
    assert detected(combined(50)) == "combined"
    assert detected(combined(50, MAIN)) == "nginx_main"
    assert detected([ln.split(' "-"')[0] + "\n" for ln in combined(50)]) == "common"


def test_a_rare_truncated_line_does_not_demote_the_format():
    lines = combined(200)
    lines[57] = lines[57].split(' "-"')[0] + "\n"  # common reads it, combined does not
    found = detect_table(table(lines))
    assert found.format.name == "combined"
    assert {c.name: c.matched for c in found.candidates}["common"] == 200


def test_a_specific_format_must_read_about_all_lines():
    lines = combined(100, MAIN)
    for i in range(0, 100, 20):  # 5%: no X-Forwarded-For field
        lines[i] = combined(1)[0]
    assert detected(lines) == "combined"


def test_the_threshold():
    junk = ["this is not a log line\n"]
    assert detected(combined(18) + junk * 2) == "combined"  # 90%
    found = detect_table(table(combined(17) + junk * 3))  # 85%
    assert found.format is None
    assert "no format reads 90% of its first 20 lines (best: combined 85%" in found.reason


def test_small_samples_allow_one_odd_line():
    assert detected(combined(3) + ["garbage\n"]) == "combined"
    assert detected(combined(3) + ["garbage\n"] * 2) is None


def test_a_file_mixing_formats_is_refused():
    caddy = PRESETS["caddy"].example + "\n"
    found = detect_table(table(combined(1) + [caddy]))
    assert found.format is None and "may mix formats" in found.reason
    found = detect_table(table(combined(20) + [caddy] * 20))
    assert found.format is None and "combined 50%" in found.reason


def test_blank_comment_and_header_lines_are_not_counted():
    lines = ["\n", "# rotated at midnight\n"] * 10 + combined(5)
    found = detect_table(table(lines))
    assert found.format.name == "combined"
    assert "5 of 5" in found.reason


def test_an_unfinished_last_line_is_left_out():
    lines = combined(5) + ['192.0.2.9 - - [10/Nov/2026:08:34:']
    found = detect_table(table(lines))
    assert found.format.name == "combined" and "5 of 5" in found.reason


def test_no_log_lines():
    found = detect_table(table([]))
    assert found.format is None and found.reason == "no log lines in the first 0 lines"
    w3c = ["#Software: Microsoft Internet Information Services 10.0\n",
           "#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"]
    assert detected(w3c) == "w3c"
    assert detected(["#Version: 1.0\n", "#Fields: date time x-edge-location c-ip\n"]) == "cloudfront"


def test_every_detectable_preset_detects_its_own_example():
    for name in detectable_presets():
        lines = [ln + "\n" for ln in PRESETS[name].example.split("\n")] * 3
        assert detected(lines) == name, name


def test_undetectable_presets_are_read_by_a_detectable_one():
    # combined_D, combined_T and ovh lines are combined lines; detection must not guess
    for name in (p for p in PRESETS if p not in detectable_presets()):
        assert detected([PRESETS[name].example + "\n"] * 3) == "combined", name


def test_detect_file_samples_the_first_lines(tmp_path):
    path = tmp_path / "big.log.gz"
    path.write_bytes(gzip.compress("".join(combined(SAMPLE_LINES * 3)).encode()))
    found = detect_file(path)
    assert found.format.name == "combined" and found.sampled == SAMPLE_LINES
    assert not found.whole_file


def test_resolve(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(combined(5)))
    assert resolve(get_format("common"), log, "a.log") is get_format("common")
    assert resolve(AUTO, log, "a.log").name == "combined"
    assert resolve(AUTO, log, "a.log", previous="nginx_main").name == "nginx_main"
    assert resolve(AUTO, log, "a.log", previous="apache-custom").name == "combined"
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n# nothing yet\n")
    assert resolve(AUTO, empty, "empty.log") is None
    bad = tmp_path / "bad.log"
    bad.write_text("".join(combined(5)) + "garbage\n" * 5)
    with pytest.raises(InputError) as err:
        resolve(AUTO, bad, "bad.log")
    assert str(err.value).startswith("Cannot tell the log format of bad.log: ")
    assert "Give it with --format" in str(err.value)
    assert "192.0.2" not in str(err.value)  # never line content


# --------------------------------------------------------------------------- CLI

def test_weblog_detect(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(combined(5, MAIN)))
    result = CliRunner().invoke(cli, ["detect", str(log)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{log}: nginx_main"
    assert "why: nginx_main reads 5 of 5 counted lines (100%)" in result.stdout
    assert re.search(r"combined\s+5 of 5\s+100%", result.stdout)
    data = json.loads(CliRunner().invoke(cli, ["detect", str(log), "--json"]).stdout)
    assert data["format"] == "nginx_main" and data["sampled_lines"] == 5


def test_weblog_detect_unknown_file(tmp_path):
    log = tmp_path / "mixed.log"
    log.write_text("".join(combined(5)) + (PRESETS["caddy"].example + "\n") * 5)
    result = CliRunner().invoke(cli, ["detect", str(log)])
    assert result.exit_code == 2
    assert f"{log}: (unknown)" in result.stdout
    assert "Cannot tell the log format" in result.stderr
    missing = CliRunner().invoke(cli, ["detect", str(tmp_path / "nope.log")])
    assert missing.exit_code == 2 and "No such file" in missing.stderr


# --------------------------------------------------------------------------- real world

MATOMO = {  # EXPECTED.md 2.1: Matomo's name -> ours
    "common.log": "common", "common_vhost.log": "common_vhost",
    "ncsa_extended.log": "combined", "common_complete.log": "common_complete",
    "iis.log": "w3c", "shoutcast.log": "w3c", "s3.log": "s3",
    "icecast2.log": "combined",  # the trailing session length: a unit detection cannot know
    "elb.log": "elb", "traefik_json.log": "traefik_json", "nginx_json.log": "nginx_json",
    "caddy_json.log": "caddy", "amazon_cloudfront_web.log": "cloudfront",
    "amazon_cloudfront_rtmp.log": "cloudfront", "alb.log": "alb",
}


def _outside_quotes(text: str, old: str, new: str) -> str:
    parts = re.split(r'("(?:[^"\\]|\\.)*")', text)
    return "".join(p if i % 2 else p.replace(old, new) for i, p in enumerate(parts))


@pytest.mark.parametrize("name", MATOMO)
def test_matomo_samples_are_detected(realworld, name, tmp_path):
    source = realworld / "logs" / "formats" / name
    text = "".join(realworld_lines(source))
    variants = {"as is": text, "junk appended": text + " junk",
                "IPv6 client": text.replace("1.2.3.4", "0:0:0:0:0:ffff:7b2d:4359")}
    for label, content in variants.items():
        path = tmp_path / f"{label}.log"
        path.write_text(content)
        found = detect_file(path)
        assert found.format is not None and found.format.name == MATOMO[name], (label, found.reason)
    rows = [r for r in parse(MATOMO[name], variants["IPv6 client"].splitlines(True))
            if r["reject"] is None]
    if "1.2.3.4" in text:
        assert rows[0]["client"] == "0:0:0:0:0:ffff:7b2d:4359"


@pytest.mark.parametrize("name", MATOMO)
def test_doubled_spaces_are_never_misread(realworld, name, tmp_path):
    # Matomo also detects files whose spaces were all doubled; Apache and nginx never write
    # that, so weblog rejects such lines - but detection must never pick another format
    text = "".join(realworld_lines(realworld / "logs" / "formats" / name))
    path = tmp_path / "doubled.log"
    path.write_text(_outside_quotes(text, " ", "  "))
    found = detect_file(path)
    assert found.format is None or found.format.name == MATOMO[name]
    if name.startswith(("iis", "shoutcast", "amazon")):  # W3C splits on runs of blanks
        assert found.format is not None


CROWDSEC = [  # EXPECTED.md 6: (file, event) -> client, status, method, path of the access lines
    ("nginx_http-logs/nginx_http-logs.log", [
        (0, "192.168.1.1", 404, "GET", "/.well-known/acme-challenge/FMuukC2JOJ5HKmLBujjE_BkDo"),
        (1, "192.168.1.1", 500, "GET", "/index.php/nous-contacter/"),
        (3, "192.168.1.1", 500, "GET", "/solr/admin/info/system?wt=json"),
        (5, "192.168.1.1", 301, "GET", "/test/uppercase/extensions.JPG"),
        (6, "192.168.1.1", 200, "GET", "/api/login")]),
    ("apache2-logs/apache2-logs.log", [
        (0, "93.43.209.58", 500, "GET", "/"),
        (3, "1.2.3.4", 500, "GET", "/solr/admin/info/system?wt=json"),
        (4, "93.43.209.58", 500, "POST", "/login"),
        (5, "116.203.1.1", 200, "GET", "/test/lists/sip_30d.txt"),
        (6, "1.2.3.4", 403, "GET", "/web/.well-known")]),
    ("apache2-malformed/apache2-logs.log", [(i, "1.2.3.4", 400, None, None) for i in range(11)]),
    ("nginx-http-malformed/nginx_http-logs.log",
     [(i, "1.2.3.4", 400, None, None) for i in range(12)]),
    ("traefik_clf/traefik_clf.log", [
        (0, "172.17.0.1", 200, "GET", "/scripts/cpshost.dll"),
        (1, "172.17.0.1", 200, "GET", "/upload.asp?test=toto&tata=test"),
        (4, "172.17.1.1", None, "GET", "/mobileadmin/home.cs"),
        (6, "172.17.1.3", 200, "GET", "/api/users")]),
    ("traefik_json/traefik_json.log", [
        (0, "172.17.0.1", 200, "GET", "/594VAEoi.save"),
        (3, "192.168.65.1", 200, "POST", "/api/data"),
        (4, "192.168.1.115", 404, "GET", "/"),
        (6, "10.0.0.50", 204, "OPTIONS", "/_matrix/client/v3/sync")]),
    ("aws-alb-logs/aws-alb-logs.log", [
        (0, "192.168.1.10", 200, "GET", "/"),
        (3, "192.168.1.13", 404, "GET", "/%%32%65%%32%65/"),
        (7, "192.168.131.39", 200, "GET", "/"),
        (13, "192.168.1.21", 404, "GET", None)]),
    ("aws-cloudfront-logs/aws-cloudfront-logs.log", [
        (0, "1.2.3.4", 400, "GET", "/testseb?query_param=42"),
        (1, "1.2.3.4", 400, "GET", "/testseb?query_param=42")]),
    ("haproxy-logs/haproxy-logs.log", [
        (0, "117.136.40.129", 200, "GET", "/xxx/xxx"), (1, "22.118.26.10", 200, "GET", "/")]),
    ("caddy-logs/caddy-logs.log", [
        (0, "127.0.0.1", 0, "GET", "/"), (3, "172.17.0.1", 0, "GET", "/"),
        (7, "127.0.0.1", 401, "GET", "/"), (9, "127.0.0.1", 200, "GET", "/")]),
    ("nginx-proxy-manager-logs/nginx-proxy-manager-logs.log", [
        (0, "1.2.3.4", 404, "GET", "/sdfdsf"), (1, "1.2.3.4", 404, "GET", "/d93rfgxd.axd"),
        (3, "1.2.3.4", 304, "GET", "/"), (8, "203.0.113.45", 500, "POST", "/v1/data"),
        (13, "203.0.113.89", 403, "GET", "/admin")]),
]


@pytest.mark.parametrize("rel, events", CROWDSEC, ids=[c[0].split("/")[0] for c in CROWDSEC])
def test_crowdsec_access_lines(realworld, rel, events):
    """Each access line CrowdSec parses, detected on its own, gives CrowdSec's values."""
    lines = [ln for ln in realworld_lines(realworld / "logs/more/crowdsec" / rel) if ln.strip()]
    for event, client, status, method, path in events:
        found = detect_table(table([lines[event]]))
        assert found.format is not None, (event, found.reason)
        (row,) = parse(found.format, [lines[event]])
        assert row["reject"] is None, (event, row)
        chosen = choose(row["client"], row["forwarded_for"], ())  # as enrichment does
        assert (chosen, row["status"], row["method"]) == (client, status, method), event
        if path is not None:
            assert row["url"] == path, event

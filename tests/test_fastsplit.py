"""pipelines._fastsplit: the compiled splitter must give what the RE2 patterns give.

The ingest parses a chunk of a common format from the columns `LogFormat.presplit` adds
instead of running the format's regexes. Both paths are run here through the whole parse
SQL (`parse_sql`, then the ingest's staging query) on the same lines, and every output row
must be equal: the fields, the reject reasons, which lines match. Lines come from
hypothesis (built from the format's tokens, with characters that end fields, escapes,
multi-byte text and broken literals), from the benchmark generator and from the
real-world logs. Without the compiled module (a checkout whose build step failed) these
tests skip, and under CI they fail, so a missing build cannot hide.
"""
from __future__ import annotations

import datetime as dt
import gzip
import os

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import ingest, lines, patterns
from pipelines.config import Config
from pipelines.formats import PRESETS, get_format
from pipelines.parse import parse_sql
from pipelines.patterns import Field, RegexFormat
from pipelines.sample import generate_bench_log

NATIVE = [n for n in PRESETS if isinstance(get_format(n), RegexFormat)
          and get_format(n).native_steps is not None]


@pytest.fixture(scope="module", autouse=True)
def compiled():
    if patterns._fastsplit is None:
        if os.environ.get("CI"):
            pytest.fail("pipelines._fastsplit is not built (make install builds it)")
        pytest.skip("pipelines._fastsplit is not built")


def _table(block: bytes) -> pa.Table:
    return lines._to_table(block, len(block), 1, lines.ReadStats())


def _both(fmt: RegexFormat, table: pa.Table, sql_of) -> tuple[list, list]:
    """Rows of the query over the RE2 path and over the presplit path."""
    split = fmt.presplit(table)
    assert split is not None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("chunk_lines", table)
        regex = con.execute(sql_of(False) + " ORDER BY line_no").fetchall()
        con.unregister("chunk_lines")
        con.register("chunk_lines", split)
        cur = con.execute(sql_of(True) + " ORDER BY line_no")
        names = [d[0] for d in cur.description]
        native = [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()
    return [dict(zip(names, row)) for row in regex], native


def _parse(fmt: RegexFormat):
    return lambda presplit: parse_sql(fmt, "chunk_lines", "Asia/Tokyo", presplit)


def test_the_common_formats_have_a_compiled_path():
    assert {"combined", "common", "combined_D", "common_vhost"} <= set(NATIVE)
    # a field kind the splitter does not know keeps a format on RE2
    assert get_format("haproxy").native_steps is None


def test_a_field_not_delimited_by_the_next_literal_stays_on_re2():
    ok = RegexFormat("t", (Field("client", r"\S+"), " ", Field("status", r"\d+|-")))
    assert ok.native_steps is not None
    # \S+ then '-': the client could end anywhere before a '-'
    assert RegexFormat("t", (Field("client", r"\S+"), "-", Field("status", r"\d+"))
                       ).native_steps is None
    # digits then a digit literal, two fields in a row, a quoted field last
    assert RegexFormat("t", (Field("status", r"\d+|-"), "1x")).native_steps is None
    assert RegexFormat("t", (Field("client", r"\S+"), Field("status", r"\d+"))
                       ).native_steps is None
    assert RegexFormat("t", ('"', Field("referrer", patterns.QUOTED))).native_steps is None


# --------------------------------------------------------------------------- generated lines

def _joined(pieces, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), min_size=min_size, max_size=max_size).map("".join)


_TEXT = _joined(list('ab Z09-./:[]"\\\t\x0b\f\r')
                + ["é", "日本", "\\\"", "\\\\", "\\x", "GET", "HTTP/1.1"])
_DIGITS = _joined(list("0123456789"), 1, 5)


def _value(field: Field) -> st.SearchStrategy[str]:
    """A value the field accepts (mostly; the limits of each kind included)."""
    return {
        1: _joined(list("ab-09.:é[]\"\\\x0b"), 1, 8),
        2: _joined(list("0123456789/:+ Jan-[\""), 1, 28),
        3: st.one_of(_joined(list("ab /?=é]") + ["\\\"", "\\\\", "\\t", "\\é"]),
                     _joined(list("ab") + ["\\\"", "\\\\"]).map(lambda v: v + "\\")),
        4: st.one_of(_DIGITS, st.just("-")),
        5: st.one_of(_joined(list("0123456789"), 1, 4), st.just("-")),  # 4: one too many
        6: _DIGITS,
    }[patterns.NATIVE_KINDS[field.regex]]


@st.composite
def _lines(draw, fmt: RegexFormat) -> bytes:
    """Lines of the format, each with up to two faults: a part replaced by other text, a
    literal cut short, a character inserted; and the endings and trailing fields logs have."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        parts = [draw(_value(tok)) if isinstance(tok, Field) else tok for tok in fmt.tokens]
        for _ in range(draw(st.integers(0, 2))):
            i = draw(st.integers(0, len(parts) - 1))
            how = draw(st.sampled_from(["replace", "cut", "insert"]))
            if how == "replace":
                parts[i] = draw(_TEXT)
            elif how == "cut":
                parts[i] = parts[i][:-1]
            else:
                at = draw(st.integers(0, len(parts[i])))
                extra = draw(st.sampled_from(list(' "\\]\t\r-9')))
                parts[i] = parts[i][:at] + extra + parts[i][at:]
        tail = draw(st.sampled_from(["", "", " extra", " \"x\" 12", "\t1", " a\rb", "\r", " "]))
        end = draw(st.sampled_from(["\n", "\n", "\r\n", " \n", ""]))
        out.append("".join(parts) + tail + end)
    text = "".join(out)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_presplit_parses_as_the_regexes_do(name, data):
    fmt = get_format(name)
    block = data.draw(_lines(fmt))
    regex, native = _both(fmt, _table(block), _parse(fmt))
    assert native == regex


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_presplit_matches_where_the_combined_regex_matches(data):
    """More examples for the format most logs use, with most lines valid."""
    fmt = get_format("combined")
    block = data.draw(_lines(fmt))
    regex, native = _both(fmt, _table(block), _parse(fmt))
    assert native == regex


EDGES = [
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "ua"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" - - "" ""\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a\\"b\\\\"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua\\"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET /\\\xc3\xa9 HTTP/1.1" 200 1 "-" "ua"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\r\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" x\ry\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\tx\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" \n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\r\r\n',
    b'1.2.\x0b3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\n',
    b'1.2.3.4\t- - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\n',
    b'1.2.3.4 - - [] "GET / HTTP/1.1" 200 1 "-" "ua"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 -1 "-" "ua"\n',
    b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua',
    b' - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\n',
    b'\n',
]


@pytest.mark.parametrize("line", EDGES, ids=range(len(EDGES)))
def test_edge_lines_parse_as_the_regexes_do(line):
    fmt = get_format("combined")
    regex, native = _both(fmt, _table(line if line.endswith(b"\n") else line), _parse(fmt))
    assert native == regex


def test_edge_lines_include_matches_and_misses():
    fmt = get_format("combined")
    regex, _ = _both(fmt, _table(b"".join(e if e.endswith(b"\n") else e + b"\n" for e in EDGES)),
                     _parse(fmt))
    assert 5 <= sum(row["reject"] is None for row in regex) <= len(EDGES) - 5


# --------------------------------------------------------------------------- real lines

def test_the_staging_query_is_the_same_on_the_benchmark_log(tmp_path):
    log = tmp_path / "bench.log"
    generate_bench_log(log, 20_000, start=dt.datetime(2026, 11, 3))
    fmt = get_format("combined")
    cfg = Config(data_dir=tmp_path / "data", timezone="Asia/Tokyo", query_keep=("page",))
    table = _table(log.read_bytes())
    regex, native = _both(
        fmt, table, lambda p: ingest._staged_sql(fmt, cfg, dt.date(2026, 11, 5), presplit=p))
    assert len(native) == 20_000
    assert sum(1 for row in native if row["reject"] is None) > 19_000  # most lines parsed
    assert native == regex


@pytest.mark.parametrize("name, file", [
    ("combined", "apache_logs.gz"),
    ("combined", "more/crowdsec/apache2-logs/apache2-logs.log"),
    ("combined", "more/crowdsec/apache2-malformed/apache2-logs.log"),
    ("combined", "more/crowdsec/nginx-http-malformed/nginx_http-logs.log"),
    ("combined", "formats/logs_to_tests.log"),
    ("common", "formats/common.log.gz"),
    ("common_complete", "formats/common_complete.log"),
    ("common_vhost", "formats/common_vhost.log"),
    ("gandi", "formats/gandi.log"),
    ("ovh", "formats/ovh.log"),
    ("traefik_clf", "more/crowdsec/traefik_clf/traefik_clf.log"),
])
def test_real_world_logs_parse_the_same(realworld, name, file):
    path = realworld / "logs" / file
    block = path.read_bytes()
    if path.suffix == ".gz":
        block = gzip.decompress(block)
    fmt = get_format(name)
    regex, native = _both(fmt, _table(block), _parse(fmt))
    assert any(row["reject"] is None for row in regex)  # the format fits the file
    assert native == regex


# --------------------------------------------------------------------------- line offsets

_LINE_BYTES = st.binary(max_size=200) | st.lists(
    st.sampled_from([b"\n", b"\r", b"a", b"\xc3\xa9", b"\x00", b" "]), max_size=60).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(block=_LINE_BYTES, cut=st.integers(min_value=0, max_value=200))
def test_compiled_line_offsets_are_numpys(block, cut):
    """The compiled newline scan gives the offsets of the NumPy one, on bytes and on the
    memoryview prefix iter_chunks hands over."""
    prefix = memoryview(block)[:min(cut, len(block))]
    for data in (block, prefix):
        compiled = np.frombuffer(lines._fastsplit.line_offsets(data), dtype=np.int64)
        assert compiled.tolist() == lines.line_offsets_numpy(data).tolist()

"""Chunked exact line reading (pipelines.lines): compression by magic bytes, separators,
clean UTF-8, chunk boundaries and content hashes."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma

import pytest
import zstandard
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipelines import lines

TEXT = (b'192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"\n'
        b'198.51.100.2 - - [10/Nov/2026:10:00:01 +0000] "GET /a HTTP/1.1" 404 - "-" "y"\n'
        b"\n"
        b'203.0.113.3 - - [10/Nov/2026:10:00:02 +0000] "GET /b HTTP/1.1" 200 7 "-" "z"\n')

COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def read_all(data: bytes, **kwargs) -> tuple[list[str], lines.ReadStats, list[lines.Chunk]]:
    """Every line the reader yields for `data` (as stored bytes), with its stats and chunks."""
    stats = lines.ReadStats()
    stream, stats.compression = lines.open_decompressed(io.BytesIO(data))
    chunks = list(lines.iter_chunks(stream, stats, **kwargs))
    out: list[str] = []
    for chunk in chunks:
        out.extend(chunk.table.column("line").to_pylist())
    return out, stats, chunks


def line_numbers(chunks: list[lines.Chunk]) -> list[int]:
    return [n for c in chunks for n in c.table.column("line_no").to_pylist()]


# --------------------------------------------------------------------------- compression

def test_plain_text_has_no_compression():
    got, stats, _ = read_all(TEXT)
    assert stats.compression is None
    assert "".join(got).encode() == TEXT
    assert stats.lines == 4


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compression_recognised_by_magic_bytes(kind):
    got, stats, _ = read_all(COMPRESSORS[kind](TEXT))
    assert stats.compression == kind
    assert "".join(got).encode() == TEXT
    assert stats.lines == 4


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compression_found_under_a_misleading_name(tmp_path, kind):
    # the name says plain text, the bytes say compressed: the bytes win
    path = tmp_path / "access.log"
    path.write_bytes(COMPRESSORS[kind](TEXT))
    with open(path, "rb") as f:
        stream, found = lines.open_decompressed(f)
        assert found == kind
        assert stream.read() == TEXT


def test_plain_text_named_gz_is_read_as_text(tmp_path):
    path = tmp_path / "access.log.gz"
    path.write_bytes(TEXT)
    with open(path, "rb") as f:
        stream, found = lines.open_decompressed(f)
        assert found is None
        assert stream.read() == TEXT


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_multi_member_streams_are_read_to_the_end(kind):
    # e.g. `cat a.gz b.gz > c.gz`; the member boundary may even fall inside a line
    first, second = TEXT[:100], TEXT[100:]
    data = COMPRESSORS[kind](first) + COMPRESSORS[kind](second)
    got, stats, _ = read_all(data)
    assert "".join(got).encode() == TEXT
    assert stats.lines == 4


def test_sniff_compression():
    assert lines.sniff_compression(b"\x1f\x8b\x08") == "gzip"
    assert lines.sniff_compression(bz2.compress(b"x")[:10]) == "bzip2"
    assert lines.sniff_compression(bz2.compress(b"")[:10]) == "bzip2"
    assert lines.sniff_compression(b"BZh9 - - [10/Nov/2026") is None  # text, not bzip2
    assert lines.sniff_compression(b"\xfd7zXZ\x00\x00") == "xz"
    assert lines.sniff_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert lines.sniff_compression(b"192.0.2.1 - -") is None
    assert lines.sniff_compression(b"") is None


# --------------------------------------------------------------------------- separators

def test_crlf_lines_keep_their_cr_and_are_not_split_twice():
    data = b"a\r\nb\r\n\r\nc\r\n"
    got, stats, _ = read_all(data)
    assert got == ["a\r\n", "b\r\n", "\r\n", "c\r\n"]
    assert stats.cr_newlines is False


def test_cr_only_file_uses_cr_as_separator():
    data = b"a\rb\r\rc\r"
    got, stats, chunks = read_all(data)
    assert got == ["a\n", "b\n", "\n", "c\n"]
    assert stats.cr_newlines is True
    assert line_numbers(chunks) == [1, 2, 3, 4]


def test_cr_decision_does_not_depend_on_the_chunk_size():
    # the first 3 bytes have a CR but no LF: a reader deciding on its first tiny block
    # would call this a CR-only file and double every line
    data = b"ab\r\ncd\r\n"
    assert read_all(data, chunk_bytes=3)[0] == read_all(data)[0] == ["ab\r\n", "cd\r\n"]


def test_final_line_without_newline_is_kept():
    got, stats, chunks = read_all(b"a\nb")
    assert got == ["a\n", "b"]
    assert stats.lines == 2
    assert chunks[-1].content_end == 3
    assert stats.pending_bytes == 0


def test_complete_only_leaves_the_partial_last_line_pending():
    got, stats, chunks = read_all(b"a\nbc", complete_only=True)
    assert got == ["a\n"]
    assert stats.lines == 1
    assert stats.pending_bytes == 2
    assert chunks[-1].content_end == 2
    assert stats.content_bytes == 2


def test_complete_only_with_complete_file_reads_everything():
    got, stats, _ = read_all(b"a\nb\n", complete_only=True)
    assert got == ["a\n", "b\n"]
    assert stats.pending_bytes == 0


def test_blank_lines_are_lines():
    got, stats, chunks = read_all(b"\n\na\n\n")
    assert got == ["\n", "\n", "a\n", "\n"]
    assert stats.lines == 4
    assert line_numbers(chunks) == [1, 2, 3, 4]


def test_empty_input_has_no_lines():
    got, stats, chunks = read_all(b"")
    assert got == [] and chunks == []
    assert stats.lines == 0
    assert stats.content_sha256 == hashlib.sha256(b"").hexdigest()


# --------------------------------------------------------------------------- clean text

def test_invalid_utf8_becomes_escapes_and_no_line_is_lost():
    data = b"ok \xc3\xa9\nbad \xff\xfe end\nhalf \xe2\x82\nlast\n"
    got, stats, _ = read_all(data)
    assert got == ["ok \u00e9\n", "bad \\xff\\xfe end\n", "half \\xe2\\x82\n", "last\n"]
    assert stats.invalid_utf8_blocks == 1
    assert stats.lines == 4


def test_nul_bytes_become_text():
    got, stats, _ = read_all(b"a\x00b\n\x00\n")
    assert got == ["a\\x00b\n", "\\x00\n"]
    assert stats.nul_bytes == 2
    for line in got:
        assert "\x00" not in line


def test_escaped_text_is_valid_utf8_for_arrow():
    _, _, chunks = read_all(b"\x80\x81\n\xed\xa0\x80\n")  # lone continuation bytes, a surrogate
    for chunk in chunks:
        chunk.table.validate(full=True)


# --------------------------------------------------------------------------- chunking

def test_tiny_chunks_keep_every_line_whole_and_numbered():
    data = TEXT * 5
    whole, _, _ = read_all(data)
    for size in (1, 2, 7, 50, 81, 4096):
        got, stats, chunks = read_all(data, chunk_bytes=size)
        assert got == whole, size
        assert line_numbers(chunks) == list(range(1, len(whole) + 1))
        # chunks tile the content without gaps or overlap
        assert chunks[0].content_start == 0
        for a, b in zip(chunks, chunks[1:]):
            assert a.content_end == b.content_start
            assert b.first_line_no == a.first_line_no + a.num_lines
        assert chunks[-1].content_end == len(data) == stats.content_bytes


def test_a_line_longer_than_the_chunk_is_kept_whole():
    long_line = b"x" * 10_000 + b"\n"
    got, _, chunks = read_all(b"a\n" + long_line + b"b\n", chunk_bytes=100)
    assert got == ["a\n", long_line.decode(), "b\n"]


def test_skip_bytes_hashes_everything_but_yields_the_rest():
    got, stats, chunks = read_all(b"a\nbb\nccc\n", skip_bytes=2, first_line_no=2)
    assert got == ["bb\n", "ccc\n"]
    assert chunks[0].content_start == 2
    assert line_numbers(chunks) == [2, 3]
    assert stats.content_sha256 == hashlib.sha256(b"a\nbb\nccc\n").hexdigest()


def _reference(data: bytes) -> list[str]:
    """The lines a reader must return: split after each separator, each line cleaned."""
    probe = data[:lines.PROBE_BYTES]
    if b"\n" not in probe and b"\r" in probe:
        data = data.replace(b"\r", b"\n")
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return [lines._clean(p, lines.ReadStats()).decode("utf-8", "backslashreplace") for p in out]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400) | st.lists(
           st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3\xa9", b"\xe2\x82",
                            b" ", b'"', b"\\"]), max_size=200).map(b"".join),
       chunk=st.integers(min_value=1, max_value=64))
def test_chunks_never_split_or_lose_lines(data, chunk):
    assume(lines.sniff_compression(data[:lines.SNIFF_BYTES]) is None)
    got, stats, chunks = read_all(data, chunk_bytes=chunk)
    expected = _reference(data)
    assert got == expected
    assert stats.lines == len(expected) == len(line_numbers(chunks))
    assert line_numbers(chunks) == list(range(1, len(expected) + 1))
    assert "".join(got) == "".join(expected)
    for line in got:
        assert "\x00" not in line
        line.encode("utf-8")  # valid text
    assert stats.content_sha256 == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- hashes

@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_content_hashes_equal_for_the_same_content_compressed_differently(kind):
    _, plain, _ = read_all(TEXT)
    _, packed, _ = read_all(COMPRESSORS[kind](TEXT))
    assert packed.content_sha256 == plain.content_sha256 == hashlib.sha256(TEXT).hexdigest()
    assert packed.head_sha256 == plain.head_sha256
    assert packed.content_bytes == plain.content_bytes == len(TEXT)


def test_head_hash_covers_only_the_first_bytes():
    head = b"h" * (lines.HEAD_BYTES - 1) + b"\n"
    _, one, _ = read_all(head + b"tail one\n", chunk_bytes=100)
    _, two, _ = read_all(head + b"tail two, longer\n")
    assert one.head_sha256 == two.head_sha256 == hashlib.sha256(head).hexdigest()
    assert one.content_sha256 != two.content_sha256


def test_file_sha256_is_of_the_stored_bytes(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "a.log.gz"
    a.write_bytes(TEXT)
    b.write_bytes(gzip.compress(TEXT))
    assert lines.file_sha256(a) == hashlib.sha256(TEXT).hexdigest()
    assert lines.file_sha256(b) != lines.file_sha256(a)
    assert lines.file_identity(a)["size"] == len(TEXT)


def test_text_starting_like_bzip2_magic_is_text():
    data = b"BZh9.example.com - - [10/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5\n"
    got, stats, _ = read_all(data)
    assert stats.compression is None
    assert got == [data.decode()]


def test_chunk_size_grows_for_big_files():
    """Each chunk looks its values up in tables that grow with the file: big files (their
    content, estimated for compressed ones) read bigger chunks."""
    small, big = lines.CHUNK_BYTES, lines.LARGE_CHUNK_BYTES
    assert small < big
    assert lines.chunk_size(1 << 20, compressed=False) == small
    assert lines.chunk_size(lines.LARGE_CONTENT_BYTES - 1, compressed=False) == small
    assert lines.chunk_size(lines.LARGE_CONTENT_BYTES, compressed=False) == big
    assert lines.chunk_size(lines.LARGE_CONTENT_BYTES // lines.COMPRESSION_RATIO,
                            compressed=True) == big


# --------------------------------------------------------------------------- line offsets

def test_lines_are_the_same_without_the_compiled_scan(monkeypatch):
    data = b"one\ntwo\r\n\nno newline at the end"
    with_c, _, _ = read_all(data, chunk_bytes=5)
    monkeypatch.setattr(lines, "_fastsplit", None)
    without, _, _ = read_all(data, chunk_bytes=5)
    assert with_c == without == ["one\n", "two\r\n", "\n", "no newline at the end"]

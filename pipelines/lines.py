"""Reading log files as chunks of whole lines, fast and exactly.

Only the newline defines a line (see ../shared/PERF-NOTES.md): a file is read in large
binary blocks, cut after the last newline of each block, and the newline positions become
the offsets of an Arrow string array without copying the text. Each line keeps its
trailing newline; parsers anchor on `\\r?\\n?$`. A final line without a newline is a line
too (unless `complete_only`, used for files still being written).

Content is normalised so every later stage sees valid UTF-8 text: invalid byte sequences
become `\\xHH` escapes (how Apache and nginx write non-printable bytes themselves) and NUL
bytes become the text `\\x00`. A file whose first block has carriage returns but no
newline uses CR as its line separator.

Compression is recognised by magic bytes, not by name: gzip (also multi-member), bzip2,
xz and zstd. The reader hashes the decompressed content as it goes (`content_sha256`) and
the first `HEAD_BYTES` of the lines it read (`head_sha256`), so rotated and recompressed
copies of the same log are recognised as the same content, and a growing file as the
continuation of what was read before (pipelines.sources).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

try:  # the compiled helpers (setup.py); a checkout where they were not built uses NumPy
    from . import _fastsplit
except ImportError:  # pragma: no cover - depends on the build
    _fastsplit = None

# measured on 2 cores: 16 MiB chunks stage a 5M-line file as fast as 32 MiB (14.8 s) with a
# peak of 0.63 GB instead of 0.92 GB; 8 MiB was 5% slower at 1M lines. Each chunk looks its
# distinct values up in the file's enrichment tables, which grow with the file, so a
# bigger file reads bigger chunks (see chunk_size): at 20M lines (4.4 GB) the ingest took
# 90.0 s with 16 MiB chunks, 78.5 s with 32 MiB and 72.7 s with 64 MiB.
CHUNK_BYTES = 16 << 20
LARGE_CHUNK_BYTES = 64 << 20
LARGE_CONTENT_BYTES = 2 << 30
COMPRESSION_RATIO = 8  # a guess at a compressed log's content size, for chunk_size only
HEAD_BYTES = 4096
PROBE_BYTES = 65536  # the line separator is decided on this much of the content
BATCH_ROWS = 16_384  # ~4-5 batches a chunk: DuckDB scans a chunk's batches on every core

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
# "BZh" alone is printable text a log line could start with: bzip2 also needs the block
# size digit and the magic of the first block (pi) or of the end of stream (sqrt pi)
_BZIP2 = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")
SNIFF_BYTES = 10


def sniff_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if _BZIP2.match(head):
        return "bzip2"
    return None


def open_decompressed(raw: BinaryIO) -> tuple[BinaryIO, str | None]:
    """Wrap a binary stream in the decompressor its magic bytes call for."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    kind = sniff_compression(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    if kind == "gzip":
        return gzip.GzipFile(fileobj=buffered, mode="rb"), kind  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(buffered, mode="rb"), kind  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(buffered, mode="rb"), kind  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True), kind  # type: ignore[return-value]
    return buffered, None


@dataclass
class Chunk:
    """A block of whole lines: `table` has columns line_no (1-based) and line."""

    table: pa.Table
    first_line_no: int
    content_start: int  # offset in the decompressed content of the first line
    content_end: int  # offset just after the last line

    @property
    def num_lines(self) -> int:
        return self.table.num_rows


@dataclass
class ReadStats:
    lines: int = 0
    content_bytes: int = 0
    compression: str | None = None
    nul_bytes: int = 0  # NUL bytes rewritten as the text \\x00
    invalid_utf8_blocks: int = 0  # blocks whose invalid UTF-8 bytes became \\xHH escapes
    cr_newlines: bool = False
    content_sha256: str = ""
    head_sha256: str = ""
    pending_bytes: int = 0  # trailing partial line left for later (complete_only)
    _hash: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)
    _head: bytearray = field(default_factory=bytearray, repr=False)


def _clean(block: bytes, stats: ReadStats) -> bytes:
    """Make a block valid UTF-8 without NULs, keeping every line boundary."""
    if b"\x00" in block:
        stats.nul_bytes += block.count(b"\x00")
        block = block.replace(b"\x00", b"\\x00")
    return block


def line_offsets_numpy(block: bytes | memoryview) -> np.ndarray:
    """Offsets of the lines of a block, each with its newline; a last line without one (or
    no line at all) ends at the block's end. The compiled `_fastsplit.line_offsets`
    computes the same with memchr, 5x faster (0.15 -> 0.03 CPU-s per 1M lines)."""
    nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    ends = nl + 1
    if not len(ends) or ends[-1] != len(block):
        ends = np.append(ends, len(block))
    offsets = np.empty(len(ends) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends
    return offsets


def _lines_array(block: bytes | memoryview) -> pa.LargeStringArray:
    """The lines of a block (each with its newline) over the block's own buffer."""
    if _fastsplit is not None:
        offsets = pa.py_buffer(_fastsplit.line_offsets(block))
    else:
        offsets = pa.py_buffer(line_offsets_numpy(block))
    return pa.LargeStringArray.from_buffers(offsets.size // 8 - 1, offsets, pa.py_buffer(block))


def _to_table(data: bytes, end: int, first_line_no: int, stats: ReadStats) -> pa.Table:
    """The lines of data[:end] as a table; the lines' buffer is `data` itself (no copy of
    the 16 MiB block and its page faults) unless NUL bytes have to be replaced."""
    if data.find(b"\x00", 0, end) >= 0:
        block: bytes | memoryview = _clean(data[:end], stats)
    else:
        block = data if end == len(data) else memoryview(data)[:end]
    lines = _lines_array(block)
    try:
        lines.validate(full=True)  # Arrow's UTF-8 check: ~10x faster than bytes.decode
    except pa.ArrowInvalid:
        stats.invalid_utf8_blocks += 1
        lines = _lines_array(bytes(block).decode("utf-8", "backslashreplace").encode("utf-8"))
    n = len(lines)
    numbers = pa.array(np.arange(first_line_no, first_line_no + n, dtype=np.int64))
    table = pa.table({"line_no": numbers, "line": lines})
    # several record batches (zero-copy slices) let DuckDB scan the chunk on every core
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS))


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Read `size` bytes or up to EOF (decompressors may return less than asked)."""
    block = stream.read(size)
    if not block or len(block) >= size:
        return block
    parts = [block]
    got = len(block)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def chunk_size(file_bytes: int, compressed: bool) -> int:
    """Chunk size for a file of this size on disk: CHUNK_BYTES, or LARGE_CHUNK_BYTES when
    its content (estimated for a compressed file) reaches LARGE_CONTENT_BYTES."""
    content = file_bytes * (COMPRESSION_RATIO if compressed else 1)
    return max(CHUNK_BYTES, LARGE_CHUNK_BYTES) if content >= LARGE_CONTENT_BYTES \
        else CHUNK_BYTES


def iter_chunks(stream: BinaryIO, stats: ReadStats, *, chunk_bytes: int | None = None,
                skip_bytes: int = 0, first_line_no: int = 1,
                complete_only: bool = False) -> Iterator[Chunk]:
    """Yield chunks of whole lines from a decompressed stream.

    `skip_bytes` of content are hashed but not yielded (already ingested earlier); they must
    end on a line boundary. With `complete_only`, a last line without a newline is left
    for the next run and counted in `stats.pending_bytes`. `chunk_bytes` defaults to CHUNK_BYTES
    (read at call time, so callers can tune it); the first read takes at least PROBE_BYTES,
    so whether CR separates lines never depends on the chunk size.
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    offset = 0
    carry = b""
    line_no = first_line_no
    sep = b"\n"
    first = True
    while True:
        block = _read_full(stream, max(chunk_bytes, PROBE_BYTES) if first else chunk_bytes)
        eof = not block
        if block:
            stats._hash.update(block)
            if len(stats._head) < HEAD_BYTES:
                stats._head += block[: HEAD_BYTES - len(stats._head)]
            if first:
                first = False
                probe = block[:PROBE_BYTES]
                if b"\n" not in probe and b"\r" in probe:
                    sep = b"\r"
                    stats.cr_newlines = True
            if sep == b"\r":
                block = block.replace(b"\r", b"\n")
            if skip_bytes:
                take = min(skip_bytes, len(block))
                skip_bytes -= take
                offset += take
                block = block[take:]
                if not block:
                    continue
        data = carry + block if carry else block
        if eof:
            if not data:
                break
            if complete_only and not data.endswith(b"\n"):
                stats.pending_bytes = len(data)
                break
            cut = len(data)
        else:
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one very long line: keep reading
                carry = data
                continue
        carry = data[cut:]
        start = offset
        offset += cut
        table = _to_table(data, cut, line_no, stats)
        stats.lines += table.num_rows
        stats.content_bytes = offset
        yield Chunk(table, line_no, start, offset)
        line_no += table.num_rows
        if eof:
            break
    stats.content_bytes = offset
    stats.content_sha256 = stats._hash.hexdigest()
    # the head of what was read as lines: a partial last line left pending is not part of it,
    # so a growing file's head is found again once that line is complete (pipelines.sources)
    stats.head_sha256 = head_digest(bytes(stats._head[:offset]))


def head_digest(content: bytes) -> str:
    """SHA-256 of the first HEAD_BYTES of `content` (all of it when shorter)."""
    return hashlib.sha256(content[:HEAD_BYTES]).hexdigest()


def file_sha256(path: Path, block: int = 8 << 20) -> str:
    """SHA-256 of a file's bytes as stored (compressed or not)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def file_identity(path: Path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "device": st.st_dev, "inode": st.st_ino, "mtime": st.st_mtime}


def prefetch(items: Iterator[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """Read ahead in a thread: the next chunk is decompressed, hashed and split while the
    caller's DuckDB work on this one runs (zlib, hashlib and NumPy release the GIL).
    Errors surface in the caller, in order; at most `depth` chunks wait in memory."""
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            box.put((done, exc))

    thread = threading.Thread(target=work, name="weblog-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = box.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let the reader notice `stop` (it may be blocked on put)
            try:
                box.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)

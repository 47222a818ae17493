"""Growing and rotated source files: which part of a file's content is new.

Every ingested piece of a log is a row of the ledger (`ingested_files`): its path, device
and inode, size, the content range it read (`content_start`..`content_end`, offsets in the
decompressed content, always at a line boundary) and `head_sha256`, the SHA-256 of the first
4 KiB of the lines it read (or all of them when fewer). Content is recognised by that head,
not by name, so the rules below hold whatever the file is called now:

- A file whose head matches a piece continues that content: its first `content_end` bytes
  are already ingested and are skipped (`lines.iter_chunks(skip_bytes=...)`, which still
  hashes them). That covers a log that grew since the last run, a log renamed by rotation
  (`access.log` -> `access.log.1`, "create" mode too), and a rotated log compressed later
  (`access.log.2.gz`: the head is compared on the decompressed content). Only the lines
  written after the last run are read; a content no longer than the ingested prefix has
  nothing new.
- copytruncate: the copy (`access.log.1`) has the old head and continues the old pieces;
  the truncated original has new content, so a new head, and is read from its start.
- A plain (uncompressed) file may still be written: a last line without its newline waits
  for the next run (`complete_only`). Compressed files are finished: their last line counts.
- Line numbers continue across the pieces of one content (from the ledger's line counts).

Piece heads shorter than 4 KiB (a young log) are compared on that many bytes of the
current content, so a log that was tiny at the last run is still recognised once it grew.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from . import lines
from .parse import LogFormat


@dataclass(frozen=True)
class Plan:
    """What to read of one file."""

    skip_bytes: int = 0  # content already ingested (a prefix of this content)
    first_line_no: int = 1
    complete_only: bool = True  # a last line without its newline waits for the next run
    previous: str | None = None  # path of the last piece this content continues
    previous_format: str | None = None  # the format that piece was read with
    nothing_new: bool = False  # the content is no longer than what was ingested

    @property
    def resumes(self) -> bool:
        return self.skip_bytes > 0


@dataclass(frozen=True)
class Piece:
    file_id: int
    path: str
    format: str
    content_start: int
    content_end: int
    lines_read: int


def read_head(path: Path) -> tuple[bytes, str | None]:
    """The first HEAD_BYTES of a file's decompressed content, and its compression."""
    with open(path, "rb") as handle:
        stream, compression = lines.open_decompressed(handle)
        head = b""
        while len(head) < lines.HEAD_BYTES:
            block = stream.read(lines.HEAD_BYTES - len(head))
            if not block:
                break
            head += block
    return head, compression


def matching_pieces(con: duckdb.DuckDBPyConnection, head: bytes) -> list[Piece]:
    """Ledger pieces whose content begins like `head` (the current file's first bytes)."""
    full = hashlib.sha256(head[:lines.HEAD_BYTES]).hexdigest()
    rows = con.execute("""
        SELECT file_id, path, format, content_start, content_end, lines_read, head_sha256
        FROM ingested_files
        WHERE content_end > 0 AND (head_sha256 = ? OR content_end < ?)
        ORDER BY file_id""", [full, lines.HEAD_BYTES]).fetchall()
    out = []
    for file_id, path, fmt, start, end, n, digest in rows:
        length = min(end, lines.HEAD_BYTES)
        if length > len(head) or lines.head_digest(head[:length]) != digest:
            continue
        out.append(Piece(file_id, path, fmt, start, end, n))
    return out


def _line_count(pieces: list[Piece], last: Piece) -> int:
    """Lines before `last.content_end`: the chain of pieces from 0 that ends with `last`."""
    total, piece = 0, last
    seen: set[int] = set()
    while piece is not None and piece.file_id not in seen:
        seen.add(piece.file_id)
        total += piece.lines_read
        if piece.content_start == 0:
            break
        piece = next((p for p in reversed(pieces) if p.content_end == piece.content_start), None)
    return total


def plan(con: duckdb.DuckDBPyConnection, path: Path, *, finished: bool = False) -> Plan:
    """What of `path` is new. `finished`: the file will not grow (stdin)."""
    head, compression = read_head(path)
    complete_only = compression is None and not finished
    if not head:
        return Plan(complete_only=complete_only)
    pieces = matching_pieces(con, head)
    if not pieces:
        return Plan(complete_only=complete_only)
    last = max(pieces, key=lambda p: (p.content_end, p.file_id))
    if compression is None and path.stat().st_size <= last.content_end:
        return Plan(last.content_end, complete_only=complete_only, previous=last.path,
                    previous_format=last.format, nothing_new=True)
    return Plan(last.content_end, _line_count(pieces, last) + 1, complete_only, last.path,
                last.format)


def carry_before(path: Path, fmt: LogFormat, first_line_no: int) -> Any:
    """A stateful format's state (W3C headers) after the lines before `first_line_no`."""
    carry: Any = None
    if not fmt.stateful or first_line_no <= 1:
        return carry
    stats = lines.ReadStats()
    with open(path, "rb") as handle:
        stream, _ = lines.open_decompressed(handle)
        for chunk in lines.iter_chunks(stream, stats):
            table = chunk.table
            if chunk.first_line_no + chunk.num_lines > first_line_no:
                table = table.slice(0, max(0, first_line_no - chunk.first_line_no))
            _, carry = fmt.bind(table, carry)
            if chunk.first_line_no + chunk.num_lines >= first_line_no:
                break
    return carry

"""`weblog status`: what each tier holds, read without writing anything.

Counts and dates only; no row content is ever printed.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from . import raw, retention, warehouse
from .config import Config
from .parse import sql_str


def _parquet_rows(files: list[Path]) -> tuple[int, list[Path]]:
    """Rows of the readable files, and the files that cannot be read (damaged)."""
    if not files:
        return 0, []
    con = duckdb.connect()
    try:
        try:
            listing = ", ".join(sql_str(f.as_posix()) for f in files)
            return con.execute("SELECT coalesce(sum(num_rows), 0) FROM "
                               f"parquet_file_metadata([{listing}])").fetchall()[0][0], []
        except duckdb.Error:
            bad = raw.unreadable(files)
            if not bad:
                raise
            return _parquet_rows([f for f in files if f not in bad])[0], bad
    finally:
        con.close()


def _partitions(parts: dict[dt.date, Path], window: dt.date,
                data_dir: Path) -> list[dict[str, Any]]:
    out = []
    for day, folder in parts.items():
        files = sorted(folder.glob("*.parquet"))
        rows, bad = _parquet_rows(files)
        part = {"day": day.isoformat(), "files": len(files),
                "bytes": sum(f.stat().st_size for f in files), "rows": rows,
                "inside_window": day >= window}
        if bad:
            part["unreadable"] = [raw.shown(f, data_dir) for f in bad]
        out.append(part)
    return out


def tier_status(cfg: Config, as_of: dt.date | None = None) -> dict[str, Any]:
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    window = retention.raw_window_start(as_of, cfg.raw_days)
    info: dict[str, Any] = {
        "data_dir": str(cfg.data_dir),
        "config_file": str(cfg.config_file) if cfg.config_file else None,
        "timezone": cfg.timezone,
        "as_of": as_of.isoformat(),
        "policy": cfg.policy(),
        "raw_window_start": window.isoformat(),
        "detail_window_start": retention.window_start(as_of, cfg.detail_days).isoformat(),
    }
    raw_parts = _partitions(raw.raw_days(cfg.data_dir), window, cfg.data_dir)
    reject_parts = _partitions(raw.reject_days(cfg.data_dir), window, cfg.data_dir)
    info["raw"] = {"days": raw_parts, "rows": sum(p["rows"] for p in raw_parts),
                   "expired_days": [p["day"] for p in raw_parts if not p["inside_window"]]}
    info["rejects"] = {"days": reject_parts, "rows": sum(p["rows"] for p in reject_parts),
                       "expired_days": [p["day"] for p in reject_parts if not p["inside_window"]]}
    path = warehouse.warehouse_path(cfg.data_dir)
    info["warehouse"] = str(path) if path.exists() else None
    if path.exists():
        con = warehouse.connect(cfg.data_dir, read_only=True)
        try:
            rows, first, last, ndays, vhosts = con.execute(
                "SELECT count(*), min(day), max(day), count(DISTINCT day), "
                "list(DISTINCT vhost ORDER BY vhost) FROM requests").fetchall()[0]
            info["detail"] = {"rows": rows, "first_day": first, "last_day": last, "days": ndays,
                              "vhosts": vhosts or []}
            files, read, parsed, rejected, too_old, last_at = con.execute(
                "SELECT count(*), coalesce(sum(lines_read), 0), coalesce(sum(lines_parsed), 0), "
                "coalesce(sum(lines_rejected), 0), coalesce(sum(lines_too_old), 0), "
                "max(ingested_at) FROM ingested_files").fetchall()[0]
            info["ingest_ledger"] = {"files": files, "lines_read": read, "lines_parsed": parsed,
                                     "lines_rejected": rejected, "lines_too_old": too_old,
                                     "last_ingest_utc": last_at}
            tables = {t for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()}
            info["tables"] = sorted(tables)
            if "stats_days" in tables:
                info["stats"] = _stats_status(con)
        finally:
            con.close()
    return info


def _stats_status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    from .aggregate import days_needing_stats

    days, first, last, approximate = con.execute(
        "SELECT count(*), min(day), max(day), count(*) FILTER (WHERE NOT visitors_exact) "
        "FROM stats_days").fetchall()[0]
    return {"days": days, "first_day": first, "last_day": last, "approximate_days": approximate,
            "needing_stats": [d.isoformat() for d in days_needing_stats(con)]}


def render_status(info: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    console.print(f"[bold]weblog[/] data in {info['data_dir']} "
                  f"(config: {info['config_file'] or 'built-in defaults'}, time zone {info['timezone']})")
    console.print(f"As of {info['as_of']}: RAW window starts {info['raw_window_start']} "
                  f"(raw_days={info['policy']['raw_days']}), DETAIL window starts "
                  f"{info['detail_window_start']} (detail_days={info['policy']['detail_days']}).")
    table = Table(title="Tiers", title_justify="left")
    for col in ("tier", "holds", "rows", "days", "where"):
        table.add_column(col)
    raw_info, rej = info["raw"], info["rejects"]

    def span(parts: list[dict]) -> str:
        return f"{parts[0]['day']} .. {parts[-1]['day']} ({len(parts)})" if parts else "-"

    table.add_row("RAW", "full addresses, URLs, user agents", f"{raw_info['rows']:,}",
                  span(raw_info["days"]), "raw/date=*/")
    table.add_row("RAW rejects", "unparsed lines + reason", f"{rej['rows']:,}", span(rej["days"]),
                  "raw/rejects/date=*/")
    if info.get("detail"):
        d = info["detail"]
        days = f"{d['first_day']} .. {d['last_day']} ({d['days']})" if d["rows"] else "-"
        table.add_row("DETAIL", "truncated networks, paths, families", f"{d['rows']:,}", days,
                      "detail/date=*/ (view requests)")
    console.print(table)
    if not info.get("warehouse"):
        console.print("No warehouse yet: run `weblog ingest PATH` or `weblog demo`.")
    led = info.get("ingest_ledger")
    if led:
        console.print(f"Ingest ledger: {led['files']} file(s), {led['lines_read']:,} lines read = "
                      f"{led['lines_parsed']:,} parsed + {led['lines_rejected']:,} rejected "
                      f"({led['lines_too_old']:,} parsed lines were older than the RAW window).")
    st = info.get("stats")
    if st is not None:
        span = f"{st['first_day']} .. {st['last_day']}" if st["days"] else "none yet"
        need = st["needing_stats"]
        todo = (f"; {len(need)} day(s) need `weblog aggregate` ({need[0]} .. {need[-1]})"
                if need else "; all current")
        console.print(f"Statistics: {st['days']} day(s) ({span}), {st['approximate_days']} with "
                      f"approximate visitors{todo}.")
    damaged = [f for p in raw_info["days"] + rej["days"] for f in p.get("unreadable", [])]
    if damaged:
        console.print(f"[red]{len(damaged)} RAW file(s) cannot be read (truncated or corrupt; "
                      "not counted above):[/] " + ", ".join(damaged), highlight=False)
    expired = raw_info["expired_days"] + rej["expired_days"]
    if expired:
        console.print(f"[yellow]{len(expired)} RAW day partition(s) are older than the window and "
                      "due for purge (`weblog purge --dry-run` lists them).[/]")

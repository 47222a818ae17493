"""The `weblog` command line.

Each command's docstring is its --help text. Commands that need the configuration load
it lazily, so --help always works. Exit codes: 0 success, 1 a run failed (or an audit
found a problem), 2 bad configuration, path or argument, 3 another run holds the data
directory's lock.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from .config import Config, load_config
from .errors import WeblogError, os_error_sentence, stop_if_interrupted, storage_error

log = logging.getLogger("weblog")


class WeblogClickError(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"weblog: error: {self.message}", err=True)


class Group(click.Group):
    """Turns domain errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            stop_if_interrupted()  # Ctrl-C reported as an error (by DuckDB): click's "Aborted!"
            if isinstance(exc, WeblogError):
                raise WeblogClickError(str(exc), exc.exit_code) from None
            full = storage_error(exc)  # a full disk, from the OS or from DuckDB
            if full is not None:
                raise WeblogClickError(f"{full}; the command stopped: free some space and "
                                       "run it again.", 1) from None
            if isinstance(exc, OSError):
                # a folder or file the command cannot create, read or write (permissions,
                # a file where a folder belongs, a path that does not exist)
                raise WeblogClickError(os_error_sentence(exc), 2) from None
            raise


FIRST_DATE, LAST_DATE = dt.date(1970, 1, 1), dt.date(9899, 12, 31)


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-15.") from None
    if not FIRST_DATE <= day <= LAST_DATE:
        # web logs start in 1970 (epoch times); retention arithmetic needs room either side
        raise click.BadParameter(f"{value} is outside {FIRST_DATE} .. {LAST_DATE}.")
    return day


def output_path(output: str) -> Path:
    """The file a command writes (-o): refused in one sentence when it names a folder or
    its folder does not exist (the write itself would fail half-way)."""
    from .errors import InputError

    path = Path(output).expanduser()
    if path.is_dir():
        raise InputError(f"{output} is a folder; give the name of a file to write.")
    if not path.absolute().parent.is_dir():
        raise InputError(f"No such folder: {path.parent}.")
    return path


def as_of_option(f: Any) -> Any:
    return click.option("--as-of", "as_of", metavar="YYYY-MM-DD", callback=_date,
                        help="Pretend today is this day (site time zone); default: today.")(f)


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def get_config(ctx: click.Context) -> Config:
    obj = ctx.find_root().obj
    if obj.get("config") is None:
        obj["config"] = load_config(obj.get("config_path"), obj.get("data_dir"))
    return obj["config"]


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"weblog: {record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(verbose: int, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    root = logging.getLogger("weblog")
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                                logging.INFO if verbose else logging.WARNING))
    root.propagate = False


@click.group(name="weblog", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="WEBLOG_CONFIG",
              help="TOML config file [env WEBLOG_CONFIG; default ./weblog.toml if present].")
@click.option("--data-dir", "data_dir", metavar="DIR", envvar="WEBLOG_DATA_DIR",
              help="Data directory, overrides data_dir [env WEBLOG_DATA_DIR].")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.version_option(package_name="weblog")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None,
        verbose: int, quiet: bool) -> None:
    """weblog: web-access log analytics with privacy-limited retention.

    Ingests access logs into a short-lived RAW tier (full addresses, purged after
    retention.raw_days) and an anonymised DETAIL tier, computes daily statistics in
    DuckDB, and proves to auditors that raw addresses are gone.

    Quick start: `weblog demo`, then `weblog status`.
    """
    _setup_logging(verbose, quiet)
    ctx.obj = {"config_path": config_path, "data_dir": data_dir, "config": None}


# --------------------------------------------------------------------------- ingest

def _progress_factory(enabled: bool):  # pragma: no cover - interactive only
    if not enabled:
        return None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                        TimeRemainingColumn(), transient=True, console=_console(stderr=True))
    progress.start()

    def factory(name: str, total: int):
        task = progress.add_task(Path(name).name, total=total)
        return lambda done: progress.update(task, completed=done)

    factory.stop = progress.stop  # type: ignore[attr-defined]
    return factory


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_ingest_results(results: list, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    from rich.table import Table

    table = Table(title="Ingest", title_justify="left")
    for col in ("file", "status", "read", "parsed", "rejected", "too old", "days"):
        table.add_column(col, justify="right" if col in ("read", "parsed", "rejected", "too old") else "left")
    for r in results:
        days = f"{r.days[0]} .. {r.days[-1]}" if len(r.days) > 1 else (r.days[0] if r.days else "")
        status = r.status if not r.duplicate_of else f"{r.status} (as {Path(r.duplicate_of).name})"
        if r.content_start:
            status += " (new lines)"
        table.add_row(Path(r.path).name, status, f"{r.lines_read:,}", f"{r.lines_parsed:,}",
                      f"{r.lines_rejected:,}", f"{r.lines_too_old:,}", days)
    console = _console()
    console.print(table)
    used: dict[str, int] = {}
    for r in results:
        if r.format:
            used[r.format] = used.get(r.format, 0) + 1
    if used:
        console.print("Formats: " + ", ".join(f"{name} ({n} file{'s' if n > 1 else ''})"
                                               for name, n in used.items()), markup=False)
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.reject_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    if reasons:
        console.print("Rejected lines (kept in raw/rejects/ with their reason):")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {n:>8,}  {reason}", markup=False)


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "format_name", metavar="NAME",
              help="Log format (see `weblog formats`); default: the source's, else 'auto' "
                   "(detected per file).")
@click.option("--vhost", metavar="NAME", help="Virtual host for lines that do not log one.")
@as_of_option
@json_option
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[str, ...], format_name: str | None,
           vhost: str | None, as_of: dt.date | None, as_json: bool) -> None:
    """Ingest access logs into the RAW and DETAIL tiers.

    PATH may be a file, a glob (quote it), a .gz/.bz2/.xz/.zst file, or '-' for stdin.
    Without PATH, the [[sources]] of the config are ingested. Content already ingested
    (same bytes, or the same lines rotated and recompressed) is skipped. Malformed lines
    are counted and kept in raw/rejects/ with their reason; every file reconciles:
    read = parsed + rejected.
    """
    from .ingest import ingest_paths, ingest_sources

    cfg = get_config(ctx)
    factory = _progress_factory(sys.stderr.isatty() and not as_json)
    try:
        if paths:
            results = ingest_paths(cfg, paths, format_name=format_name, vhost=vhost, as_of=as_of,
                                   progress_factory=factory)
        else:
            if not cfg.sources:
                raise click.UsageError("Give PATH arguments or configure [[sources]].")
            results = ingest_sources(cfg, as_of=as_of, format_name=format_name,
                                     progress_factory=factory)
    finally:
        if factory is not None:
            factory.stop()
    print_ingest_results(results, as_json)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        others = "; the others were" if len(failed) < len(results) else ""
        raise WeblogError(f"{len(failed)} of {len(results)} file(s) failed and were not "
                          f"ingested: {', '.join(Path(r.path).name for r in failed)}{others}.")


# --------------------------------------------------------------------------- status

@cli.command()
@as_of_option
@json_option
@click.pass_context
def status(ctx: click.Context, as_of: dt.date | None, as_json: bool) -> None:
    """What each tier holds now: RAW days and files, rejects, DETAIL rows, the ledger."""
    from .status import render_status, tier_status

    cfg = get_config(ctx)
    info = tier_status(cfg, as_of)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        render_status(info, _console())


# --------------------------------------------------------------------------- nightly

def _step_line(name: str, step: dict | None) -> str:
    step = step or {}
    status = step.get("status", "?")
    if name == "aggregate" and step.get("days"):
        status += f" ({len(step['days'])} day(s))"
    return f"{name.capitalize():<10} {status}"


def _run_nightly(cfg: Config, as_of: dt.date | None, *, sources: list[str] | None = None,
                 config_file: Path | None = None, task_runner: str | None = None,
                 dask_address: str | None = None, show_files: str = "table",
                 as_json: bool = False) -> dict:
    """Run the nightly flow (Prefect), print its outcome and return its summary; a failed
    run raises after printing. `show_files`: "table" or "lines" (one line per file)."""
    from flows.launch import prepare_environment, run_nightly

    from .ingest import IngestResult

    home = prepare_environment(cfg.data_dir)
    config_file = config_file or cfg.config_file
    completed, result, message = run_nightly(
        as_of=as_of, config_file=str(Path(config_file).absolute()) if config_file else None,
        data_dir=str(cfg.data_dir), sources=sources,
        task_runner=task_runner or cfg.task_runner, dask_address=dask_address or cfg.dask_address)
    if isinstance(result, WeblogError):
        raise result
    if not isinstance(result, dict):  # a crash: its message might quote log content
        raise WeblogError(f"The nightly run failed ({type(result).__name__}); see the run's "
                          "logs in Prefect.")
    files = result.get("ingest") or []
    fields = set(IngestResult.__dataclass_fields__)
    done = [IngestResult(**{k: v for k, v in f.items() if k in fields})
            for f in files if f.get("status") != "failed"]
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    elif show_files == "lines":
        for r in done:
            click.echo(f"  {Path(r.path).name:<18} {r.status:<16} read {r.lines_read:>6,}  parsed "
                       f"{r.lines_parsed:>6,}  rejected {r.lines_rejected:>3}  too old for RAW "
                       f"{r.lines_too_old:>6,}")
    else:
        print_ingest_results(done, False)
    if not as_json:
        for f in files:
            if f.get("status") == "failed":
                click.echo(f"  failed: {Path(f['path']).name}: {f.get('error')}")
        for step in ("aggregate", "purge", "verify"):
            click.echo(_step_line(step, result.get(step)))
        click.echo(f"Receipt: Prefect artifact 'weblog-nightly' (Prefect home: {home}).")
    if not completed:
        raise WeblogError(f"The nightly run failed: {message}")
    return result


@cli.command()
@as_of_option
@click.option("--task-runner", type=click.Choice(["thread", "dask"]), default=None,
              help="Run the per-file ingest tasks in threads or on Dask "
                   "[default: setting prefect.task_runner].")
@click.option("--dask-address", metavar="ADDR", default=None,
              help="Scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
                   "[default: setting prefect.dask_address; unset: a local cluster].")
@json_option
@click.pass_context
def nightly(ctx: click.Context, as_of: dt.date | None, task_runner: str | None,
            dask_address: str | None, as_json: bool) -> None:
    """Run the nightly flow once: ingest new files of the [[sources]], aggregate the days
    they touched, purge expired data, verify retention, publish the run's receipt.

    The run is a Prefect flow run: with PREFECT_API_URL set it is recorded by that server
    (and shown in its UI), otherwise by a temporary local server whose database lives in
    PREFECT_HOME (default DATA_DIR/prefect). A second run waits for the first up to
    prefect.lock_wait_seconds, then exits 3. Exit 1 when any step failed (e.g. verify).
    """
    cfg = get_config(ctx)
    _run_nightly(cfg, as_of, task_runner=task_runner, dask_address=dask_address,
                 as_json=as_json)


@cli.command()
@click.option("--check", "check_file", metavar="PREFECT_YAML", is_flag=False,
              flag_value="prefect.yaml", default=None,
              help="Only check the schedules in PREFECT_YAML (default ./prefect.yaml): valid "
                   "cron, IANA time zones, the site time zone; exit 2 on a problem.")
@click.pass_context
def schedule(ctx: click.Context, check_file: str | None) -> None:
    """Serve the deployments from this process: `nightly` every day at 02:30 in the site
    time zone, and `purge-only` for manual runs (`prefect deployment run
    purge-expired/purge-only`).

    For sites without a work pool. Needs a running Prefect server (PREFECT_API_URL):
    Prefect never runs schedules on its temporary server. Stop with Ctrl-C.
    """
    cfg = get_config(ctx)
    if check_file is not None:
        from flows.deployments import check_prefect_yaml

        from .errors import ConfigError

        problems = check_prefect_yaml(Path(check_file), cfg.timezone)
        if problems:
            raise ConfigError(" ".join(problems))
        click.echo(f"{check_file}: schedules are valid and in the site time zone {cfg.timezone}.")
        return
    from flows.launch import prepare_environment, serve_deployments

    prepare_environment(cfg.data_dir)
    serve_deployments(config_file=str(Path(cfg.config_file).absolute()) if cfg.config_file
                      else None, data_dir=str(cfg.data_dir), timezone=cfg.timezone)


# --------------------------------------------------------------------------- statistics

def _date_option(name: str, dest: str, help_text: str):
    return click.option(name, dest, metavar="YYYY-MM-DD", callback=_date, help=help_text)


@cli.command()
@_date_option("--from", "start", "First day to recompute (site-local date).")
@_date_option("--to", "end", "Last day to recompute (site-local date).")
@_date_option("--as-of", "as_of", "Leave days after this one for later; default: no limit.")
@json_option
@click.pass_context
def aggregate(ctx: click.Context, start: dt.date | None, end: dt.date | None,
              as_of: dt.date | None, as_json: bool) -> None:
    """Compute the daily statistics tables from DETAIL (and RAW while it exists).

    Without --from/--to: every day that has no statistics yet or received new data since
    they were computed. With --from/--to: every day in that range that still has DETAIL
    rows. Each day is recomputed as a whole in one transaction; visitors are exact while
    the day's RAW partition exists, approximate after it was purged.
    """
    from .aggregate import run_aggregate

    cfg = get_config(ctx)
    result = run_aggregate(cfg, start=start, end=end, as_of=as_of)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        result.raise_for_failed()
        return
    if not result.days:
        click.echo("No day needed statistics." if not (result.skipped or result.failed)
                   else "No day recomputed.")
    else:
        exact = sum(result.visitors_exact.values())
        span = result.days[0] if len(result.days) == 1 else f"{result.days[0]} .. {result.days[-1]}"
        click.echo(f"Statistics computed for {len(result.days)} day(s), {span}, in "
                   f"{result.seconds:.1f} s: visitors exact for {exact}, approximate for "
                   f"{len(result.days) - exact} (RAW no longer complete).")
        click.echo("Rows written: " + ", ".join(f"{t} {n:,}" for t, n in result.rows.items()))
    for day, reason in result.skipped.items():
        click.echo(f"Skipped {day}: {reason}.")
    result.raise_for_failed()  # after the other days were computed and published


@cli.command()
@_date_option("--day", "day", "One day (site-local date); default: the latest with statistics.")
@_date_option("--from", "start", "First day of a range.")
@_date_option("--to", "end", "Last day of a range.")
@click.option("--vhost", metavar="NAME", help="Only this virtual host; default: all, summed.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows per breakdown.")
@json_option
@click.pass_context
def stats(ctx: click.Context, day: dt.date | None, start: dt.date | None, end: dt.date | None,
          vhost: str | None, top: int, as_json: bool) -> None:
    """Show the statistics of a day or a range: headline numbers, top pages, 404s with the
    pages linking to them, referrers, countries, browsers.

    Over several days visitors are visitor-days (daily unique visitors added up).
    Reads the statistics tables only; run `weblog aggregate` first.
    """
    from .stats import render_stats, resolve_range, stats_summary
    from .warehouse import connect

    if day is not None and (start is not None or end is not None):
        raise click.UsageError("Give --day or --from/--to, not both.")
    cfg = get_config(ctx)
    con = connect(cfg.data_dir, read_only=True)
    try:
        first, last = resolve_range(con, day, start, end)
        summary = stats_summary(con, first, last, vhost, top)
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        render_stats(summary, _console())


@cli.command("export")
@click.argument("table")
@_date_option("--from", "start", "First day to export.")
@_date_option("--to", "end", "Last day to export.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "json"]),
              help="File format; default: from the suffix of FILE.")
@click.option("-o", "--output", "output", metavar="FILE", required=True,
              help="File to write (replaced atomically).")
@click.pass_context
def export_cmd(ctx: click.Context, table: str, start: dt.date | None, end: dt.date | None,
               fmt: str | None, output: str) -> None:
    """Export one statistics table (daily_traffic, daily_pages, ... or stats_days) to CSV,
    Parquet or JSON.

    Only statistics tables can be exported. In CSV, text cells starting with = + - @ (or a
    tab, carriage return or newline) get a leading apostrophe so spreadsheets do not run them as
    formulas.
    """
    from .export import export_table, format_for
    from .warehouse import connect

    cfg = get_config(ctx)
    path = output_path(output)
    fmt = format_for(path, fmt)
    con = connect(cfg.data_dir, read_only=True)
    try:
        n = export_table(con, table, path, fmt, start, end)
    finally:
        con.close()
    click.echo(f"Wrote {n:,} row(s) of {table} to {path} ({fmt}).", err=True)


# --------------------------------------------------------------------------- views

@cli.command()
@_date_option("--from", "start", "First day (default: the 30 days ending at --to, at most "
              "back to the first day with statistics).")
@_date_option("--to", "end", "Last day (default: the last day with statistics).")
@click.option("--vhost", metavar="NAME", help="Only this virtual host; default: all, summed.")
@click.option("-o", "--output", "output", metavar="FILE",
              help="HTML file to write; default DATA_DIR/reports/report-FROM-TO.html.")
@click.pass_context
def report(ctx: click.Context, start: dt.date | None, end: dt.date | None, vhost: str | None,
           output: str | None) -> None:
    """Write a self-contained HTML report of a period: headline figures against the
    previous period, charts (daily traffic, hour x weekday, status mix, channels, pages)
    and tables (pages, broken links, 404s, 5xx, referrers, countries, networks, browsers,
    bots). The file works offline and fetches nothing. Prints the file's path.
    """
    from .report import write_report

    cfg = get_config(ctx)
    result = write_report(cfg, start=start, end=end, vhost=vhost,
                          output=output_path(output) if output else None)
    click.echo(str(result.path))
    log.info("report of %s written in %.1f s", result.period.label(), result.seconds)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback by default: the dashboard has no login).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="TCP port.")
@click.option("--chart-workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="Processes drawing the dashboard's charts side by side (~200 MB each); "
                   "0 draws them in the server process.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, chart_workers: int) -> None:
    """Serve the dashboard, the JSON API (/api/v1/<table>, described at /docs and
    /openapi.json) and the audit page.

    Reads only the published statistics snapshot (DATA_DIR/published/stats.duckdb, written
    by `weblog aggregate` and `weblog publish`), never the warehouse, so it keeps answering
    while a nightly run writes.
    """
    from .serve import run

    cfg = get_config(ctx)
    run(cfg, host=host, port=port, echo=click.echo, chart_workers=chart_workers)


@cli.command()
@click.pass_context
def publish(ctx: click.Context) -> None:
    """Copy the statistics tables (and the purge ledger) into the snapshot the dashboard
    reads, DATA_DIR/published/stats.duckdb, replaced atomically. `weblog aggregate` does
    this after every run; use it after changing statistics some other way.
    """
    from .publish import publish as publish_snapshot

    cfg = get_config(ctx)
    result = publish_snapshot(cfg)
    click.echo(f"Published {sum(result.rows.values()):,} row(s) of {len(result.rows)} "
               f"table(s) to {result.path}.")


# --------------------------------------------------------------------------- retention

@cli.command()
@click.option("--dry-run", is_flag=True, help="List exactly what would be deleted; change nothing.")
@as_of_option
@json_option
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, as_of: dt.date | None, as_json: bool) -> None:
    """Delete what the retention windows say must go, and record it in the ledger.

    RAW day partitions and rejects partitions before the RAW window (as-of day minus
    retention.raw_days), but only days whose statistics are current: a stale day is
    aggregated first and kept (and reported) if that fails. DETAIL rows before as-of minus
    retention.detail_days, then the warehouse is rewritten into a fresh file. With
    retention.purge_source_logs, also source logs that were ingested and whose newest line
    is before the RAW window. Safe to rerun: a killed purge is finished by the next one.
    Exit 1 when something due had to be kept.
    """
    from .purge import purge_expired, render_text

    cfg = get_config(ctx)
    result = purge_expired(cfg, as_of=as_of, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        for line in render_text(result, cfg.raw_days, cfg.detail_days):
            click.echo(line)
    if not dry_run and (result.kept or result.problems):
        raise WeblogError(f"{len(result.kept) + len(result.problems)} item(s) due for purge "
                          "were kept or had problems (listed above).")


@cli.group(cls=Group)
def audit() -> None:
    """Check the retention promises and keep a deletion record (for auditors)."""


@audit.command("verify")
@as_of_option
@click.option("--anchor", metavar="HASH", help="A ledger hash kept from an earlier report: "
              "fail unless the chain still holds it.")
@json_option
@click.pass_context
def audit_verify(ctx: click.Context, as_of: dt.date | None, anchor: str | None,
                 as_json: bool) -> None:
    """PASS (exit 0) or FAIL (exit 1) with evidence: the ledger's hash chain and its JSONL
    mirror, no RAW or rejects partition (or DETAIL row) past its window, no full address or
    client host name outside RAW (warehouse, files under the data folder, Prefect's home),
    RAW owner-only.

    Evidence names the table, column or file and shows values masked (the network, or
    the host name without its first label). The verdict is also written to
    DATA_DIR/audit/verify-latest.json.
    """
    from .verify import render_text, verify_retention

    cfg = get_config(ctx)
    verdict = verify_retention(cfg, as_of=as_of, anchor=anchor)
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), indent=2))
    else:
        for line in render_text(verdict):
            click.echo(line)
    if not verdict.passed:
        ctx.exit(1)


@audit.command("report")
@_date_option("--from", "start", "First day (UTC date an entry was recorded).")
@_date_option("--to", "end", "Last day (UTC date an entry was recorded).")
@as_of_option
@json_option
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE (atomically).")
@click.pass_context
def audit_report(ctx: click.Context, start: dt.date | None, end: dt.date | None,
                 as_of: dt.date | None, as_json: bool, output: str | None) -> None:
    """A deletion record to keep (Markdown, or --json): the policy in force, every purge,
    erasure and warehouse rewrite with its dates, cutoff, counts and entry hash, the chain
    head hash, and a fresh verification's verdict."""
    from .audit import build_report, render_markdown

    cfg = get_config(ctx)
    report = build_report(cfg, start=start, end=end, as_of=as_of)
    text = json.dumps(report, indent=2) + "\n" if as_json else render_markdown(report)
    if output:
        from .report import write_atomically

        path = output_path(output)
        write_atomically(path, text)
        click.echo(f"Wrote the deletion record to {path} ({report['verify']['verdict']}).",
                   err=True)
    else:
        click.echo(text, nl=False)


@cli.group(cls=Group)
def subject() -> None:
    """Data-subject requests: what is stored about one address, and its erasure."""


@subject.command("find")
@click.argument("address")
@as_of_option
@json_option
@click.pass_context
def subject_find(ctx: click.Context, address: str, as_of: dt.date | None, as_json: bool) -> None:
    """List what is stored about ADDRESS (an IP address or a client host name): its RAW
    records (time, vhost, client, request, status), the rejects lines holding it, and the
    network that is all DETAIL and the statistics keep. Forwarded-for chains count too."""
    from .subjects import find_subject, render_find

    cfg = get_config(ctx)
    found = find_subject(cfg, address, as_of=as_of)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2, default=str))
    else:
        for line in render_find(found, address):
            click.echo(line)
    if found.unreadable:
        raise WeblogError(f"{len(found.unreadable)} RAW file(s) could not be searched: "
                          f"{', '.join(found.unreadable)}; the list above is incomplete.")


@subject.command("erase")
@click.argument("address")
@as_of_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def subject_erase(ctx: click.Context, address: str, as_of: dt.date | None, yes: bool,
                  as_json: bool) -> None:
    """Erase ADDRESS: rewrite the RAW and rejects files that hold it without its records,
    delete the DETAIL rows linked to them, recompute those days' statistics, and record
    the erasure in the ledger (counts and file hashes, never the address)."""
    from .subjects import erase_subject, find_subject, render_erasure

    cfg = get_config(ctx)
    if not yes:
        found = find_subject(cfg, address, as_of=as_of)
        click.echo(f"{len(found.records):,} RAW record(s), {found.rejects_lines:,} rejects "
                   f"line(s) and {found.detail_rows_linked:,} linked DETAIL row(s) hold it.")
        click.confirm("Erase them?", abort=True)
    result = erase_subject(cfg, address)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        for line in render_erasure(result):
            click.echo(line)
    if result.problems:
        ctx.exit(1)


# --------------------------------------------------------------------------- demo

@cli.command()
@as_of_option
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366),
              help="Days of sample traffic (1-366).")
@click.pass_context
def demo(ctx: click.Context, as_of: dt.date | None, days: int) -> None:
    """Generate realistic sample logs and a synthetic GeoIP database, run the nightly flow
    on them, and print what each tier holds and where to look next.

    Writes sample logs (Apache combined, +0900, rotated .gz files) to DATA_DIR/sample/ and
    SYNTHETIC GeoIP files for the documentation address ranges to DATA_DIR/geoip/.
    """
    from . import retention
    from .demo import prepare_demo_run, where_to_look
    from .status import render_status, tier_status

    cfg = get_config(ctx)
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    run = prepare_demo_run(cfg, as_of, days, echo=click.echo)
    _run_nightly(cfg, as_of, sources=run.sources, config_file=run.config_file,
                 show_files="lines")
    info = tier_status(cfg, as_of)
    render_status(info, _console())
    for line in where_to_look(cfg):
        click.echo(line)
    click.echo(f"Next: `weblog status` shows this again; `weblog ingest PATH` adds your own logs; "
               f"DETAIL is the view `requests` in {info['warehouse']} (open it read-only with "
               "DuckDB; its Parquet files are under detail/); RAW Parquet files are under raw/ "
               "(owner-only).")


# --------------------------------------------------------------------------- helpers

@cli.command()
def formats() -> None:
    """List the log format names accepted by --format and `format = ...`."""
    from .formats import AUTO, PRESETS

    click.echo(f"{'auto':<20} {AUTO.description} (the default)")
    for name, preset in PRESETS.items():
        spec = preset.spec if isinstance(preset.spec, str) else ""
        note = "" if preset.detect else " Not auto-detected."
        click.echo(f"{name:<20} {preset.description}{note}")
        if spec:
            click.echo(f"{'':<20} {spec}")
    for spec, text in (
            ("apache:<LogFormat>", "Any Apache LogFormat, e.g. 'apache:%h %l %u %t \"%r\" %>s %b'"),
            ("nginx:<log_format>", "Any nginx log_format, e.g. 'nginx:$remote_addr - "
                                   "$remote_user [$time_local] \"$request\" $status ...'"),
            ("w3c:<fields>", "W3C without a #Fields header, e.g. 'w3c:date time c-ip cs-method "
                             "cs-uri-stem sc-status'"),
            ("json:<field=key>", "JSON lines, e.g. 'json:client=remote_addr time=ts "
                                 "request=request status=status'")):
        click.echo(f"{spec:<20} {text}")


@cli.command()
@click.argument("path", metavar="FILE")
@json_option
def detect(path: str, as_json: bool) -> None:
    """Detect the log format of FILE from its first lines and say why.

    Prints the format `format = "auto"` would use and how many of the sampled lines each
    candidate reads. Exit code 2 when no format clearly wins (a mixed or unknown file).
    """
    import lzma
    import zlib

    from .detect import THRESHOLD, detect_file
    from .errors import InputError

    file = Path(path)
    if file.is_dir():
        raise InputError(f"{path} is a folder; give a log file.")
    if not file.is_file():
        raise InputError(f"No such file: {path}.")
    try:
        found = detect_file(file)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        # a damaged or truncated compressed file, or one this user may not read; the
        # error's class only, never content
        if isinstance(exc, OSError) and exc.strerror:
            why = exc.strerror
        elif isinstance(exc, EOFError):
            why = "it ends early (a truncated compressed file?)"
        else:
            why = f"its compressed data is damaged ({type(exc).__module__}.{type(exc).__name__})"
        raise InputError(f"Cannot read {path}: {why}.") from None
    if as_json:
        click.echo(json.dumps({
            "file": path, "format": found.format.name if found.format else None,
            "reason": found.reason, "sampled_lines": found.sampled,
            "candidates": [{"format": c.name, "matched": c.matched, "counted": c.judged,
                            "rate": round(c.rate, 4)} for c in found.candidates]}, indent=2))
    else:
        name = found.format.name if found.format else "(unknown)"
        click.echo(f"{path}: {name}")
        click.echo(f"  why: {found.reason}")
        click.echo(f"  sampled {found.sampled} lines; a format must read {THRESHOLD:.0%} of "
                   "the counted ones (blank, comment and header lines are not counted):")
        for c in [c for c in found.candidates if c.matched][:8]:
            click.echo(f"  {c.name:<20} {c.matched:>4} of {c.judged:<4} {c.rate:>5.0%}")
    if found.format is None and not found.no_lines:
        found.require(path)


@cli.command("config")
@json_option
@click.pass_context
def show_config(ctx: click.Context, as_json: bool) -> None:
    """Print the effective configuration and where it came from."""
    from .config import SETTINGS

    cfg = get_config(ctx)
    values = {s.name: getattr(cfg, s.attr) for s in SETTINGS}
    if as_json:
        click.echo(json.dumps({"config_file": cfg.config_file, **values}, indent=2, default=str))
        return
    click.echo(f"# config file: {cfg.config_file or '(built-in defaults)'}")
    for name, value in values.items():
        click.echo(f"{name} = {value if not isinstance(value, tuple) else list(value)}")


def main() -> None:
    from .errors import record_interrupts

    record_interrupts()  # so that Ctrl-C inside a DuckDB query stops the run (errors.py)
    cli(prog_name="weblog")


if __name__ == "__main__":  # pragma: no cover
    main()

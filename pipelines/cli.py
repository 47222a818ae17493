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
from .errors import WeblogError

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
        except WeblogError as exc:
            raise WeblogClickError(str(exc), exc.exit_code) from None


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-15.") from None


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
    retention.raw_days) and an anonymised DETAIL table, computes daily statistics in
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
    """Ingest access logs into the RAW tier and the DETAIL table.

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


# --------------------------------------------------------------------------- demo

@cli.command()
@as_of_option
@click.option("--days", default=14, show_default=True, help="Days of sample traffic.")
@click.pass_context
def demo(ctx: click.Context, as_of: dt.date | None, days: int) -> None:
    """Generate realistic sample logs and a synthetic GeoIP database, ingest them, and
    print what each tier holds and where to look next.

    Writes sample logs (Apache combined, +0900, rotated .gz files) to DATA_DIR/sample/ and
    SYNTHETIC GeoIP files for the documentation address ranges to DATA_DIR/geoip/.
    """
    from .demo import run_demo
    from .status import render_status

    cfg = get_config(ctx)
    info = run_demo(cfg, as_of=as_of, days=days, echo=click.echo)
    render_status(info, _console())
    click.echo(f"Next: `weblog status` shows this again; `weblog ingest PATH` adds your own logs; "
               f"the DETAIL table `requests` is in {info['warehouse']} (open it read-only with "
               "DuckDB); RAW Parquet files are under raw/ (owner-only).")


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
    from .detect import THRESHOLD, detect_file
    from .errors import InputError

    file = Path(path)
    if not file.is_file():
        raise InputError(f"No such file: {path}.")
    found = detect_file(file)
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
    cli(prog_name="weblog")


if __name__ == "__main__":  # pragma: no cover
    main()

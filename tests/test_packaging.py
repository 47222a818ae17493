"""What an installed wheel carries: the SQL models and the compiled splitter.

`pip install .` (not the editable install `make` uses) copies only packages and their
package data, so sql/ is mapped into the wheel as pipelines/sql/ (pyproject.toml) and
warehouse.SQL_DIR falls back to that copy when no checkout's sql/ sits beside the package.
"""
from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from pipelines import warehouse

REPO = Path(__file__).resolve().parent.parent


def test_sql_dir_is_the_checkouts_then_the_packages(tmp_path):
    package = tmp_path / "site" / "pipelines"
    (package / "sql" / "schema").mkdir(parents=True)
    assert warehouse._sql_dir(package) == package / "sql"  # an installed wheel
    (tmp_path / "site" / "sql" / "schema").mkdir(parents=True)
    assert warehouse._sql_dir(package) == tmp_path / "site" / "sql"  # a checkout
    assert warehouse.SQL_DIR == REPO / "sql"


def test_every_sql_file_template_and_style_is_in_the_wheel():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    config = pyproject["tool"]["setuptools"]
    assert config["package-dir"]["pipelines.sql"] == "sql"
    folders = {"pipelines.sql": REPO / "sql", "pipelines": REPO / "pipelines"}
    files = [("pipelines.sql", p.relative_to(REPO / "sql")) for p in (REPO / "sql").rglob("*")
             if p.is_file()]
    files += [("pipelines", p.relative_to(REPO / "pipelines"))
              for folder in ("templates", "static")
              for p in (REPO / "pipelines" / folder).iterdir()]
    assert len(files) > 30

    def carried(package: str, path: Path) -> bool:
        # the file's folder is a package of the wheel, and its name matches that package's data
        inner = ".".join((package, *path.parent.parts))
        patterns = config["package-data"].get(inner, [])
        return inner in config["packages"] and any(fnmatch.fnmatch(path.name, p) for p in patterns)

    assert all(folders[package].is_dir() for package, _ in files)
    missed = [f"{package}/{path}" for package, path in files if not carried(package, path)]
    assert missed == []


def test_the_compiled_splitter_is_built_from_a_tracked_source():
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert '"pipelines._fastsplit", ["pipelines/_fastsplit.c"]' in setup
    assert (REPO / "pipelines" / "_fastsplit.c").is_file()


def test_importing_weblog_keeps_numpy_to_one_blas_thread_unless_told_otherwise():
    import os
    import subprocess
    import sys

    show = "import pipelines, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    default = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
    chosen = subprocess.run([sys.executable, "-c", show], env={**env, "OPENBLAS_NUM_THREADS": "4"},
                            capture_output=True, text=True, check=True).stdout.strip()
    assert (default, chosen) == ("1", "4")

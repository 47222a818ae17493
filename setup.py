"""The one compiled module; everything else is in pyproject.toml.

pipelines/_fastsplit.c splits log lines into fields for the common formats without RE2
(pipelines.patterns falls back to RE2 when it is not built). It needs a C compiler and
Python's headers, which `make install` checks for.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("pipelines._fastsplit", ["pipelines/_fastsplit.c"],
                             extra_compile_args=["-O2"])])

"""The one thing pyproject.toml cannot say: the worker's pid 1 (C) is built on Linux only."""

import sys

from setuptools import Extension, setup

PID1 = Extension("sandboxd.linux.pid1", sources=["daemon/sandboxd/linux/pid1.c"],
                 extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"])

setup(ext_modules=[PID1] if sys.platform.startswith("linux") else [])

"""What every benchmark report starts with: the command and the machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import sys


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def command() -> str:
    return f"python {shlex.join(sys.argv)}"


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}; "
        f"Scrapy {version('scrapy')}, Twisted {version('twisted')}, "
        f"scrapy-tlsclient {version('scrapy-tlsclient')}"
    )

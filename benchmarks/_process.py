"""Measurements of the benchmark's own process (the child crawls of
files_pipeline.py and files_to_disk.py import it too: run_child_env puts
this directory on their path)."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def proc_status(field: str) -> int:
    """A field of /proc/self/status, in its unit (kB for the Vm* sizes)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mib() -> float:
    """Resident set size now (Python and the Go runtime share the process)."""
    return proc_status("VmRSS:") / 1024


def run_child_env() -> dict[str, str]:
    """The environment of a child crawl run with ``python -c``: this
    directory first on its path, for ``from _process import ...``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env

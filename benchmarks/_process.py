"""Measurements of the benchmark's own process."""

from __future__ import annotations


def rss_mib() -> float:
    """Resident set size now (Python and the Go runtime share the process)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")

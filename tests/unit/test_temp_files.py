"""Temporary files of the files pipeline and body_file: each process
removes only its own, and those of dead processes of its own machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scrapy_tlsclient._body_file import TAGGED_NAME, process_tag
from scrapy_tlsclient.pipelines import _sweep_own, _sweep_stale


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def make(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"partial")


def test_a_process_sweeps_exactly_its_own_files(tmp_path: Path) -> None:
    me, host = process_tag().split("@")
    longer = f"3{me}@{host}"  # process 312's files when this is process 12
    make(
        tmp_path,
        f"{me}@{host}-abc123",
        f".img.iso.part-{me}@{host}-00ff",
        f"{longer}-abc123",
        f".img.iso.part-{longer}-00ff",
        f"{me}@other.host-abc123",
        "unrelated.txt",
    )
    _sweep_own(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{longer}-abc123", f".img.iso.part-{longer}-00ff", f"{me}@other.host-abc123", "unrelated.txt"]
    )


def test_stale_files_are_only_those_of_dead_processes_of_this_machine(tmp_path: Path) -> None:
    host = process_tag().split("@")[1]
    dead, alive = dead_pid(), os.getppid()
    make(
        tmp_path,
        f"{dead}@{host}-aa",
        f".f.bin.part-{dead}@{host}-bb",
        f"{alive}@{host}-cc",
        f"{dead}@another.machine-dd",  # its process may well run there
        f"{os.getpid()}@{host}-ee",  # this process's own, in use
    )
    _sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{alive}@{host}-cc", f"{dead}@another.machine-dd", f"{os.getpid()}@{host}-ee"]
    )


def test_the_tag_parses_back() -> None:
    match = TAGGED_NAME.search(f".x.part-{process_tag()}-0a1b")
    assert match is not None and f"{match.group(1)}@{match.group(2)}" == process_tag()
    assert "-" not in process_tag()

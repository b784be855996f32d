"""The docs a newcomer reads first, rendered at 1280 px in a real headless
browser (Debian's Chromium): no code line is cut, wide tables fit, the
benchmark plots are shown near full size and link to their files, and the
footer names the copyright.

The checks run in the page (a script added to a copy of each page writes
what it measured into the DOM, which ``chromium --dump-dom`` prints); the
screenshots go to $DOCS_SCREENSHOTS, or a temporary directory, for a person
to look at. Without Chromium this test fails: CI installs it (.ci/run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 1280
PAGES = ["index", "quickstart", "benchmarks"]
#: A plot shown at less than this fraction of its pixels has labels too small to read.
LEGIBLE_SCALE = 0.75

CHECK = """
<script>
window.addEventListener("load", () => {
  const content = document.querySelector(".rst-content, div.body") || document.body;
  const overflows = (el) => el.scrollWidth > el.clientWidth + 1;
  const longest = (text) => text.split("\\n").reduce((a, b) => (a.length >= b.length ? a : b), "");
  const cut = [...content.querySelectorAll("pre, div.highlight")].filter(overflows)
    .map((el) => longest(el.textContent));
  const wide = [...content.querySelectorAll("table, .wy-table-responsive")].filter(overflows)
    .map((el) => el.className || el.tagName);
  const images = [...content.querySelectorAll("img")].map((img) => ({
    src: img.getAttribute("src"),
    natural: img.naturalWidth,
    shown: img.getBoundingClientRect().width,
    link: img.closest("a") ? img.closest("a").getAttribute("href") : null,
  }));
  const footer = document.querySelector("footer");
  const out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify({
    width: window.innerWidth, pre: content.querySelectorAll("pre").length, cut, wide, images,
    footer: footer ? footer.textContent.replace(/\\s+/g, " ").trim() : "",
  });
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("Chromium is needed to render the docs: apt-get install chromium (.ci/run installs it)")


def browse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    html = tmp_path_factory.mktemp("docs") / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(ROOT / "docs"), str(html)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return html


def measured(site: Path, page: str) -> dict[str, Any]:
    source = (site / f"{page}.html").read_text(encoding="utf-8")
    checked = site / f"{page}.render-check.html"  # beside the page, so relative links resolve
    checked.write_text(source.replace("</body>", CHECK + "</body>"), encoding="utf-8")
    result = browse(
        f"--window-size={WIDTH},1000", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()
    )
    found = re.search(r'<pre id="render-check">(.*?)</pre>', result.stdout, flags=re.DOTALL)
    assert found, result.stderr[-2000:]
    text = (
        found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    values: dict[str, Any] = json.loads(text)
    return values


@pytest.mark.parametrize("page", PAGES)
def test_page_at_1280_px_cuts_no_code_line(site: Path, page: str, tmp_path: Path) -> None:
    values = measured(site, page)
    assert values["width"] == WIDTH
    assert values["pre"] > 0
    assert values["cut"] == [], f"code lines cut at {WIDTH} px: {values['cut']}"
    assert values["wide"] == [], f"tables wider than the column: {values['wide']}"
    assert "© Copyright 2026, scrapy-tlsclient contributors" in values["footer"]
    shots = Path(os.environ.get("DOCS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"{page}-{WIDTH}.png"
    result = browse(f"--window-size={WIDTH},2400", f"--screenshot={shot}", (site / f"{page}.html").as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, result.stderr[-2000:]


def test_benchmark_plots_are_legible_and_link_to_full_size(site: Path) -> None:
    images = measured(site, "benchmarks")["images"]
    assert len(images) == 3
    for image in images:
        name = Path(image["src"]).name
        assert image["natural"] >= 800, image  # loaded, at the size it was made
        assert image["shown"] >= LEGIBLE_SCALE * image["natural"], image
        assert image["link"] is not None and image["link"].endswith(f"benchmarks/{name}"), image
        assert (site / image["link"]).is_file(), image

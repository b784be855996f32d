"""Sphinx configuration for scrapy-tlsclient."""

project = "scrapy-tlsclient"
author = "scrapy-tlsclient contributors"
copyright = "2026, scrapy-tlsclient contributors"  # noqa: A001 (the name Sphinx reads)
extensions: list[str] = []
exclude_patterns = ["_build", "_generated"]

# Scrapy's own documentation uses the Read the Docs theme: a reader moving
# between the two finds the same layout (the docs extra installs it).
html_theme = "sphinx_rtd_theme"
html_theme_options = {"navigation_depth": 2, "collapse_navigation": False}
html_static_path = ["_static"]
# Wider text column, so that code lines and the benchmark plots fit at
# 1280 px (tests/integration/test_docs_render.py checks both in Chromium).
html_css_files = ["layout.css"]
html_show_sourcelink = False

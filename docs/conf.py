"""Sphinx configuration for scrapy-tlsclient."""

project = "scrapy-tlsclient"
author = "scrapy-tlsclient contributors"
extensions: list[str] = []
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"

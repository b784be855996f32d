"""Docs are part of the feature: every setting and meta key the code reads
is in the reference tables, and every one there is read by the code."""

from __future__ import annotations

import re
from pathlib import Path

from scrapy_tlsclient._config import DEFAULT_SETTINGS
from scrapy_tlsclient._request_input import META_KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs"
SOURCE = Path(__file__).resolve().parents[2] / "scrapy_tlsclient"


def table_keys(page: str, pattern: str) -> set[str]:
    """Keys in the first column of the page's list-tables."""
    text = (DOCS / page).read_text()
    keys: set[str] = set()
    for cell in re.findall(r"^   \* - (.+)$", text, flags=re.MULTILINE):
        keys.update(re.findall(pattern, cell))
    return keys


def test_settings_reference_is_complete_and_exact() -> None:
    documented = table_keys("settings.rst", r"``(TLS_CLIENT_[A-Z0-9_]+)``")
    assert documented == set(DEFAULT_SETTINGS)


def test_meta_reference_is_complete_and_exact() -> None:
    documented = table_keys("meta.rst", r"``(tls_client_[a-z0-9_]+)``")
    assert documented == set(META_KEYS)


def test_every_key_the_code_mentions_is_known() -> None:
    source = "\n".join(path.read_text() for path in SOURCE.glob("*.py"))
    settings = set(re.findall(r"\"(TLS_CLIENT_[A-Z0-9_]+)\"", source))
    meta = set(re.findall(r"\"(tls_client_[a-z0-9_]+)\"", source))
    assert settings <= set(DEFAULT_SETTINGS)
    assert meta <= set(META_KEYS)

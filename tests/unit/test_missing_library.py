"""The message for a missing native library: a path set by hand is named
as such; the package's own missing library in a copy that shadows an
installed package names both copies (tests/integration/
test_shadowed_checkout.py runs that case for real)."""

from __future__ import annotations

from pathlib import Path

import scrapy_tlsclient
from scrapy_tlsclient.binding.library import LIBRARY_ENV_VAR
from scrapy_tlsclient.binding.missing import missing_library_message

INSTALLED = Path(scrapy_tlsclient.__file__).resolve().parent


def test_a_library_path_set_by_hand_is_named_with_the_ways_to_get_one(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "libtlsclient.so"
    bundled = tmp_path / "scrapy_tlsclient" / "_lib" / "libtlsclient.so"
    message = missing_library_message(missing, bundled, LIBRARY_ENV_VAR)
    assert message.startswith(f"tls-client library not found at {missing}. ")
    assert LIBRARY_ENV_VAR in message
    assert "source checkout" not in message


def test_a_copy_without_its_library_names_the_installed_package(tmp_path: Path) -> None:
    bundled = tmp_path / "scrapy_tlsclient" / "_lib" / "libtlsclient.so"
    message = missing_library_message(bundled, bundled, LIBRARY_ENV_VAR)
    assert message.splitlines() == [
        f"Python imported the source checkout {tmp_path / 'scrapy_tlsclient'}, which has no built library "
        f"({bundled} is missing), instead of the installed package {INSTALLED}.",
        f"Run from a directory other than {tmp_path}, or build the library into the checkout "
        "(pip install -e . there); docs/troubleshooting.rst.",
    ]

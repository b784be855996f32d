from __future__ import annotations

import pytest

from scrapy_tlsclient._profiles import check_profile

KNOWN = {"chrome_150", "chrome_152", "firefox_147", "safari_ios_18_5"}


def test_known_profile_passes() -> None:
    assert check_profile("firefox_147", KNOWN, "X") == "firefox_147"


def test_unknown_profile_names_the_key_and_close_matches() -> None:
    with pytest.raises(
        ValueError, match=r"tls_client_profile.*'chrome_15O'.*close matches: [a-z0-9_, ]*chrome_150"
    ):
        check_profile("chrome_15O", KNOWN, "The 'tls_client_profile' request meta key")


@pytest.mark.parametrize("bad", ["", None, 150, ["chrome_150"]])
def test_non_names_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="must be a non-empty profile name string"):
        check_profile(bad, KNOWN, "X")

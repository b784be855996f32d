"""``measureProfile`` through the binding and ``python -m scrapy_tlsclient
profiles NAME --measure``: what this machine's library puts on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scrapy_tlsclient.__main__ import main
from scrapy_tlsclient._config import DEFAULT_PROFILE
from scrapy_tlsclient._identities import load_identities, packaged_identity_files
from scrapy_tlsclient.binding import NativeLibrary, UnknownProfileError

CHROME_152_JA4 = "t13d1517h2_8daaf6152771_cb7bf5808d99"
CHROME_152_AKAMAI = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"


def test_measure_profile_gives_a_compiled_profiles_fingerprints(library: NativeLibrary) -> None:
    measured = library.measure_profile("chrome_152", shuffle=True)
    assert measured.ja4 == CHROME_152_JA4
    assert measured.akamai == CHROME_152_AKAMAI
    assert measured.http_version == "h2"
    assert len(measured.ja3n_hash) == 32 and measured.ja3 and measured.ja3n


def test_measure_profile_refuses_an_unknown_profile(library: NativeLibrary) -> None:
    with pytest.raises(UnknownProfileError):
        library.measure_profile("no_such_browser", shuffle=False)


def test_the_cli_measures_the_default_identity_as_published(capsys: pytest.CaptureFixture[str]) -> None:
    published = load_identities(packaged_identity_files())[DEFAULT_PROFILE].published
    assert published is not None, "the default identity must be verified"
    assert main(["profiles", DEFAULT_PROFILE, "--measure"]) == 0
    shown = capsys.readouterr().out
    assert f"measured JA4:     {published.ja4}  = published" in shown
    assert f"measured Akamai:  {published.akamai}  = published" in shown
    assert "DIFFERS" not in shown


def test_the_cli_says_when_a_measured_value_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [default] = (path for path in packaged_identity_files() if path.stem == DEFAULT_PROFILE)
    document = json.loads(default.read_text(encoding="utf-8"))
    document["name"] = "measure_check_chrome"
    document["published"]["ja4"] = "t13d1516h2_8daaf6152771_000000000000"
    path = tmp_path / "measure_check_chrome.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert main(["profiles", "measure_check_chrome", "--file", str(path), "--measure"]) == 1
    shown = capsys.readouterr().out
    assert "measured JA4:     t13d1517h2_8daaf6152771_cb7bf5808d99  DIFFERS from published" in shown
    assert "= published" in shown  # JA3N and Akamai still match


def test_the_cli_measures_only_a_named_identity(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["profiles", "--measure"])
    assert exit_info.value.code == 2
    assert "--measure needs an identity NAME" in capsys.readouterr().err

"""Identity files: every packaged one loads; each malformed field is
refused with the file and the field named; the CLI lists them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scrapy_tlsclient.__main__ import main
from scrapy_tlsclient._browsers import FAMILY_ORDERS
from scrapy_tlsclient._captures import identity_from_capture
from scrapy_tlsclient._config import DEFAULT_PROFILE
from scrapy_tlsclient._identities import (
    REQUEST_KINDS,
    IdentityFileError,
    load_identities,
    load_identity,
    packaged_identity_files,
)

PACKAGED = packaged_identity_files()


def test_every_packaged_identity_loads_with_every_kind() -> None:
    identities = load_identities(PACKAGED)
    assert DEFAULT_PROFILE in identities
    for identity in identities.values():
        assert set(identity.kinds) == set(REQUEST_KINDS)
        assert identity.sources


CAPTURES = Path(__file__).resolve().parents[2] / "native" / "captures"


@pytest.mark.parametrize(
    ("capture", "identity", "family"),
    [
        ("chromium-156.0.8078.114-linux-websocket.json", "chrome_156_linux", "chrome"),
        ("firefox-esr-153.8.0-linux-websocket.json", "firefox_153esr_linux", "firefox"),
    ],
)
def test_the_websocket_kind_is_the_captured_handshake(capture: str, identity: str, family: str) -> None:
    """The identity's WebSocket handshake is what the real browser sent
    (native/captures, the capture page's ``new WebSocket()``), converted
    as ``identity-from-capture`` converts every kind."""
    document = identity_from_capture(
        json.loads((CAPTURES / capture).read_text()),
        name=identity,
        family=family,
        platform="linux",
        mobile=False,
        order=list(FAMILY_ORDERS[family]),
        capture_path=capture,
    )
    packaged = json.loads((PACKAGED[0].parent / f"{identity}.json").read_text())
    assert packaged["headers"]["kinds"]["websocket"] == document["headers"]["kinds"]["websocket"]
    assert set(document["headers"]["http1_names"]) <= set(packaged["headers"]["http1_names"])


def test_a_capture_without_a_websocket_handshake_is_refused_naming_it() -> None:
    capture = json.loads((CAPTURES / "chromium-156.0.8078.114-linux.json").read_text())
    with pytest.raises(ValueError, match=r"no http/1\.1 request of kind websocket"):
        identity_from_capture(
            capture, name="x", family="chrome", platform="linux", mobile=False, order=[], capture_path="x"
        )


def edited(tmp_path: Path, edit: Any) -> Path:
    document = json.loads((PACKAGED[0].parent / "chrome_156_windows.json").read_text())
    edit(document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(format=2), "format"),
        (lambda d: d.update(name="Chrome 1"), "name"),
        (lambda d: d["browser"].update(family="netscape"), "browser.family"),
        (lambda d: d["browser"].update(platform="beos"), "browser.platform"),
        (lambda d: d["browser"].update(version="latest"), "browser.version"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["headers"]["kinds"].pop("image"), "headers.kinds.image"),
        (lambda d: d["headers"]["kinds"]["fetch"].append(["user-agent", "x"]), "headers.kinds.fetch[13]"),
        (lambda d: d["headers"]["kinds"]["fetch"].append(["X-Up", "x"]), "headers.kinds.fetch[13]"),
        (lambda d: d["headers"]["kinds"]["fetch"].append(["accept", None]), "headers.kinds.fetch[13]"),
        (lambda d: d["headers"]["kinds"]["fetch"].append(["accept", "*/*"]), "headers.kinds.fetch[13]"),
        (lambda d: d.update(client_hints=[]), "headers.kinds.navigation[1]"),
        (lambda d: d["headers"].update(order=["Accept"]), "headers.order"),
        (lambda d: d["headers"]["http1_names"].remove("Accept"), "headers.http1_names"),
        (lambda d: d["headers"].update(http2_only=["x-nothing"]), "headers.http2_only"),
        (lambda d: d["sources"][0].update(captured="yesterday"), "sources[0].captured"),
        (lambda d: d.update(published={"ja4": "x", "akamai": "y", "source": "z"}), "published.ja4"),
        (lambda d: d["tls"].update(shuffle_extensions="yes"), "tls.shuffle_extensions"),
        (lambda d: d["http2"].pop("settings"), "http2.settings"),
    ],
)
def test_malformed_fields_are_named(tmp_path: Path, edit: Any, field: str) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(IdentityFileError, match="^" + re.escape(f"{path}: field {field}: ")):
        load_identity(path)


def test_an_identity_round_trips_through_its_file(tmp_path: Path) -> None:
    identity = load_identity(edited(tmp_path, lambda d: d.update(name="my_chrome")))
    again = load_identity(edited(tmp_path, lambda d: d.update(name="my_chrome")))
    assert identity == again
    assert identity.wire["name"] == "my_chrome"


def test_the_cli_lists_every_identity_and_shows_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    for path in PACKAGED:
        assert path.stem in listing
    assert f"{DEFAULT_PROFILE} (default)" in listing
    assert main(["profiles", DEFAULT_PROFILE]) == 0
    shown = capsys.readouterr().out
    assert "published JA4:" in shown and "[download]" in shown
    assert main(["profiles", "nosuch"]) == 2
    assert main(["profiles", "--all"]) == 0
    every = capsys.readouterr().out
    assert DEFAULT_PROFILE in every and "chrome_131" in every

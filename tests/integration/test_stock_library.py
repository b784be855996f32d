"""A stock upstream library (PyPI tls-client 2.0.0 = v1.16.0) still serves
plain requests, and what it lacks is reported once, clearly."""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scrapy_tlsclient.binding import NativeDataLossError, NativeFeatureUnavailable, NativeLibrary

from conftest import Servers

STOCK_WHEEL = "tls-client==2.0.0"
STOCK_MEMBER = "tls_client/dependencies/tls-client-linux-ubuntu-amd64.so"


@pytest.fixture(scope="module")
def stock_library_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("stock")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", STOCK_WHEEL, "-d", str(target)],
        check=True,
        timeout=300,
    )
    (wheel,) = target.glob("*.whl")
    library = target / "upstream.so"
    with zipfile.ZipFile(wheel) as archive:
        library.write_bytes(archive.read(STOCK_MEMBER))
    return library


def test_stock_library_degrades_clearly(
    stock_library_path: Path, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scrapy_tlsclient"):
        library = NativeLibrary(stock_library_path)
    warnings = [r.getMessage() for r in caplog.records if r.name == "scrapy_tlsclient"]
    assert len(warnings) == 1
    assert "lacks the streaming exports" in warnings[0]
    assert not library.has_streaming
    assert not library.info.is_project_build

    response = library.request(
        {
            "requestUrl": f"{servers.h2}/bytes?n=1000",
            "requestMethod": "GET",
            "isByteResponse": True,
            "insecureSkipVerify": True,
            "sessionId": "stock",
        }
    )
    assert response.status == 200
    assert response.body == (bytes(range(256)) * 4)[:1000]

    with pytest.raises(NativeFeatureUnavailable, match="requestStream"):
        library.request_stream({"requestUrl": servers.h2, "requestMethod": "GET"})
    # The handler's transport: refused by the export's name.
    with pytest.raises(NativeFeatureUnavailable, match="no attachCompletionSocket export"):
        library.attach_socket("stock", 0)
    # Without errorCode, upstream's message text still maps to the class.
    with pytest.raises(NativeDataLossError):
        library.request(
            {
                "requestUrl": f"{servers.http}/truncate?declared=5000&send=2000",
                "requestMethod": "GET",
                "isByteResponse": True,
                "sessionId": "stock",
            }
        )


def test_a_crawl_on_a_stock_library_stops_at_start(stock_library_path: Path) -> None:
    """The handler and the middlewares need the completion socket and
    identities as data: a library without them is refused by the exports'
    names, before any request, instead of every request failing."""
    from scrapy.settings import Settings

    from scrapy_tlsclient import TLSClientSettingsError
    from scrapy_tlsclient._identity_registry import crawl_setup

    with pytest.raises(
        TLSClientSettingsError, match="it lacks attachCompletionSocket, registerProfiles, readStreamInto\\)"
    ):
        crawl_setup(Settings({"TLS_CLIENT_LIBRARY_PATH": str(stock_library_path)}))

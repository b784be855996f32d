"""The tls_client/... stats (docs/stats.rst)."""

from __future__ import annotations

import socket

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadConnectionRefusedError
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import stream_of
from scrapy_tlsclient._config import DEFAULT_PROFILE

from conftest import Servers
from handler_utils import open_handler


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@deferred_f_from_coro_f
async def test_requests_bytes_profiles_streams_and_errors_are_counted(servers: Servers) -> None:
    async with open_handler() as handler:
        stats = handler.crawler.stats
        await handler.download_request(Request(f"{servers.h2}/bytes?n=1000"))
        await handler.download_request(
            Request(f"{servers.h2}/bytes?n=500", meta={"tls_client_profile": "firefox_135"})
        )
        with pytest.raises(DownloadConnectionRefusedError):
            await handler.download_request(Request(f"https://127.0.0.1:{closed_port()}/"))
        request = Request(f"{servers.h2}/sse?events=3", meta={"tls_client_stream": True})
        response = await handler.download_request(request)
        response.request = request
        assert len([event async for event in stream_of(response).sse()]) == 3
        values = {key: value for key, value in stats.get_stats().items() if key.startswith("tls_client/")}
    assert values["tls_client/requests"] == 4
    assert values[f"tls_client/requests/profile/{DEFAULT_PROFILE}"] == 3
    assert values["tls_client/requests/profile/firefox_135"] == 1
    assert values["tls_client/response_bytes"] == 1500
    assert values["tls_client/errors/NativeConnectionRefusedError"] == 1
    assert values["tls_client/streams/opened"] == values["tls_client/streams/closed"] == 1

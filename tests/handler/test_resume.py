"""Resumable body_file downloads against the test server's /ranges
(native/testserver/ranges.go): a cut download keeps its bytes and the retry
asks for the rest with Range/If-Range; whatever the server answers, the
stored file is byte for byte the server's file, never a splice."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from scrapy import Request, signals
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
    StopDownload,
)
from scrapy.http import Response
from scrapy.utils.defer import deferred_f_from_coro_f

from scrapy_tlsclient import TLSClientDownloadHandler
from scrapy_tlsclient import handler as handler_module
from scrapy_tlsclient._event_loop import sleep, start
from scrapy_tlsclient._tail_hash import HashState, TailHasher

from conftest import Servers, pattern
from handler_utils import open_handler

MIB = 1 << 20

#: (server, through the HTTP proxy): HTTP/1.1 and HTTP/2 over TLS, directly
#: and through a CONNECT tunnel.
ROUTES = {
    "http1": ("https", False),
    "h2": ("h2", False),
    "http1-proxy": ("https", True),
    "h2-proxy": ("h2", True),
}


def version_bytes(n: int, version: int = 0) -> bytes:
    """What /ranges serves: byte i is (i + 101 * version) % 256."""
    shift = 101 * version % 256
    return pattern(n + shift)[shift:]


def unique_key(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def ranges_log(servers: Servers, key: str) -> dict[str, Any]:
    with urlopen(f"{servers.http}/ranges/log?key={key}", timeout=10) as answer:
        log: dict[str, Any] = json.load(answer)
    return log


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def stats_of(handler: TLSClientDownloadHandler) -> dict[str, Any]:
    stats = handler.crawler.stats
    assert stats is not None
    return stats.get_stats()


async def download_with_retries(
    handler: TLSClientDownloadHandler, request: Request, tries: int = 10
) -> tuple[Response, int]:
    """What RetryMiddleware does for these failures: the same request again
    (a copy, meta included). Returns the response and the failures."""
    for failures in range(tries):
        try:
            response = await handler.download_request(request)
            # As the engine does: response.meta is the request's.
            response.request = request
            return response, failures
        except (ResponseDataLossError, DownloadFailedError, DownloadTimeoutError):
            request = request.copy()
    pytest.fail(f"{request.url} still failed after {tries} attempts")


def request_for(servers: Servers, route: str, query: str, target: Path) -> Request:
    server, proxied = ROUTES[route]
    meta: dict[str, Any] = {"body_file": str(target)}
    if proxied:
        meta["proxy"] = servers.proxy
    return Request(f"{getattr(servers, server)}/ranges?{query}", meta=meta)


@pytest.mark.parametrize("route", list(ROUTES))
@deferred_f_from_coro_f
async def test_a_body_cut_three_times_is_resumed_to_the_exact_file(
    servers: Servers, tmp_path: Path, route: str
) -> None:
    n = 8 * MIB
    key = unique_key(f"cut3-{route}")
    target = tmp_path / "image.iso"
    async with open_handler() as handler:
        request = request_for(servers, route, f"key={key}&n={n}&cuts=3&seed=7", target)
        response, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures == 3
    assert target.read_bytes() == version_bytes(n)
    assert leftovers(tmp_path) == ["image.iso"]
    log = ranges_log(servers, key)
    requests = log["requests"]
    assert [r["cut"] for r in requests] == [True, True, True, False]
    # Each retry asked for exactly what was missing, with the strong ETag.
    offset, saved = 0, 0
    for before, after in itertools.pairwise(requests):
        offset += before["sent"]
        saved += offset  # each resume spared fetching the kept bytes again
        assert after["range"] == f"bytes={offset}-"
        assert after["if_range"] == '"v0"'
        assert after["status"] == 206
    assert log["sent"] == n < 1.1 * n
    assert stats["tls_client/body_file/resumed"] == 3
    assert stats["tls_client/body_file/kept"] == 3
    assert stats["tls_client/body_file/resumed_bytes"] == saved
    assert stats.get("tls_client/body_file/discarded") is None
    # The response is the whole file's, and says what it took.
    assert response.status == 200
    assert "resumed" in response.flags
    assert response.headers[b"Content-Length"] == str(n).encode()
    assert b"Content-Range" not in response.headers
    assert response.meta["tls_client_body_file_attempts"] == 4
    assert response.meta["tls_client_body_file_resumed_bytes"] == saved


@deferred_f_from_coro_f
async def test_a_download_that_times_out_is_resumed_by_the_next_attempt(
    servers: Servers, tmp_path: Path
) -> None:
    n = 3 * MIB
    key = unique_key("timeout")
    target = tmp_path / "slow.bin"
    async with open_handler() as handler:
        # 2 MiB/s with a 0.6 s deadline: each attempt gets about 1.2 MiB.
        request = request_for(servers, "h2", f"key={key}&n={n}&rate={2 * MIB}", target)
        request.meta["download_timeout"] = 0.6
        response, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures >= 1
    assert target.read_bytes() == version_bytes(n)
    requests = ranges_log(servers, key)["requests"]
    assert all(r["range"].startswith("bytes=") for r in requests[1:])
    assert stats["tls_client/body_file/resumed"] == len(requests) - 1 == failures
    assert response.meta["tls_client_body_file_attempts"] == failures + 1


@pytest.mark.parametrize("validator", ["etag", "lastmod"])
@pytest.mark.parametrize("route", ["h2", "http1-proxy"])
@deferred_f_from_coro_f
async def test_a_file_changed_between_attempts_is_stored_whole_in_its_new_version(
    servers: Servers, tmp_path: Path, validator: str, route: str
) -> None:
    n = 4 * MIB
    key = unique_key(f"changed-{validator}")
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        request = request_for(
            servers, route, f"key={key}&n={n}&cuts=1&change_after=1&validator={validator}", target
        )
        response, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures == 1
    # Version 1 whole: not version 0's kept bytes with version 1's rest.
    assert target.read_bytes() == version_bytes(n, 1)
    assert target.read_bytes() != version_bytes(n, 0)
    first, second = ranges_log(servers, key)["requests"]
    assert second["range"] == f"bytes={first['sent']}-"
    assert second["if_range"] == ('"v0"' if validator == "etag" else "Thu, 01 Jan 2026 00:00:00 GMT")
    assert second["status"] == 200  # If-Range failed: the whole new file
    assert stats["tls_client/body_file/restarted"] == 1
    assert "resumed" not in response.flags
    assert response.meta["tls_client_body_file_attempts"] == 2
    assert response.meta["tls_client_body_file_resumed_bytes"] == 0
    assert leftovers(tmp_path) == ["data.bin"]


@pytest.mark.parametrize(
    "server_kind",
    ["ranges=none", "ranges=silent", "validator=weak", "validator=none"],
)
@pytest.mark.parametrize("route", ["http1", "h2-proxy"])
@deferred_f_from_coro_f
async def test_without_range_support_or_strong_validator_the_retry_starts_from_zero(
    servers: Servers, tmp_path: Path, server_kind: str, route: str
) -> None:
    n = 2 * MIB
    key = unique_key("norange")
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        request = request_for(servers, route, f"key={key}&n={n}&cuts=1&{server_kind}", target)
        _, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures == 1
    assert target.read_bytes() == version_bytes(n)
    requests = ranges_log(servers, key)["requests"]
    assert [r["range"] for r in requests] == ["", ""]
    assert stats["tls_client/body_file/discarded"] == 1
    assert stats.get("tls_client/body_file/kept") is None
    assert leftovers(tmp_path) == ["data.bin"]


@pytest.mark.parametrize("bad", ["416", "wrong_range", "other_range"])
@pytest.mark.parametrize("route", ["http1", "h2", "http1-proxy", "h2-proxy"])
@deferred_f_from_coro_f
async def test_an_unusable_range_answer_starts_over_from_zero(
    servers: Servers, tmp_path: Path, bad: str, route: str
) -> None:
    n = 2 * MIB
    key = unique_key(f"bad-{bad}")
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        request = request_for(servers, route, f"key={key}&n={n}&cuts=1&bad={bad}", target)
        response, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures == 1
    assert target.read_bytes() == version_bytes(n)
    cut, refused, again = ranges_log(servers, key)["requests"]
    assert cut["cut"] and refused["range"] == f"bytes={cut['sent']}-"
    assert refused["status"] == (416 if bad == "416" else 206)
    # The same attempt sent the request again, without Range.
    assert again["range"] == "" and again["status"] == 200
    assert stats["tls_client/body_file/restarted"] == 1
    assert response.status == 200 and "resumed" not in response.flags
    assert leftovers(tmp_path) == ["data.bin"]


@deferred_f_from_coro_f
async def test_kept_bytes_are_removed_when_the_handler_closes(servers: Servers, tmp_path: Path) -> None:
    key = unique_key("always-cut")
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        request = request_for(servers, "h2", f"key={key}&n={MIB}&cuts=1000", target)
        with pytest.raises(ResponseDataLossError):
            await handler.download_request(request)
        (partial,) = leftovers(tmp_path)
        assert partial.startswith(".data.bin.part-")  # the process's tag: swept at exit too
        assert 0 < (tmp_path / partial).stat().st_size < MIB
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("how", ["maxsize", "stop_download", "closing"])
@deferred_f_from_coro_f
async def test_maxsize_stop_download_and_closing_leave_no_partial_file(
    servers: Servers, tmp_path: Path, how: str
) -> None:
    n = 4 * MIB
    key = unique_key(how)
    target = tmp_path / "data.bin"
    settings: dict[str, Any] = {"DOWNLOAD_MAXSIZE": MIB} if how == "maxsize" else {}
    # Slow enough that the crawl closes mid-body.
    rate = "&rate=1048576" if how == "closing" else ""
    async with open_handler(**settings) as handler:
        if how == "stop_download":

            def on_bytes(data: bytes, **_: object) -> None:
                raise StopDownload(fail=True)

            handler.crawler.signals.connect(on_bytes, signal=signals.bytes_received)
        request = request_for(servers, "h2", f"key={key}&n={n}{rate}", target)
        if how == "closing":
            started = start(handler.download_request(request))
            deadline = time.monotonic() + 10
            while not any(name.startswith(".data.bin.") for name in leftovers(tmp_path)):
                assert time.monotonic() < deadline
                await sleep(0.05)
            await sleep(0.3)
            await handler.close()
            with pytest.raises(DownloadCancelledError):
                await started
        else:
            with pytest.raises((DownloadCancelledError, StopDownload)):
                await handler.download_request(request)
        assert leftovers(tmp_path) == []
    assert leftovers(tmp_path) == []


@deferred_f_from_coro_f
async def test_with_a_resume_directory_the_next_crawl_resumes_and_stale_records_go(
    servers: Servers, tmp_path: Path
) -> None:
    n = 4 * MIB
    key = unique_key("persistent")
    records = tmp_path / "records"
    files = tmp_path / "files"
    files.mkdir()
    target = files / "data.bin"
    query = f"key={key}&n={n}&cuts=1&seed=3"
    async with open_handler(TLS_CLIENT_RESUME_DIR=str(records)) as first:
        with pytest.raises(ResponseDataLossError):
            await first.download_request(request_for(servers, "h2", query, target))
    # The crawl ended: the bytes and their record stay for the next one.
    (partial,) = leftovers(files)
    assert partial.startswith(".data.bin.resume-")
    (record,) = records.iterdir()
    kept = (files / partial).stat().st_size
    async with open_handler(TLS_CLIENT_RESUME_DIR=str(records)) as second:
        request = request_for(servers, "h2", query, target)
        await second.download_request(request)
    assert target.read_bytes() == version_bytes(n)
    assert ranges_log(servers, key)["requests"][1]["range"] == f"bytes={kept}-"
    assert request.meta["tls_client_body_file_resumed_bytes"] == kept
    assert leftovers(files) == ["data.bin"]
    assert list(records.iterdir()) == []

    # A record older than TLS_CLIENT_RESUME_MAX_AGE goes, with its bytes,
    # when a handler starts.
    stale_key = unique_key("stale")
    async with open_handler(TLS_CLIENT_RESUME_DIR=str(records)) as third:
        with pytest.raises(ResponseDataLossError):
            await third.download_request(
                request_for(servers, "h2", f"key={stale_key}&n={n}&cuts=1", files / "old.bin")
            )
    (record,) = records.iterdir()
    long_ago = time.time() - 3600
    os.utime(record, (long_ago, long_ago))
    assert len(leftovers(files)) == 2
    async with open_handler(TLS_CLIENT_RESUME_DIR=str(records), TLS_CLIENT_RESUME_MAX_AGE=600):
        pass
    assert leftovers(files) == ["data.bin"]
    assert list(records.iterdir()) == []


@deferred_f_from_coro_f
async def test_tls_client_resume_false_starts_over(servers: Servers, tmp_path: Path) -> None:
    key = unique_key("off")
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        request = request_for(servers, "h2", f"key={key}&n={MIB}&cuts=1", target)
        request.meta["tls_client_resume"] = False
        await download_with_retries(handler, request)
    assert target.read_bytes() == version_bytes(MIB)
    assert [r["range"] for r in ranges_log(servers, key)["requests"]] == ["", ""]


@pytest.mark.parametrize(
    ("route", "algorithm", "path"),
    [
        # The library writes the file; three cuts resumed.
        ("http1", "md5", "ranges?key={key}&n=6291456&cuts=3"),
        ("h2-proxy", "sha256", "ranges?key={key}&n=6291456&cuts=3"),
        # Python writes the decoded body.
        ("h2", "md5", "gzip?n=6291456"),
    ],
)
@deferred_f_from_coro_f
async def test_the_digest_is_of_the_stored_file(
    servers: Servers, tmp_path: Path, route: str, algorithm: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[bool] = []  # whether each attempt's hasher went on from a state

    class Recording(TailHasher):
        def __init__(self, path: str, algorithm: str, state: HashState | None = None) -> None:
            super().__init__(path, algorithm, state)
            given.append(state is not None)

    monkeypatch.setattr(handler_module, "TailHasher", Recording)
    server, proxied = ROUTES[route]
    target = tmp_path / "data.bin"
    meta: dict[str, Any] = {"body_file": str(target), "tls_client_body_file_hash": algorithm}
    if proxied:
        meta["proxy"] = servers.proxy
    url = f"{getattr(servers, server)}/{path.format(key=unique_key('digest'))}"
    async with open_handler() as handler:
        response, failures = await download_with_retries(handler, Request(url, meta=meta))
    assert failures == (3 if "cuts" in path else 0)
    assert target.read_bytes() == pattern(6291456)
    if "cuts" in path:
        # Each resume hashed on from the kept bytes' hash, not from zero.
        assert given == [False, True, True, True]
    assert (
        response.meta["tls_client_body_file_digest"] == hashlib.new(algorithm, pattern(6291456)).hexdigest()
    )


@deferred_f_from_coro_f
async def test_with_a_resume_directory_closing_mid_body_keeps_the_bytes(
    servers: Servers, tmp_path: Path
) -> None:
    n = 4 * MIB
    key = unique_key("closing-kept")
    records = tmp_path / "records"
    files = tmp_path / "files"
    files.mkdir()
    target = files / "data.bin"
    query = f"key={key}&n={n}&rate={MIB}"
    async with open_handler(TLS_CLIENT_RESUME_DIR=str(records)) as handler:
        started = start(handler.download_request(request_for(servers, "h2", query, target)))
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size for p in files.glob(".data.bin.resume-*")):
            assert time.monotonic() < deadline
            await sleep(0.05)
        await handler.close()  # the crawl stopping, gracefully
        with pytest.raises(DownloadCancelledError):
            await started
    (partial,) = files.iterdir()
    assert partial.name.startswith(".data.bin.resume-") and 0 < partial.stat().st_size < n
    assert len(list(records.iterdir())) == 1


@deferred_f_from_coro_f
async def test_progress_lines_name_the_label_and_tick_while_the_body_stalls(
    servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "stalled.bin"
    caplog.set_level(logging.INFO, logger="scrapy_tlsclient")
    async with open_handler(TLS_CLIENT_PROGRESS_INTERVAL=0.3) as handler:
        # Headers now, the 10 bytes of the body after 2.5 s.
        url = f"{servers.h2}/slowbody?delay_ms=2500&n=10"
        meta = {"body_file": str(target), "tls_client_body_file_label": "store/full/stalled.bin"}
        await handler.download_request(Request(url, meta=meta))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Downloading ")]
    # The reads wake up each second: a line per second or so while nothing comes.
    stalled = [line for line in lines if ": 0.0 of 0.0 MiB (0%), 0.0 MiB/s" in line]
    assert len(stalled) >= 2, lines
    assert all(" to store/full/stalled.bin: " in line for line in lines)
    assert target.read_bytes() == b"x" * 10


@pytest.mark.parametrize("route", ["http1", "h2-proxy"])
@deferred_f_from_coro_f
async def test_a_coded_body_is_never_resumed_nor_spliced(
    servers: Servers, tmp_path: Path, route: str
) -> None:
    n = 2 * MIB
    target = tmp_path / "data.bin"
    async with open_handler() as handler:
        # Every answer gzip-coded: the file holds the decoded body, which a
        # range of the coded bytes cannot continue; the retry starts over.
        coded = unique_key("coded")
        request = request_for(servers, route, f"key={coded}&n={n}&cuts=1&encoding=gzip", target)
        _, failures = await download_with_retries(handler, request)
        assert failures == 1
        assert target.read_bytes() == version_bytes(n)
        assert [r["range"] for r in ranges_log(servers, coded)["requests"]] == ["", ""]
        # Identity bytes kept, then the range answered gzip-coded: the kept
        # bytes are dropped and the request sent again without Range.
        switched = unique_key("coded-range")
        request = request_for(servers, route, f"key={switched}&n={n}&cuts=1&encoding=gzip_ranges", target)
        _, failures = await download_with_retries(handler, request)
        stats = stats_of(handler)
    assert failures == 1
    assert target.read_bytes() == version_bytes(n)
    cut, coded_range, again = ranges_log(servers, switched)["requests"]
    assert coded_range["range"] == f"bytes={cut['sent']}-" and coded_range["status"] == 206
    assert again["range"] == "" and again["status"] == 200
    assert stats["tls_client/body_file/kept"] == 1
    assert stats["tls_client/body_file/restarted"] == 1
    assert leftovers(tmp_path) == ["data.bin"]

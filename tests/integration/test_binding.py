"""The binding against the real library and real loopback servers."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scrapy_tlsclient.binding import (
    BodyMemory,
    NativeCancelledError,
    NativeConnectionRefusedError,
    NativeDataLossError,
    NativeInputError,
    NativeInvalidURLError,
    NativeLibrary,
    NativeResponse,
    NativeTimeoutError,
    RequestInput,
    UnknownProfileError,
)

from conftest import Servers, pattern, run_python


def request_input(url: str, **extra: object) -> RequestInput:
    base: dict[str, object] = {
        "requestUrl": url,
        "requestMethod": "GET",
        "isByteResponse": True,
        "rawBody": True,
        "insecureSkipVerify": True,
        "sessionId": "binding-tests",
    }
    base.update(extra)
    return base  # type: ignore[return-value]


def drain(library: NativeLibrary, stream_id: str, limit_s: float = 60) -> bytes:
    parts: list[bytes] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        read = library.read_stream(stream_id, timeout_ms=500, max_bytes=1 << 20)
        if read.eof:
            return b"".join(parts)
        parts.append(read.chunk)
    pytest.fail(f"stream {stream_id} did not end within {limit_s} s")


@pytest.mark.parametrize("size", [0, 256, 50 * 1024 * 1024])
def test_binary_bodies_byte_exact(library: NativeLibrary, servers: Servers, size: int) -> None:
    for name, base in servers.all().items():
        response = library.request(request_input(f"{base}/bytes?n={size}"))
        assert response.status == 200, name
        assert response.body == pattern(size), name


def test_gzip_raw_when_asked(library: NativeLibrary, servers: Servers) -> None:
    for name, base in servers.all().items():
        raw = library.request(request_input(f"{base}/gzip?n=4096", headersList=[["Accept-Encoding", "gzip"]]))
        assert ("Content-Encoding", "gzip") in raw.headers, name
        assert gzip.decompress(raw.body) == pattern(4096), name
        decoded = library.request(request_input(f"{base}/gzip?n=4096", rawBody=False))
        assert decoded.body == pattern(4096), name
        assert all(header != "Content-Encoding" for header, _ in decoded.headers), name


def test_exact_header_block_and_connection_details(library: NativeLibrary, servers: Servers) -> None:
    headers = [["X-B", "2"], ["x-a", "1"], ["User-Agent", "probe/1"]]
    response = library.request(request_input(f"{servers.http}/echo", headersList=headers))
    echo = json.loads(response.body)
    sent = [(name, value) for name, value in echo["headers"] if name.lower() != "host"]
    assert sent == [("X-B", "2"), ("x-a", "1"), ("User-Agent", "probe/1")]
    h2 = library.request(request_input(f"{servers.h2}/bytes?n=1", withPeerCertificate=True))
    assert h2.protocol == "HTTP/2.0"
    assert h2.remote_address is not None and h2.remote_address.startswith("127.0.0.1:")
    assert h2.tls is not None and h2.tls.negotiated_protocol == "h2"
    assert h2.tls.peer_certificate_der is not None and h2.tls.peer_certificate_der[0] == 0x30


def start(library: NativeLibrary, url: str, **extra: object) -> NativeResponse:
    response = library.request_stream(request_input(url, **extra))
    assert response.stream_id
    return response


def test_read_stream_timeout_semantics(library: NativeLibrary, servers: Servers) -> None:
    stream = start(library, f"{servers.h2}/stream?chunks=2&size=10&interval_ms=700")
    assert stream.stream_id is not None
    assert library.read_stream(stream.stream_id, timeout_ms=-1).chunk == b"a" * 10
    began = time.monotonic()
    assert library.read_stream(stream.stream_id, timeout_ms=0).timeout
    assert time.monotonic() - began < 0.1
    began = time.monotonic()
    assert library.read_stream(stream.stream_id, timeout_ms=150).timeout
    assert 0.14 <= time.monotonic() - began < 0.6
    assert library.read_stream(stream.stream_id, timeout_ms=-1).chunk == b"b" * 10
    assert library.read_stream(stream.stream_id, timeout_ms=-1).eof
    with pytest.raises(NativeInputError, match="unknown streamId"):
        library.read_stream(stream.stream_id, timeout_ms=0)


def test_cancel_mid_stream_twice(library: NativeLibrary, servers: Servers) -> None:
    stream = start(library, f"{servers.h2}/sse?events=0&interval_ms=20")
    assert stream.stream_id is not None
    assert library.read_stream(stream.stream_id, timeout_ms=5000).chunk.startswith(b"id: 0")
    library.cancel_stream(stream.stream_id)
    library.cancel_stream(stream.stream_id)
    with pytest.raises(NativeInputError):
        library.read_stream(stream.stream_id, timeout_ms=0)


def test_cancel_before_headers(library: NativeLibrary, servers: Servers) -> None:
    errors: list[BaseException] = []

    def waiting() -> None:
        try:
            library.request_stream(request_input(f"{servers.h2}/slow?delay_ms=20000", streamId="py-waiting"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiting)
    thread.start()
    time.sleep(0.3)
    began = time.monotonic()
    library.cancel_stream("py-waiting")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - began < 3
    assert len(errors) == 1 and isinstance(errors[0], NativeCancelledError)


def test_read_stream_all_after_some_chunks(library: NativeLibrary, servers: Servers) -> None:
    stream = start(library, f"{servers.https}/bytes?n=300000&chunked=1", streamOutputBlockSize=1000)
    assert stream.stream_id is not None
    head = library.read_stream(stream.stream_id, timeout_ms=-1).chunk
    rest = library.read_stream_all(stream.stream_id)
    assert head + rest.body == pattern(300000)


def test_paused_consumer_gets_every_byte(library: NativeLibrary, servers: Servers) -> None:
    size = 8 * 1024 * 1024
    stream = start(library, f"{servers.h2}/bytes?n={size}", streamBufferChunks=2, timeoutMilliseconds=-1)
    assert stream.stream_id is not None
    head = library.read_stream(stream.stream_id, timeout_ms=-1).chunk
    time.sleep(3)  # the library has no internal give-up timer; the pump waits
    assert head + drain(library, stream.stream_id) == pattern(size)


def test_reads_into_body_memory_fill_it_in_place(library: NativeLibrary, servers: Servers) -> None:
    size = 5 * 1024 * 1024 + 3
    for name, base in servers.all().items():
        stream = start(library, f"{base}/bytes?n={size}")
        assert stream.stream_id is not None
        memory = BodyMemory(size)
        memory.append(stream.body)  # the start that came with the headers
        deadline = time.monotonic() + 30
        while memory.room:
            assert time.monotonic() < deadline, name
            read = library.read_stream(stream.stream_id, timeout_ms=500, into=memory)
            assert not read.chunk, name
            memory.wrote(read.written)
        assert library.read_stream(stream.stream_id, timeout_ms=500).eof, name
        body = memory.body()
        assert body == pattern(size), name
        assert memory.body() is body, name


def test_truncated_stream_is_an_error_not_eof(library: NativeLibrary, servers: Servers) -> None:
    stream = start(library, f"{servers.http}/truncate?declared=100000&send=5000")
    assert stream.stream_id is not None
    with pytest.raises(NativeDataLossError):
        drain(library, stream.stream_id, limit_s=10)


def test_stream_to_file_exact_and_replaced(library: NativeLibrary, servers: Servers, tmp_path: Path) -> None:
    target = tmp_path / "body.bin"
    target.write_bytes(b"stale" * 50000)
    for _ in range(2):
        response = library.request(
            request_input(f"{servers.h2}/bytes?n=100000", streamOutputPath=str(target))
        )
        assert response.body == b""
        assert response.body_bytes == 100000
        assert target.read_bytes() == pattern(100000)


def test_timeouts(library: NativeLibrary, servers: Servers) -> None:
    began = time.monotonic()
    with pytest.raises(NativeTimeoutError):
        library.request(request_input(f"{servers.h2}/slow?delay_ms=5000", timeoutMilliseconds=300))
    assert time.monotonic() - began < 2
    ok = library.request(request_input(f"{servers.h2}/slowbody?delay_ms=1200", timeoutMilliseconds=-1))
    assert ok.status == 200


def test_negative_timeout_outlives_a_deadline_the_response_exceeds(
    library: NativeLibrary, servers: Servers
) -> None:
    # The 30 s default deadline itself is exercised by the Go tests
    # (TestTimeouts lowers it); here: a 1 s deadline fails the slow body,
    # -1 on the same session lets it finish.
    slow = request_input(f"{servers.h2}/slowbody?delay_ms=1500", sessionId="negative-timeout")
    with pytest.raises(NativeTimeoutError):
        library.request({**slow, "timeoutSeconds": 1})
    assert library.request({**slow, "timeoutSeconds": -1}).status == 200


def test_sslkeylogfile_gets_key_lines(servers: Servers, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    script = f"""
from scrapy_tlsclient.binding import get_library
lib = get_library()
r = lib.request({{"requestUrl": "{servers.h2}/bytes?n=1", "requestMethod": "GET", "insecureSkipVerify": True,
                 "sessionId": "k"}})
assert r.status == 200
"""
    env = dict(os.environ, SSLKEYLOGFILE=str(keylog))
    assert run_python(script, env=env).returncode == 0
    text = keylog.read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in text or "CLIENT_RANDOM" in text
    # Unset: nothing is written anywhere.
    env.pop("SSLKEYLOGFILE")
    before = keylog.stat().st_size
    assert run_python(script, env=env).returncode == 0
    assert keylog.stat().st_size == before


def test_unknown_profile_lists_valid_names(library: NativeLibrary, servers: Servers) -> None:
    with pytest.raises(UnknownProfileError) as info:
        library.request(request_input(f"{servers.http}/", tlsClientIdentifier="chrome_15O"))
    assert "close matches: chrome_150" in info.value.message
    assert "firefox_147" in info.value.message
    assert library.info.default_profile in library.info.profiles


@pytest.mark.parametrize(
    ("bad_input", "error"),
    [
        ({"requestUrl": 5, "requestMethod": "GET"}, NativeInputError),
        ({"requestMethod": "GET"}, NativeInputError),
        ({"requestUrl": "http://127.0.0.1/"}, NativeInputError),
        ({"requestUrl": "ftp://127.0.0.1/x", "requestMethod": "GET"}, NativeInvalidURLError),
        ({"requestUrl": "ht!tp://bad url", "requestMethod": "GET"}, NativeInvalidURLError),
        ({"requestUrl": "http://127.0.0.1:1/", "requestMethod": "GET"}, NativeConnectionRefusedError),
    ],
)
def test_bad_input_is_an_error_envelope(
    library: NativeLibrary, bad_input: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        library.request(bad_input)  # type: ignore[arg-type]


def test_malformed_json_is_an_error_envelope(library: NativeLibrary) -> None:
    for export in (
        "request",
        "requestStream",
        "readStream",
        "readStreamAll",
        "cancelStream",
        "destroySession",
    ):
        pointer = getattr(library._lib, export)(b"{not json")
        envelope = json.loads(library._ffi.string(pointer))
        library._lib.freeMemory(envelope["id"].encode())
        assert envelope["status"] == 0 and envelope["errorCode"] == "invalid_input", export


def test_many_threads_share_the_library(library: NativeLibrary, servers: Servers) -> None:
    def one(i: int) -> bytes:
        base = [servers.http, servers.https, servers.h2][i % 3]
        return library.request(request_input(f"{base}/bytes?n={i}", sessionId=f"thread-{i % 4}")).body

    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(pool.map(one, range(600)))
    assert bodies == [pattern(i) for i in range(600)]


def test_every_buffer_is_freed(library: NativeLibrary, servers: Servers) -> None:
    library.request(request_input(f"{servers.http}/bytes?n=10"))
    stream = start(library, f"{servers.http}/bytes?n=10")
    assert stream.stream_id is not None
    drain(library, stream.stream_id)
    with pytest.raises(NativeTimeoutError):
        library.request(request_input(f"{servers.http}/slow?delay_ms=2000", timeoutMilliseconds=50))
    assert library.outstanding_buffers() == 0
    stats = library.stats()
    assert stats["streamsOpen"] == 0 and stats["callsInFlight"] == 0


def test_destroy_all_releases_everything(library: NativeLibrary, servers: Servers) -> None:
    for i in range(3):
        start(library, f"{servers.h2}/sse?events=0&interval_ms=50", sessionId=f"destroy-{i}")
    library.destroy_all()
    stats = library.stats()
    assert stats["streamsOpen"] == 0 and stats["callsInFlight"] == 0 and stats["sessions"] == 0


FORK_AFTER_USE = """
import os, sys
from scrapy_tlsclient.binding.library import NativeLibraryError, load_library

library = load_library()
library.stats()  # the Go runtime runs in this process now
pid = os.fork()
if pid == 0:
    try:
        load_library().stats()
    except NativeLibraryError as exc:
        print("refused:", exc, flush=True)
        os._exit(0)
    os._exit(3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_child_forked_after_the_library_ran_is_refused_not_hung() -> None:
    result = run_python(FORK_AFTER_USE)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: the tls-client library was loaded in process" in result.stdout
    assert "'spawn'" in result.stdout

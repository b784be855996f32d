"""Body bytes as native buffers (docs/abi.rst, "Binary bodies"): exact
bytes, and every buffer freed once whether it was taken or not."""

from __future__ import annotations

import ctypes
import json
import socket
import threading
import time
from typing import Any

import pytest

from scrapy_tlsclient.binding import NativeCancelledError, NativeInputError, NativeLibrary, RequestInput
from scrapy_tlsclient.binding.library import FRAME_BODY_MAX
from scrapy_tlsclient.binding.socket_frames import (
    TAKE_BUFFER,
    CompletionFrame,
    CompletionFrameReader,
    FrameBody,
    submission_frames,
)

from conftest import Servers, pattern

SIZE = 5 * 1024 * 1024 + 12345  # a few MiB, not a multiple of any block


def request_input(url: str, **extra: object) -> RequestInput:
    base: dict[str, object] = {
        "requestUrl": url,
        "requestMethod": "GET",
        "isByteResponse": True,
        "rawBody": True,
        "insecureSkipVerify": True,
        "sessionId": "binary-reads",
        "timeoutMilliseconds": -1,
    }
    base.update(extra)
    return base  # type: ignore[return-value]


def drain(library: NativeLibrary, stream_id: str, *, binary: bool | None = None) -> bytes:
    parts: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        read = library.read_stream(stream_id, timeout_ms=1000, max_bytes=512 * 1024, binary=binary)
        if read.eof:
            return b"".join(parts)
        assert isinstance(read.chunk, bytes)
        parts.append(read.chunk)
    pytest.fail(f"stream {stream_id} did not end within 60 s")


def assert_all_freed(library: NativeLibrary) -> None:
    outstanding = library.outstanding_buffers()
    stats = library.stats()
    # What else was running, should another thread's call be the one counted.
    threads = sorted(thread.name for thread in threading.enumerate())
    assert outstanding == 0, f"{outstanding} outstanding; {stats}; threads {threads}"
    assert stats["untakenBuffers"] == 0 and stats["untakenBufferBytes"] == 0


def test_the_library_has_binary_reads(library: NativeLibrary) -> None:
    assert library.has_binary
    assert library.read_stream_input("s", 0, 10)["binary"] is True
    assert "binary" not in library.read_stream_input("s", 0, 10, binary=False)


@pytest.mark.parametrize("transport", ["http1", "https1", "h2"])
def test_binary_stream_reads_are_byte_exact(library: NativeLibrary, servers: Servers, transport: str) -> None:
    base = servers.all()[transport]
    stream = library.request_stream(request_input(f"{base}/bytes?n={SIZE}"))
    assert stream.stream_id is not None
    assert drain(library, stream.stream_id) == pattern(SIZE)
    assert_all_freed(library)


def test_binary_and_base64_reads_give_the_same_bytes(library: NativeLibrary, servers: Servers) -> None:
    stream = library.request_stream(request_input(f"{servers.h2}/bytes?n={SIZE}", streamOutputBlockSize=4096))
    assert stream.stream_id is not None
    parts: list[bytes] = []
    for i in range(2000):
        read = library.read_stream(stream.stream_id, timeout_ms=1000, max_bytes=100_000, binary=i % 2 == 0)
        if read.eof:
            break
        parts.append(read.chunk)
    assert b"".join(parts) == pattern(SIZE)
    assert_all_freed(library)


def test_prefetched_body_comes_as_a_buffer(library: NativeLibrary, servers: Servers) -> None:
    whole = library.request_stream(
        request_input(
            f"{servers.h2}/bytes?n=3000", binaryBody=True, prefetchBytes=65536, prefetchTimeoutMs=2000
        )
    )
    assert whole.eof and whole.stream_id is None and whole.body == pattern(3000)
    head = library.request_stream(
        request_input(
            f"{servers.https}/bytes?n={SIZE}", binaryBody=True, prefetchBytes=65536, prefetchTimeoutMs=2000
        )
    )
    assert head.stream_id is not None and 0 < len(head.body) <= 65536
    assert head.body + drain(library, head.stream_id) == pattern(SIZE)
    assert_all_freed(library)


def test_whole_responses_with_binary_body(library: NativeLibrary, servers: Servers) -> None:
    response = library.request(request_input(f"{servers.h2}/bytes?n={SIZE}", binaryBody=True))
    assert response.body == pattern(SIZE)
    empty = library.request(request_input(f"{servers.h2}/bytes?n=0", binaryBody=True))
    assert empty.status == 200 and empty.body == b""
    stream = library.request_stream(request_input(f"{servers.http}/bytes?n=300000", binaryBody=True))
    assert stream.stream_id is not None
    first = library.read_stream(stream.stream_id, timeout_ms=5000).chunk
    assert first + library.read_stream_all(stream.stream_id).body == pattern(300000)
    assert_all_freed(library)


class _Socket:
    """The caller's end of a completion socket, driven by hand: what
    CompletionDispatcher does on the event loop, in a test's own thread."""

    def __init__(self, library: NativeLibrary, queue: str, frame_body_max: int = FRAME_BODY_MAX) -> None:
        self.library, self.queue = library, queue
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            library.attach_socket(queue, theirs.fileno(), frame_body_max)
        finally:
            theirs.close()
        self.sock.settimeout(10)
        self.frames = CompletionFrameReader()
        self.ready: list[CompletionFrame] = []

    def submit(self, op: str, ticket: str, payload: object) -> None:
        document = self.library.submit_document(self.queue, op, ticket, payload)
        for piece in submission_frames([(document, b"")]):
            self.sock.sendall(piece)

    def next(self) -> tuple[dict[str, Any], FrameBody]:
        while not self.ready:
            data = self.sock.recv(1 << 20)
            assert data, "the library closed the socket"
            self.ready.extend(self.frames.feed(data))
        encoded, body = self.ready.pop(0)
        completion: dict[str, Any] = json.loads(encoded)
        return completion["result"], body

    def close(self) -> None:
        self.library.drop_queue(self.queue)
        self.sock.close()


def test_completion_path_takes_every_buffer(library: NativeLibrary, servers: Servers) -> None:
    # What CompletionDispatcher does: submit with the binary flags, read the
    # frames, decode (which takes a buffer the frame did not carry).
    end = _Socket(library, "binary-reads")
    start = request_input(
        f"{servers.h2}/bytes?n={SIZE}", binaryBody=True, prefetchBytes=65536, prefetchTimeoutMs=2000
    )
    end.submit("requestStream", "start", start)
    head = library.decode_response(*end.next())
    assert head.stream_id is not None
    body = [head.body]
    while True:
        end.submit("readStream", "read", library.read_stream_input(head.stream_id, 1000, 512 * 1024, True))
        read = library.decode_stream_read(*end.next())
        if read.eof:
            break
        body.append(read.chunk)
    assert b"".join(body) == pattern(SIZE)
    end.close()
    assert_all_freed(library)


def test_cancel_mid_body_leaves_nothing(library: NativeLibrary, servers: Servers) -> None:
    stream = library.request_stream(request_input(f"{servers.h2}/bytes?n={256 * 1024 * 1024}"))
    assert stream.stream_id is not None
    for _ in range(3):
        assert library.read_stream(stream.stream_id, timeout_ms=5000, max_bytes=512 * 1024).chunk
    library.cancel_stream(stream.stream_id)
    with pytest.raises(NativeInputError, match="unknown streamId"):
        library.read_stream(stream.stream_id, timeout_ms=0)
    assert_all_freed(library)
    stats = library.stats()
    assert stats["streamsOpen"] == 0 and stats["callsInFlight"] == 0


def untaken_chunk(library: NativeLibrary, stream_id: str) -> str:
    """A binary read whose buffer is left in the library."""
    envelope = library._call("readStream", {"streamId": stream_id, "timeoutMs": 5000, "binary": True})
    assert envelope["chunkBuffer"] and envelope["chunkLength"] > 0 and not envelope["chunk"]
    return str(envelope["chunkBuffer"])


def test_destroy_all_releases_untaken_buffers(library: NativeLibrary, servers: Servers) -> None:
    ids = []
    for i in range(3):
        stream = library.request_stream(
            request_input(f"{servers.h2}/bytes?n={SIZE}", sessionId=f"untaken-{i}")
        )
        assert stream.stream_id is not None
        ids.append(untaken_chunk(library, stream.stream_id))
    assert library.outstanding_buffers() == 3
    assert library.stats()["untakenBuffers"] == 3
    library.destroy_all()
    assert_all_freed(library)
    with pytest.raises(NativeCancelledError, match="released"):
        library.take_buffer(ids[0])


def test_free_memory_releases_an_untaken_buffer(library: NativeLibrary, servers: Servers) -> None:
    stream = library.request_stream(request_input(f"{servers.http}/bytes?n=100000"))
    assert stream.stream_id is not None
    buffer_id = untaken_chunk(library, stream.stream_id)
    assert library.outstanding_buffers() == 1
    library._lib.freeMemory(buffer_id.encode())
    assert library.outstanding_buffers() == 0
    library.cancel_stream(stream.stream_id)
    assert_all_freed(library)


def test_dropped_queue_releases_untaken_buffers(library: NativeLibrary, servers: Servers) -> None:
    # Reads longer than the frame's body limit (1 byte here) leave their
    # buffers to take; a caller that stops without taking them drops its queue.
    stream = library.request_stream(request_input(f"{servers.h2}/bytes?n={SIZE}"))
    assert stream.stream_id is not None
    end = _Socket(library, "abandoned", frame_body_max=1)
    for ticket in range(3):
        end.submit("readStream", str(ticket), library.read_stream_input(stream.stream_id, 5000, 0, True))
    for _ in range(3):
        _, body = end.next()
        assert body is TAKE_BUFFER
    assert library.stats()["untakenBuffers"] == 3
    end.close()
    library.cancel_stream(stream.stream_id)
    assert_all_freed(library)


def test_the_old_transports_are_gone(library: NativeLibrary) -> None:
    """One transport, the completion socket: the blocking poll, the
    notification pipe and the JSON-array submissions have no export."""
    exported = ctypes.CDLL(library.info.path)
    for gone in ("submit", "pollCompletions"):
        assert not hasattr(exported, gone), gone
    for present in ("attachCompletionSocket", "dropCompletionQueue"):
        assert hasattr(exported, present), present
    assert (
        not {"submit", "pollCompletions", "completionNotifyFd", "completionSocket"}
        & library.info.capabilities
    )


def test_a_framed_body_stands_for_its_buffer(library: NativeLibrary) -> None:
    """Over the completion socket a result's buffer comes in its frame: the
    frame's bytes are the body, an empty one included, and a buffer the
    library released before writing it fails as cancelled, never as an
    empty body."""
    envelope = {"id": "x", "status": 200, "headers": {}, "bodyBuffer": "t1", "eof": True}
    assert library.decode_response(envelope, b"framed").body == b"framed"
    assert library.decode_response(envelope, b"").body == b""
    with pytest.raises(NativeCancelledError, match="t1 was released before it was read"):
        library.decode_response(envelope, None)
    read = {"streamId": "s", "chunkBuffer": "t2"}
    assert library.decode_stream_read(read, b"chunk").chunk == b"chunk"
    with pytest.raises(NativeCancelledError, match="t2 was released"):
        library.decode_stream_read(read, None)
    # No buffer named: the frame's (empty) body is not the body.
    inline = {"id": "y", "status": 200, "headers": {}, "body": "plain", "eof": True}
    assert library.decode_response(inline, b"").body == b"plain"

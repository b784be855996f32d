"""The demo site's HTTP/2 side: one TLS connection, served by one thread.

The h2 library (sans-I/O) keeps the protocol state; this module moves the
bytes. One thread per connection does all of its socket I/O, because an
``ssl.SSLSocket`` must not be read and written from two threads at once, and
serves its streams in turn: each reply body is an iterator of pieces and
pauses (demo_site.Reply), so a feed that waits between events holds up
neither the connection nor the 256 MiB download beside it. Flow control is
the client's: a stream sends only what its window and the connection's
window allow, and waits for the client's WINDOW_UPDATE for the rest.
"""

from __future__ import annotations

import contextlib
import select
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from fingerprint import H2Preamble

if TYPE_CHECKING:
    from demo_site import Reply, Visit

#: Bytes one stream sends before the next stream gets its turn.
TURN_BYTES = 256 * 1024
#: A connection idle this long (no stream under way, nothing received) is closed.
IDLE_TIMEOUT = 30.0
#: A peer that takes this long to accept bytes is gone.
SEND_TIMEOUT = 10.0

MakeVisit = Callable[[str, list[tuple[str, str]], "str | None"], "Visit"]


@dataclass
class Stream:
    id: int
    reply: Reply
    pieces: Iterator[bytes | float]
    due: float
    headers_sent: bool = False
    pending: bytes = b""
    done: bool = False


def serve(sock: ssl.SSLSocket, reply_for: Callable[[Visit], Reply], make_visit: MakeVisit) -> None:
    """Serve HTTP/2 on ``sock`` (h2 negotiated) until the client goes away."""
    connection = Connection(sock, reply_for, make_visit)
    with contextlib.suppress(OSError, h2.exceptions.ProtocolError, TimeoutError):
        connection.run()
    with contextlib.suppress(OSError):
        sock.close()


class Connection:
    def __init__(
        self, sock: ssl.SSLSocket, reply_for: Callable[[Visit], Reply], make_visit: MakeVisit
    ) -> None:
        self.sock = sock
        self.reply_for = reply_for
        self.make_visit = make_visit
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.preamble = H2Preamble()
        self.streams: dict[int, Stream] = {}
        self.last_activity = time.monotonic()

    def run(self) -> None:
        self.sock.setblocking(False)
        self.h2.initiate_connection()
        self.flush()
        while True:
            ready = self.serve_streams()
            self.flush()
            now = time.monotonic()
            if not self.streams and now - self.last_activity > IDLE_TIMEOUT:
                return
            waits = [
                stream.due - now
                for stream in self.streams.values()
                if not stream.headers_sent or not stream.pending
            ]
            timeout = 0.0 if ready else max(0.0, min([1.0, *waits]))
            if not self.sock.pending():
                readable, _, _ = select.select([self.sock], [], [], timeout)
                if not readable:
                    continue
            if not self.receive():
                return

    def receive(self) -> bool:
        """Read what the client sent; False once it closed the connection."""
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        if not data:
            return False
        self.last_activity = time.monotonic()
        self.preamble.feed(data)
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.start(event.stream_id, event.headers or [])
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                return False
        self.flush()
        return True

    def start(self, stream_id: int, headers: list[tuple[str, str]]) -> None:
        fields = [(str(name), str(value)) for name, value in headers]
        target = next((value for name, value in fields if name == ":path"), "/")
        regular = [(name, value) for name, value in fields if not name.startswith(":")]
        reply = self.reply_for(self.make_visit(target, regular, self.preamble.akamai))
        due = time.monotonic() + reply.delay
        self.streams[stream_id] = Stream(stream_id, reply, iter(reply.body), due)

    def serve_streams(self) -> bool:
        """Give each stream that can send its turn; True if one could send more now."""
        more = False
        for stream in list(self.streams.values()):
            try:
                more |= self.serve(stream)
            except h2.exceptions.StreamClosedError:  # the client cancelled it
                stream.done = True
            if stream.done:
                del self.streams[stream.id]
        return more

    def serve(self, stream: Stream) -> bool:
        now = time.monotonic()
        if now < stream.due:
            return False
        if not stream.headers_sent:
            reply = stream.reply
            headers = [(":status", str(reply.status)), ("content-type", reply.content_type), *reply.headers]
            if reply.length is not None:
                headers.append(("content-length", str(reply.length)))
            self.h2.send_headers(stream.id, headers)
            stream.headers_sent = True
        sent = 0
        while sent < TURN_BYTES:
            if not stream.pending:
                piece = next(stream.pieces, None)
                if piece is None:
                    self.h2.end_stream(stream.id)
                    stream.done = True
                    return False
                if isinstance(piece, float):
                    stream.due = now + piece
                    return False
                stream.pending = piece
            window = min(self.h2.local_flow_control_window(stream.id), self.h2.max_outbound_frame_size)
            if window <= 0:
                return False  # until the client's WINDOW_UPDATE
            chunk, stream.pending = stream.pending[:window], stream.pending[window:]
            self.h2.send_data(stream.id, chunk)
            sent += len(chunk)
        return True

    def flush(self) -> None:
        data = memoryview(self.h2.data_to_send())
        deadline = time.monotonic() + SEND_TIMEOUT
        while data:
            piece = data[:65536]
            try:
                data = data[self.sock.send(piece) :]
                continue
            except (ssl.SSLWantWriteError, BlockingIOError):
                waiting = ([], [self.sock])
            except ssl.SSLWantReadError:
                waiting = ([self.sock], [])
            if time.monotonic() > deadline:
                raise TimeoutError("the client stopped reading")
            select.select(*waiting, [], 1.0)

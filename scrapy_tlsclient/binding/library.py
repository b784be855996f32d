"""The one module that talks to the native tls-client library (cffi, ABI mode).

It finds and loads the library lazily (the Go runtime does not survive
``fork()``, so nothing is loaded at import time), declares the C
signatures, copies every returned string and body buffer and frees it
exactly once with ``freeMemory``, and decodes the JSON into typed values.
It knows nothing of Scrapy. Every method blocks (the GIL is released during
the call): run them off the reactor thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import cffi

from .envelopes import (
    NativeResponse,
    RequestInput,
    StreamRead,
    WebSocketEvent,
    raise_for_error,
    response_from_envelope,
    stream_read_from_envelope,
    websocket_event_from_envelope,
)
from .errors import NativeFeatureUnavailable, NativeLibraryError, native_error_from
from .measurement import Measurement, measurement_from_envelope
from .missing import missing_library_message
from .socket_frames import TAKE_BUFFER, FrameBody

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .memory import BodyMemory

__all__ = [
    "LIBRARY_ENV_VAR",
    "LibraryInfo",
    "NativeLibrary",
    "bundled_library_path",
    "get_library",
    "load_library",
]

logger = logging.getLogger("scrapy_tlsclient")

LIBRARY_ENV_VAR: Final = "SCRAPY_TLSCLIENT_LIBRARY"
LIBRARY_FILENAME: Final = "libtlsclient.so"

# Upstream's exports, present in every tls-client build.
_BASE_CDEF = """
char* request(char* params);
void freeMemory(char* id);
char* destroySession(char* params);
char* destroyAll(void);
char* getCookiesFromSession(char* params);
char* addCookiesToSession(char* params);
"""
# Streaming exports (upstream PR #247) and this project's extensions.
_OPTIONAL_CDEF = """
char* requestStream(char* params);
char* readStream(char* params);
char* readStreamAll(char* params);
char* cancelStream(char* params);
char* getInfo(void);
char* getStats(void);
char* attachCompletionSocket(char* params);
char* dropCompletionQueue(char* params);
long long outstandingBuffers(void);
char* takeBuffer(char* id);
char* registerProfiles(char* params);
char* measureProfile(char* params);
"""
_STREAMING_EXPORTS: Final = ("requestStream", "readStream", "readStreamAll", "cancelStream")
_OPTIONAL_EXPORTS: Final = (
    *_STREAMING_EXPORTS,
    "getInfo",
    "getStats",
    "outstandingBuffers",
    "attachCompletionSocket",
    "dropCompletionQueue",
    "takeBuffer",
    "registerProfiles",
    "measureProfile",
)
#: read_stream (the synchronous export): a chunk shorter than this comes
#: inline (base64 in the JSON answer), as taking and freeing a buffer costs
#: two more native calls. Over the completion socket a buffer travels in
#: its frame with no call, so the socket's reads ask for buffers always.
INLINE_CHUNK_MAX: Final = 8192
#: A body longer than this is not written into its completion frame but
#: left as a buffer to take: one native call per 512 KiB read costs
#: nothing, and the bytes are copied once instead of through the socket
#: (1 GiB loopback reads: 518 MB/s taken, 399 MB/s through the socket).
FRAME_BODY_MAX: Final = 64 * 1024
#: takeBuffer's answer starts with the buffer's length, 8 bytes little-endian.
_BUFFER_PREFIX: Final = 8


@dataclass(frozen=True)
class LibraryInfo:
    """What the loaded library says about itself."""

    path: str
    version: str
    tls_client_version: str
    go_version: str
    default_profile: str
    profiles: frozenset[str]
    capabilities: frozenset[str]
    exports: frozenset[str]

    @property
    def is_project_build(self) -> bool:
        """True for this project's library, False for a stock upstream one."""
        return "getInfo" in self.exports


def bundled_library_path() -> Path:
    """Where the package keeps the library it was built with."""
    return Path(__file__).resolve().parents[1] / "_lib" / LIBRARY_FILENAME


def _resolve_path(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path)
    from_env = os.environ.get(LIBRARY_ENV_VAR)
    if from_env:
        return Path(from_env)
    return bundled_library_path()


class NativeLibrary:
    """A loaded tls-client library; thread-safe."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        resolved = _resolve_path(path)
        if not resolved.is_file():
            raise NativeLibraryError(
                missing_library_message(resolved, bundled_library_path(), LIBRARY_ENV_VAR)
            )
        self._ffi = cffi.FFI()
        self._ffi.cdef(_BASE_CDEF)
        self._ffi.cdef(_OPTIONAL_CDEF)
        try:
            self._lib: Any = self._ffi.dlopen(str(resolved))
        except OSError as exc:
            raise NativeLibraryError(f"cannot load tls-client library {resolved}: {exc}") from exc
        self._pid = os.getpid()
        # Checked before every call, so a flag set at fork rather than a
        # getpid() per call (3.7 % of the event loop at 10,000 events/s).
        self._forked = False
        self._submit_prefixes: dict[tuple[str, str], str] = {}
        os.register_at_fork(after_in_child=self._mark_forked)
        exports = {"request", "freeMemory", "destroySession", "destroyAll"}
        for name in _OPTIONAL_EXPORTS:
            try:
                getattr(self._lib, name)
            except AttributeError:
                continue
            exports.add(name)
        self.exports: frozenset[str] = frozenset(exports)
        self.info = self._read_info(resolved)
        if not self.has_streaming:
            logger.warning(
                "The tls-client library at %s lacks the streaming exports (%s); it looks like a "
                "stock upstream build. Plain requests work; streaming, cancellation before the "
                "response, raw bodies, ordered headers and exact error codes are unavailable.",
                resolved,
                ", ".join(_STREAMING_EXPORTS),
            )

    # -- capabilities -------------------------------------------------------

    @property
    def has_streaming(self) -> bool:
        return all(name in self.exports for name in _STREAMING_EXPORTS)

    @property
    def has_binary(self) -> bool:
        """Body bytes can come as native buffers instead of base64 in JSON
        (docs/abi.rst, "Binary bodies")."""
        return "takeBuffer" in self.exports and "binaryBuffers" in self.info.capabilities

    @property
    def has_output_reads(self) -> bool:
        """readStream can append body bytes to a file itself (docs/abi.rst,
        "Body to a file")."""
        return "readStreamOutputPath" in self.info.capabilities

    def supports(self, capability: str) -> bool:
        """Whether the library has an ABI capability (see getInfo)."""
        return capability in self.info.capabilities or capability in self.exports

    def _read_info(self, path: Path) -> LibraryInfo:
        if "getInfo" not in self.exports:
            return LibraryInfo(
                path=str(path),
                version="unknown (stock upstream build)",
                tls_client_version="unknown",
                go_version="unknown",
                default_profile="",
                profiles=frozenset(),
                capabilities=frozenset(self.exports),
                exports=self.exports,
            )
        raw = self._call("getInfo", None)
        return LibraryInfo(
            path=str(path),
            version=raw["version"],
            tls_client_version=raw["tlsClientVersion"],
            go_version=raw["goVersion"],
            default_profile=raw["defaultProfile"],
            profiles=frozenset(raw["profiles"]),
            capabilities=frozenset(raw["capabilities"]),
            exports=self.exports,
        )

    # -- the one place that crosses the C boundary --------------------------

    def _mark_forked(self) -> None:
        self._forked = True

    def _check_pid(self) -> None:
        if self._forked:
            raise NativeLibraryError(_forked_message(self._pid))

    @property
    def forked(self) -> bool:
        """True in a process forked after the library was loaded, where it
        cannot work (the Go runtime does not survive fork())."""
        return self._forked

    def check_not_forked(self) -> None:
        """Raise NativeLibraryError in a forked process: for talking to the
        library over its completion socket, which would reach the parent's."""
        self._check_pid()

    def _call(self, export: str, payload: Any) -> dict[str, Any]:
        self._check_pid()
        if export not in self.exports:
            raise NativeFeatureUnavailable(
                f"the tls-client library at {self.info.path if hasattr(self, 'info') else '?'} "
                f"has no {export!r} export (a stock upstream build?); this project's library is needed"
            )
        function = getattr(self._lib, export)
        if payload is None:
            pointer = function()
        else:
            pointer = function(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        if pointer == self._ffi.NULL:
            raise NativeLibraryError(f"tls-client {export} returned NULL")
        raw = self._ffi.string(pointer)
        assert isinstance(raw, bytes)  # char* always copies to bytes
        envelope_id = _fast_envelope_id(raw)
        if envelope_id is not None:
            # Free before the (possibly large) parse: we hold our own copy.
            self._lib.freeMemory(envelope_id)
            return json.loads(raw)  # type: ignore[no-any-return]
        try:
            envelope: dict[str, Any] = json.loads(raw)
        except ValueError as exc:
            # Upstream's one untracked string (a failed marshal) is not
            # JSON and has no id; there is nothing to free.
            raise NativeLibraryError(
                f"tls-client {export} returned a non-JSON answer: {raw[:200]!r}"
            ) from exc
        if envelope.get("id"):
            self._lib.freeMemory(str(envelope["id"]).encode("utf-8"))
        return envelope

    def take_buffer(self, buffer_id: str) -> bytes:
        """The bytes of a body buffer an envelope names (``chunkBuffer``,
        ``bodyBuffer``), copied once and freed; each id can be taken once."""
        self._check_pid()
        if "takeBuffer" not in self.exports:
            raise NativeFeatureUnavailable("takeBuffer needs this project's library (binary bodies)")
        key = buffer_id.encode("ascii")
        pointer = self._lib.takeBuffer(key)
        if pointer == self._ffi.NULL:
            # Released by destroyAll (or taken twice, a bug of ours).
            raise _released(buffer_id)
        try:
            length = int.from_bytes(self._ffi.buffer(pointer, _BUFFER_PREFIX), "little")
            data = self._ffi.unpack(pointer + _BUFFER_PREFIX, length)
        finally:
            self._lib.freeMemory(key)
        assert isinstance(data, bytes)  # char* unpacks to bytes
        return data

    def _taken(self, envelope: dict[str, Any], key: str, framed: FrameBody) -> bytes | None:
        """The bytes of the buffer ``envelope`` names under ``key``, if any:
        taken from the library, or ``framed``, what its completion frame
        carried (docs/abi.rst, "Completion socket")."""
        handle = envelope.get(key)
        if not handle:
            return None
        if framed is TAKE_BUFFER:
            return self.take_buffer(str(handle))
        if framed is None:
            raise _released(str(handle))
        assert isinstance(framed, bytes)
        return framed

    # -- decoding (buffers are taken first, so a decoding error leaks none) --

    def decode_response(self, envelope: dict[str, Any], framed: FrameBody = TAKE_BUFFER) -> NativeResponse:
        """A response envelope as a NativeResponse, with the bytes of its
        ``bodyBuffer``: taken, or from its completion frame."""
        return response_from_envelope(envelope, self._taken(envelope, "bodyBuffer", framed))

    def decode_stream_read(self, envelope: dict[str, Any], framed: FrameBody = TAKE_BUFFER) -> StreamRead:
        """A readStream answer as a StreamRead, with the bytes of its
        ``chunkBuffer``: taken, or from its completion frame."""
        return stream_read_from_envelope(envelope, self._taken(envelope, "chunkBuffer", framed))

    def decode_websocket_event(
        self, envelope: dict[str, Any], framed: FrameBody = TAKE_BUFFER
    ) -> WebSocketEvent:
        """A pushWebSocket frame as a WebSocketEvent, with the bytes of its
        ``chunkBuffer``: taken, or from its completion frame."""
        return websocket_event_from_envelope(envelope, self._taken(envelope, "chunkBuffer", framed))

    # -- typed API ------------------------------------------------------------

    def request(self, request_input: RequestInput) -> NativeResponse:
        """Run a request to completion (``request``)."""
        return self.decode_response(self._call("request", request_input))

    def request_stream(self, request_input: RequestInput) -> NativeResponse:
        """Start a request; returns when its headers arrive (``requestStream``)."""
        return self.decode_response(self._call("requestStream", request_input))

    def read_stream(
        self,
        stream_id: str,
        timeout_ms: int,
        max_bytes: int = 0,
        binary: bool | None = None,
        output_path: str | None = None,
        into: BodyMemory | None = None,
    ) -> StreamRead:
        """Read the next chunk(s); ``timeout_ms`` < 0 blocks, 0 polls, > 0 waits that long.

        ``binary`` (default: when the library has it) moves the chunk as a
        native buffer instead of base64 inside the JSON answer; ``into``
        has the library copy it into that memory's room instead, and the
        answer counts it (``written``, then :meth:`BodyMemory.wrote
        <scrapy_tlsclient.binding.memory.BodyMemory.wrote>`).
        """
        payload = self.read_stream_input(stream_id, timeout_ms, max_bytes, binary, output_path, into=into)
        return self.decode_stream_read(self._call("readStream", payload))

    def read_stream_input(
        self,
        stream_id: str,
        timeout_ms: int,
        max_bytes: int,
        binary: bool | None = None,
        output_path: str | None = None,
        binary_min: int = INLINE_CHUNK_MAX,
        into: BodyMemory | None = None,
    ) -> dict[str, Any]:
        """The readStream input, asking for a binary chunk when possible;
        with ``output_path`` the library appends the chunk to that existing
        file, and with ``into`` copies it into that memory's room (lent for
        this read: keep the BodyMemory referenced until the answer), and
        answers with the count (``StreamRead.written``)."""
        payload: dict[str, Any] = {"streamId": stream_id, "timeoutMs": timeout_ms, "maxBytes": max_bytes}
        if into is not None:
            payload["intoAddress"], payload["intoLength"] = into.lend()
        elif output_path is not None:
            if not self.has_output_reads:
                raise NativeFeatureUnavailable("readStream outputPath needs this project's library")
            payload["outputPath"] = output_path
        elif self.has_binary if binary is None else binary:
            payload["binary"] = True
            if binary_min:
                payload["binaryMin"] = binary_min
        return payload

    def read_stream_all(self, stream_id: str) -> NativeResponse:
        """Read the rest of a stream's body into one response."""
        return self.decode_response(self._call("readStreamAll", {"streamId": stream_id}))

    def cancel_stream(self, stream_id: str) -> None:
        """Abort a stream or a call still waiting for headers; idempotent."""
        raise_for_error(self._call("cancelStream", {"streamId": stream_id}))

    def destroy_session(self, session_id: str) -> None:
        raise_for_error(self._call("destroySession", {"sessionId": session_id}))

    def destroy_all(self) -> None:
        """Cancel every call and stream, close every session."""
        raise_for_error(self._call("destroyAll", None))

    def register_profiles(self, specs: list[Mapping[str, Any]]) -> None:
        """Add browser identities built from data (``name``, ``tls``,
        ``http2``: docs/profiles.rst) under their names; registering the
        same spec again is a no-op. Raises ValueError naming the field."""
        answer = self._call("registerProfiles", {"profiles": specs})
        if "registered" not in answer:
            raise ValueError(str(answer.get("body") or answer))

    def measure_profile(self, name: str, *, shuffle: bool) -> Measurement:
        """The JA3, JA3N, JA4 and Akamai fingerprints this library puts on
        the wire for profile ``name``, measured by one request to a
        throwaway TLS server inside the library; ``shuffle`` sets
        ``withRandomTLSExtensionOrder``. Raises the NativeError of a failed
        request (UnknownProfileError for an unknown name)."""
        answer = self._call(
            "measureProfile", {"profile": name, "withRandomTLSExtensionOrder": shuffle, "forceHttp1": False}
        )
        raise_for_error(answer)
        return measurement_from_envelope(answer)

    def stats(self) -> dict[str, int]:
        """Live counters: sessions, calls in flight, open streams, ..."""
        stats = self._call("getStats", None)
        stats.pop("id", None)
        return {key: int(value) for key, value in stats.items()}

    def submit_document(self, queue: str, op: str, ticket: str, payload: Any) -> str:
        """The JSON document a completion socket's submission frame carries:
        start ``op`` (request, requestStream, readStream, readStreamAll,
        cancelStream) and complete it on ``queue`` under ``ticket``.
        ``payload`` may be given already encoded, as a JSON ``str``."""
        # Built from pieces rather than one json.dumps of a dict: a live
        # stream submits a read per event (docs/benchmarks.rst, "Streaming").
        prefix = self._submit_prefixes.get((queue, op))
        if prefix is None:
            prefix = f'{{"queue":{json.dumps(queue)},"op":{json.dumps(op)},"ticket":'
            self._submit_prefixes[(queue, op)] = prefix
        encoded = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        return f'{prefix}{json.dumps(ticket)},"input":{encoded}}}'

    def attach_socket(self, queue: str, socket_fd: int, frame_body_max: int = FRAME_BODY_MAX) -> None:
        """Exchange ``queue``'s traffic over a socket from now on: the
        library takes a duplicate of ``socket_fd`` (one end of a connected
        stream socket pair), reads submission frames from it and writes each
        completion of ``queue`` to it as a frame, with its body up to
        ``frame_body_max`` bytes; longer bodies are left to
        :meth:`take_buffer` (docs/abi.rst, "Completion socket"). Not
        blocking."""
        if "attachCompletionSocket" not in self.exports:
            raise NativeFeatureUnavailable(
                f"{self.info.path} has no attachCompletionSocket export: it is a stock tls-client "
                "library or an older build of this project's; use the library built into the package"
            )
        raise_for_error(
            self._call(
                "attachCompletionSocket",
                {"queue": queue, "socketFd": socket_fd, "frameBodyMax": frame_body_max},
            )
        )

    def drop_queue(self, queue: str) -> None:
        """Forget a completion queue whose consumer stopped: the library
        closes its end of the socket and releases the body buffers nobody
        will take."""
        raise_for_error(self._call("dropCompletionQueue", {"queue": queue}))

    def outstanding_buffers(self) -> int:
        """Strings and body buffers handed out by the library and not yet freed."""
        if "outstandingBuffers" not in self.exports:
            raise NativeFeatureUnavailable("outstandingBuffers needs this project's library")
        return int(self._lib.outstandingBuffers())


def _released(buffer_id: str) -> Exception:
    return native_error_from(f"native body buffer {buffer_id} was released before it was read", "cancelled")


def _fast_envelope_id(raw: bytes) -> bytes | None:
    # This project's envelopes start with {"id":"..." (Go marshals struct
    # fields in order); reading the id without parsing lets us free early.
    prefix = b'{"id":"'
    if not raw.startswith(prefix):
        return None
    end = raw.find(b'"', len(prefix))
    if end < 0:
        return None
    return raw[len(prefix) : end]


_lock = threading.Lock()
_libraries: dict[str, NativeLibrary] = {}


def load_library(path: str | os.PathLike[str] | None = None) -> NativeLibrary:
    """Load (once per path and process) the library and return it."""
    resolved = str(_resolve_path(path))
    with _lock:
        library = _libraries.get(resolved)
        if library is not None and library._pid != os.getpid():
            # Loading again would reuse the parent's Go runtime, which did
            # not survive fork(): the first call would hang.
            raise NativeLibraryError(_forked_message(library._pid))
        if library is None:
            library = NativeLibrary(resolved)
            _libraries[resolved] = library
        return library


def _forked_message(parent_pid: int) -> str:
    return (
        f"the tls-client library was loaded in process {parent_pid} before it forked this one "
        f"({os.getpid()}); the Go runtime does not survive fork(), so no process forked after "
        "loading it can use it. Start crawler processes fresh (scrapy crawl, Scrapyd, "
        "multiprocessing with the 'spawn' or 'forkserver' start method), or fork before anything "
        "uses scrapy_tlsclient (it loads the library lazily, at the first handler)."
    )


def get_library() -> NativeLibrary:
    """The library from $SCRAPY_TLSCLIENT_LIBRARY or the package, loaded lazily."""
    return load_library(None)

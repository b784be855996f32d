"""Incremental parsers of the event formats a streamed body carries (lines,
NDJSON, Server-Sent Events).

A streamed body reaches the spider as ``bytes`` pieces cut wherever the
network cut them: a line, a JSON document, a UTF-8 character or a CRLF pair
can be split across two pieces. The parsers here turn those pieces into
events, keeping only the unfinished part between calls:

* :class:`LineParser`: text lines (UTF-8; CRLF, LF or a lone CR ends a line),
* :class:`NDJSONParser`: one JSON value per non-blank line,
* :class:`SSEParser`: Server-Sent Events, as the WHATWG HTML standard
  ("9.2 Server-sent events": "Parsing an event stream" and "Interpreting an
  event stream") has a browser's ``EventSource`` read them.

Each has ``feed(data)`` returning the events completed by ``data`` and
``close()`` returning what the end of the stream completes. They are pure
(no I/O, standard library only) so that the streaming API stays a thin loop
and the parsing can be tested on its own. The cost of a ``feed`` is linear
in the size of the piece fed: only the new bytes are searched for line ends.

Every parser bounds the memory a server can make it hold: a line longer
than ``max_line_bytes`` raises :class:`EventTooLarge` (for SSE, so does an
event whose data grows past ``max_event_bytes``). Events completed before
the failure in the same piece are returned first; the error is then raised
by the next call (``feed`` or ``close``), and again by any later call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "EventTooLarge",
    "LineParser",
    "NDJSONError",
    "NDJSONParser",
    "SSEParser",
    "ServerSentEvent",
]

#: Default bound of one line: 1 MiB.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_EXCERPT_CHARS = 80


class EventTooLarge(ValueError):
    """A line (or SSE event) is longer than the configured limit.

    ``limit`` is the limit in bytes and ``limit_name`` the setting or
    meta key that configures it, named in the message so that the reader
    knows what to raise.
    """

    def __init__(self, what: str, limit: int, limit_name: str) -> None:
        super().__init__(f"{what} is longer than the {limit}-byte limit (raise {limit_name} to allow it)")
        self.limit = limit
        self.limit_name = limit_name


class NDJSONError(ValueError):
    """A non-blank NDJSON line is not valid JSON.

    ``line_number`` is 1-based and counts every line, blank ones included;
    ``excerpt`` is the start of the offending line.
    """

    def __init__(self, line_number: int, excerpt: str, reason: str) -> None:
        super().__init__(f"NDJSON line {line_number} is not valid JSON ({reason}): {excerpt!r}")
        self.line_number = line_number
        self.excerpt = excerpt


def _check_limit(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class LineParser:
    """Bytes pieces in, text lines out.

    A line ends at CRLF, LF or a lone CR. A CR that ends a piece ends its
    line at once (the line is returned by that ``feed``); only whether an
    LF opening the next piece belongs to the same terminator is remembered,
    so a CRLF pair split across pieces is one line end, not two. ``close()``
    returns the last line if the stream does not end with a line end.

    Each line is decoded as UTF-8 with invalid bytes replaced by U+FFFD.
    CR and LF never occur inside a multi-byte UTF-8 sequence, so lines are
    cut on bytes and a character split across pieces is joined before it
    is decoded; the result is the same as decoding the whole stream at
    once. With ``strip_bom`` (the default) a UTF-8 byte order mark opening
    the stream is dropped, as the WHATWG "UTF-8 decode" does.

    A line (without its terminator) longer than ``max_line_bytes`` bytes
    raises :class:`EventTooLarge`, as soon as its buffered start passes the
    limit; ``limit_name`` names the setting that configures the limit.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        limit_name: str = "max_line_bytes",
        strip_bom: bool = True,
    ) -> None:
        self.max_line_bytes = _check_limit(max_line_bytes, "max_line_bytes")
        self.limit_name = limit_name
        self._buffer = bytearray()  # the unfinished line
        self._bom_pending = strip_bom  # the stream's first bytes are not known yet
        self._skip_lf = False  # the previous piece ended with CR
        self._closed = False
        self._error: EventTooLarge | None = None

    def feed(self, data: bytes) -> list[str]:
        """The lines that ``data`` completes, in order."""
        self._check_usable()
        if self._closed:
            raise RuntimeError("feed() after close()")
        if self._bom_pending:
            data = self._take_bom(data)
        if not data:
            return []
        if self._skip_lf and data[:1] == b"\n":
            data = data[1:]
        # A CR ending the piece ends a line now; an LF opening the next
        # piece is then the second half of a CRLF.
        self._skip_lf = data.endswith(b"\r")
        if b"\r" in data:
            # CRLF before lone CR, so that "\r\r\n" is two line ends.
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        limit = self.max_line_bytes
        if end < 0:
            if len(self._buffer) + len(data) > limit:
                return self._fail([])
            self._buffer += data
            return []
        if self._buffer:
            self._buffer += data[:end]
            complete = bytes(self._buffer)
            self._buffer.clear()
        else:
            complete = data[:end]
        rest = data[end + 1 :]
        if len(complete) <= limit:
            # No line can be too long: one decode for all of them (a line
            # end never occurs inside a UTF-8 sequence, so this equals
            # decoding line by line).
            lines = complete.decode("utf-8", "replace").split("\n")
        else:
            lines = []
            for raw in complete.split(b"\n"):
                if len(raw) > limit:
                    return self._fail(lines)
                lines.append(raw.decode("utf-8", "replace"))
        if len(rest) > limit:
            return self._fail(lines)
        self._buffer += rest
        return lines

    def close(self) -> list[str]:
        """The last line, if the stream ends without a line end (``[]`` if
        it is empty). Later calls return ``[]``."""
        self._check_usable()
        if self._closed:
            return []
        self._closed = True
        if not self._buffer:
            return []
        line = self._buffer.decode("utf-8", "replace")
        self._buffer.clear()
        return [line]

    def _take_bom(self, data: bytes) -> bytes:
        """Drop a BOM opening the stream; hold back a possible start of one."""
        head = bytes(self._buffer) + data
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._buffer[:] = head
            return b""
        self._bom_pending = False
        self._buffer.clear()
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _fail(self, lines: list[str]) -> list[str]:
        self._error = EventTooLarge("a line", self.max_line_bytes, self.limit_name)
        self._buffer.clear()
        if lines:
            return lines  # raised by the next call
        raise self._error

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error


class NDJSONParser:
    """Bytes pieces in, JSON values out: one ``json.loads`` per line.

    Lines are cut as by :class:`LineParser` (whose ``max_line_bytes``,
    ``limit_name`` and ``strip_bom`` this takes); blank or whitespace-only
    lines are skipped. A line that is not valid JSON (or nests too deeply
    for the parser) raises :class:`NDJSONError` with its 1-based line
    number; the values before it are returned first, as for
    :class:`EventTooLarge`.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        limit_name: str = "max_line_bytes",
        strip_bom: bool = True,
    ) -> None:
        self._lines = LineParser(max_line_bytes=max_line_bytes, limit_name=limit_name, strip_bom=strip_bom)
        self._line_number = 0
        self._error: NDJSONError | None = None

    def feed(self, data: bytes) -> list[object]:
        """The values of the lines that ``data`` completes."""
        self._check_usable()
        return self._parse(self._lines.feed(data))

    def close(self) -> list[object]:
        """The value of the last line, if the stream ends without a line end."""
        self._check_usable()
        return self._parse(self._lines.close())

    def _parse(self, lines: list[str]) -> list[object]:
        values: list[object] = []
        for line in lines:
            self._line_number += 1
            if not line or line.isspace():
                continue
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                self._error = self._bad_line(line, f"{exc.msg} at column {exc.colno}")
                self._error.__cause__ = exc
            except RecursionError:
                self._error = self._bad_line(line, "nested too deeply")
            if self._error is not None:
                if values:
                    return values  # raised by the next call
                raise self._error
        return values

    def _bad_line(self, line: str, reason: str) -> NDJSONError:
        excerpt = line if len(line) <= _EXCERPT_CHARS else line[:_EXCERPT_CHARS] + "..."
        return NDJSONError(self._line_number, excerpt, reason)

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSentEvent:
    """One dispatched Server-Sent Event.

    ``event`` is the event type (``"message"`` unless an ``event`` field
    set another); ``data`` the ``data`` fields' values joined with ``"\\n"``;
    ``id`` the last event ID in effect at dispatch, which an ``id`` field
    sets and which carries over to later events until another ``id`` field
    changes it (``None`` while it is empty: never set, or reset by an empty
    ``id`` field); ``retry`` the reconnection time in milliseconds set by a
    valid ``retry`` field in this event's block, else ``None``.
    """

    event: str = "message"
    data: str
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Bytes pieces in, :class:`ServerSentEvent` out, per the WHATWG spec.

    Lines are cut as by :class:`LineParser` (UTF-8 with replacement, BOM
    dropped, CRLF/LF/CR, ``max_line_bytes``) and interpreted as the spec's
    "Interpreting an event stream" says:

    * an empty line dispatches the event: the last event ID becomes the
      ID buffer's value (even if nothing is dispatched); if the data buffer
      is empty the data and event type buffers are reset and no event is
      dispatched, else one trailing ``"\\n"`` is removed from the data and
      the event is dispatched, then the data and event type buffers reset;
    * a line starting with ``":"`` is a comment;
    * otherwise the field name is what precedes the first ``":"`` (the whole
      line if there is none, with an empty value) and the value what
      follows it, less one leading space;
    * ``event`` sets the event type; ``data`` appends the value and
      ``"\\n"`` to the data buffer; ``id`` sets the last event ID buffer
      unless the value contains U+0000 NULL; ``retry`` sets the reconnection
      time (:attr:`retry`, at once) if the value is one or more ASCII digits
      (a value too long for ``int()``, over 4300 digits, is ignored too);
      any other field is ignored.

    End of stream: the spec discards an event not yet dispatched by an empty
    line, and so does ``close()`` by default, including a last line not
    ended by a line end. With ``dispatch_incomplete_at_eof=True`` the end
    of the stream acts as a line end followed by an empty line: the last
    line is interpreted and the pending event, if it has data, dispatched.

    Comments are ignored unless ``comments=True``: then the text of each
    comment line after its ``":"`` (as is, leading space kept) is appended
    to the :attr:`comments` list, in stream order, which the caller reads
    and clears (it grows without bound otherwise).

    ``max_event_bytes`` (default: ``max_line_bytes``) bounds an event's
    data (UTF-8 bytes, the ``"\\n"`` joining lines included), so that a
    server cannot grow the data buffer without end with many short
    ``data`` lines; past it, :class:`EventTooLarge` is raised.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int | None = None,
        limit_name: str = "max_line_bytes",
        dispatch_incomplete_at_eof: bool = False,
        comments: bool = False,
    ) -> None:
        self._lines = LineParser(max_line_bytes=max_line_bytes, limit_name=limit_name)
        self.max_event_bytes = _check_limit(
            max_line_bytes if max_event_bytes is None else max_event_bytes, "max_event_bytes"
        )
        self.limit_name = limit_name
        self.dispatch_incomplete_at_eof = dispatch_incomplete_at_eof
        self._keep_comments = comments
        #: Comment lines' text (only with ``comments=True``); cleared by the caller.
        self.comments: list[str] = []
        self._data: list[str] = []  # the data buffer, as its lines
        self._data_bytes = 0
        self._event_type = ""
        self._id_buffer = ""
        self._last_event_id = ""
        self._retry: int | None = None
        self._block_retry: int | None = None  # set by the current block
        self._error: EventTooLarge | None = None

    @property
    def last_event_id(self) -> str:
        """The last event ID string: the ID buffer's value at the latest
        empty line (``""`` if none), as ``EventSource`` would send it in a
        ``Last-Event-ID`` header when reconnecting."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The latest valid ``retry`` value seen (milliseconds), or ``None``."""
        return self._retry

    def resume(self, last_event_id: str, retry: int | None) -> None:
        """Continue an event stream on a new connection, as ``EventSource``
        does when it reconnects: the last event ID and the reconnection
        time carry over."""
        self._last_event_id = self._id_buffer = last_event_id
        self._retry = retry

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """The events that ``data`` completes."""
        self._check_usable()
        return self._interpret(self._lines.feed(data))

    def close(self) -> list[ServerSentEvent]:
        """End of stream: ``[]``, or with ``dispatch_incomplete_at_eof`` the
        pending event if it has data."""
        self._check_usable()
        last = self._lines.close()
        events: list[ServerSentEvent] = []
        if self.dispatch_incomplete_at_eof:
            events = self._interpret([*last, ""])
        self._reset_block()
        return events

    def _interpret(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in lines:
            if not line:
                self._dispatch(events)
            elif line[0] == ":":
                if self._keep_comments:
                    self.comments.append(line[1:])
            else:
                if line.startswith("data: "):  # the usual line: no partition
                    name, value = "data", line[6:]
                else:
                    name, colon, value = line.partition(":")
                    if colon and value[:1] == " ":
                        value = value[1:]
                if not self._field(name, value):
                    self._error = EventTooLarge("an event's data", self.max_event_bytes, self.limit_name)
                    self._reset_block()
                    if events:
                        return events  # raised by the next call
                    raise self._error
        return events

    def _field(self, name: str, value: str) -> bool:
        """Process one field; False if the event's data grew past the limit."""
        if name == "data":
            size = len(value) if value.isascii() else len(value.encode("utf-8"))
            self._data_bytes += size + (1 if self._data else 0)
            if self._data_bytes > self.max_event_bytes:
                return False
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            try:
                retry = int(value)
            except ValueError:  # more digits than int() converts
                return True
            self._retry = self._block_retry = retry
        return True

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        self._last_event_id = self._id_buffer
        if self._data:
            events.append(
                ServerSentEvent(
                    event=self._event_type or "message",
                    data="\n".join(self._data),
                    id=self._last_event_id or None,
                    retry=self._block_retry,
                )
            )
        self._reset_block()

    def _reset_block(self) -> None:
        self._data = []
        self._data_bytes = 0
        self._event_type = ""
        self._block_retry = None

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error

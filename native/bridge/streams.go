package bridge

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"
)

// A stream buffers at most defaultStreamBufferItems reads of at most
// defaultStreamBlockSize each: about 1 MiB per stream, 17 blocks at worst
// counting the one being filled. 64 KiB blocks read a large HTTP/2 body
// about 10% faster than 32 KiB ones; larger ones measured no better
// (docs/abi.rst, "Binary bodies").
const (
	defaultStreamBlockSize   = 64 * 1024
	defaultStreamBufferItems = 16
	// A body longer than a megabyte, or of unknown length, buffers up to
	// this many reads (about 1 MiB of 16 KiB TLS records) while the
	// consumer copies the previous ones out, unless the call sets
	// streamBufferChunks (bodies streamed to a spider keep 16, body_file
	// downloads 32). With 16, a 1 GiB body read into a Scrapy Response in
	// pieces waited on every round trip; a body of announced length now
	// goes there by a read into memory, which takes the body over
	// (memory.go), so this serves bodies of unknown length and those read
	// in pieces.
	largeBodyBytes       = 1 << 20
	largeBodyBufferItems = 64
)

// streamEvent is one step of a body: data, or the end (eof or err).
type streamEvent struct {
	data []byte
	eof  bool
	err  error
}

func (e streamEvent) terminal() bool { return e.eof || e.err != nil }

// stream is a response whose body is pumped into a bounded channel. The
// pump blocks when the channel is full (backpressure reaches the server
// through TCP/HTTP2 flow control) and never gives up on its own: a slow
// consumer is never mistaken for the end of the body, unlike PR #247's
// 60 s cut-off that reported EOF.
type stream struct {
	call   *call
	events chan streamEvent
	meta   Response

	readMu  sync.Mutex // one reader at a time
	pending *streamEvent

	output streamOutput // readStream's outputPath

	// body is the pump's to read, except while a read into lent memory
	// holds it (hand, memory.go).
	body io.Reader
	hand handover

	creditMu sync.Mutex
	credit   *credit // set once the stream is pushed (pushes.go)
}

// setCredit marks the stream pushed, with c as its credit; false if it was
// pushed already.
func (s *stream) setCredit(c *credit) bool {
	s.creditMu.Lock()
	defer s.creditMu.Unlock()
	if s.credit != nil {
		return false
	}
	s.credit = c
	return true
}

func (s *stream) pushCredit() *credit {
	s.creditMu.Lock()
	defer s.creditMu.Unlock()
	return s.credit
}

// newStream starts pumping body; expected is the body's length when known
// (Content-Length of an undecoded body), else -1.
func newStream(c *call, body io.ReadCloser, meta Response, expected int64) *stream {
	blockSize := defaultStreamBlockSize
	if c.input.StreamOutputBlockSize != nil && *c.input.StreamOutputBlockSize > 0 {
		blockSize = *c.input.StreamOutputBlockSize
	}
	capacity := defaultStreamBufferItems
	if c.input.StreamBufferChunks > 0 {
		capacity = c.input.StreamBufferChunks
	} else if expected < 0 || expected > largeBodyBytes {
		capacity = largeBodyBufferItems
	}
	s := &stream{call: c, events: make(chan streamEvent, capacity), meta: meta, body: body}
	s.hand.init()
	go s.pump(body, blockSize, expected)
	return s
}

// minReadSpace is the least room a read gets before the pump starts a new
// block: one TLS record's plaintext.
const minReadSpace = 16 * 1024

// pump reads the body into blocks of blockSize and sends each read as a
// slice of its block, never writing to a sent slice again (binary reads
// hold them until taken). HTTP/1.1 over TLS returns one TLS record (at most
// 16 KiB) per read, so a block per read would allocate, zero and collect
// blockSize for every 16 KiB that arrived. A body expected to be shorter
// than a block gets a block of its size (and one byte for the end): most
// pages are a few KiB, and a 64 KiB block each is 64 KiB zeroed and
// collected per page. expected is only a hint (-1: unknown); a body longer
// than announced goes on in blockSize blocks.
func (s *stream) pump(body io.ReadCloser, blockSize int, expected int64) {
	defer body.Close()
	done := s.call.done
	var free []byte // the rest of the current block
	for {
		if s.hand.wanted.Load() && !s.park() {
			return // the reader that held the body met its end
		}
		if len(free) < min(blockSize, minReadSpace) && (expected < 0 || int64(len(free)) <= expected) {
			size := blockSize
			if expected >= 0 && expected < int64(blockSize) {
				size = int(expected) + 1
			}
			free = make([]byte, size)
		}
		n, err := body.Read(free)
		if expected >= 0 {
			expected -= int64(n)
			if expected < 0 {
				expected = -1
			}
		}
		if n > 0 {
			data := free[:n:n]
			free = free[n:]
			select {
			case s.events <- streamEvent{data: data}:
			case <-done:
				return
			}
		}
		if err != nil {
			ev := streamEvent{eof: true}
			if !errors.Is(err, io.EOF) {
				ev = streamEvent{err: err}
			}
			select {
			case s.events <- ev:
			case <-done:
			}
			return
		}
	}
}

// next returns the next event, waiting according to timeoutMs (<0 block,
// 0 poll, >0 at most that long); ok is false on timeout. Buffered events
// are delivered before an ended context is reported, so a body that fully
// arrived is never lost to a later deadline or close.
func (s *stream) next(timeoutMs int) (streamEvent, bool) {
	if s.pending != nil {
		ev := *s.pending
		s.pending = nil
		return ev, true
	}
	select {
	case ev := <-s.events:
		return ev, true
	default:
	}
	if timeoutMs == 0 {
		return streamEvent{}, false
	}
	var timer <-chan time.Time
	if timeoutMs > 0 {
		t := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
		defer t.Stop()
		timer = t.C
	}
	select {
	case ev := <-s.events:
		return ev, true
	case <-timer:
		return streamEvent{}, false
	case <-s.call.done:
		select {
		case ev := <-s.events:
			return ev, true
		default:
		}
		return streamEvent{err: s.call.abortReason()}, true
	}
}

// gather collects first and the data already buffered behind it, at most
// maxBytes in all (a chunk that would not fit waits for the next read),
// without waiting; a terminal event met on the way is kept for the next
// read too. The pieces are returned as they are, so that a binary read
// copies them once, straight into the caller's memory.
func (s *stream) gather(first []byte, maxBytes int) [][]byte {
	pieces := [][]byte{first}
	total := len(first)
	for total < maxBytes {
		select {
		case ev := <-s.events:
			if ev.terminal() || total+len(ev.data) > maxBytes {
				s.pending = &ev
				return pieces
			}
			pieces = append(pieces, ev.data)
			total += len(ev.data)
		default:
			return pieces
		}
	}
	return pieces
}

// join makes one slice of pieces, copying only if there are several.
func join(pieces [][]byte) []byte {
	if len(pieces) == 1 {
		return pieces[0]
	}
	return bytes.Join(pieces, nil)
}

func totalLen(pieces [][]byte) int {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	return n
}

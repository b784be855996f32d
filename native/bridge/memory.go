package bridge

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A readStream with intoAddress and intoLength (extension) copies body
// bytes straight into that memory, which the caller lends for the read,
// and answers with the count (StreamChunk.Written). It keeps copying as
// the body arrives until the memory is full, the body ends or timeoutMs
// passes, as a read to a file does. A caller that knows a body's length
// (Content-Length) can so lend the memory of the object that will hold the
// whole body: each byte is copied once, from the connection (handover),
// instead of into the pump's blocks, into a buffer, out of it and into the
// caller's collection of pieces, with the kernel zeroing fresh pages for
// each copy (a 1 GiB body over loopback HTTP/1.1 into a Scrapy Response:
// 2.0-2.2 s in pieces, 1.4 s this way; docs/abi.rst, "Body into memory").
//
// The caller keeps the memory valid, and does not read it, until the
// read's answer; the library does not touch it after answering.

// lentMemory is the length bytes at address, memory of the caller's. It is
// outside Go's heap, so the collector never follows or moves the pointer.
func lentMemory(address uintptr, length int) []byte {
	// Reading the address as a pointer, rather than converting the
	// integer, is the form go vet accepts for memory Go did not allocate.
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&address))), length)
}

// handover lets a read into lent memory take the body from the pump, so
// that the bytes go from the connection straight into the lent memory:
// through the pump's blocks and channel they were copied once more, and
// every 16 KiB TLS record woke the reading goroutine (1 GiB over loopback
// HTTP/1.1: 2.0 s copied from the pump's blocks, 1.4 s read directly, 1.0-1.3
// s for curl). The pump parks
// at the top of its loop, after its last read was sent; the reader takes
// what was sent first, reads the body itself until the memory is full, the
// time is up or the body ends, then lets the pump go on, or stop if the
// body ended.
type handover struct {
	wanted atomic.Bool // a reader asks the pump to park

	mu       sync.Mutex
	parked   bool
	ended    bool          // the reader met the body's end: the pump stops
	resume   chan struct{} // closed to let the parked pump go on
	parkedCh chan struct{} // the pump's notice that it parked (one at a time)
}

func (h *handover) init() {
	h.resume = make(chan struct{})
	h.parkedCh = make(chan struct{}, 1)
}

// park stops the pump while a reader holds the body; false if the reader
// met the body's end, so that the pump stops.
func (s *stream) park() bool {
	h := &s.hand
	h.mu.Lock()
	if !h.wanted.Load() {
		h.mu.Unlock()
		return true
	}
	h.parked = true
	resume := h.resume
	h.mu.Unlock()
	h.parkedCh <- struct{}{}
	// The reader always lets go: its own reads end when the call is
	// cancelled, as the pump's would.
	<-resume
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.ended
}

// letGo ends a reader's claim on the body: a parked pump goes on, or stops
// if ended. noticed tells whether the reader took the pump's notice that it
// parked; a notice not taken is taken here, so that the next claim does not
// see it. False if the pump had not parked (and will not for this claim).
func (s *stream) letGo(ended, noticed bool) bool {
	h := &s.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wanted.Store(false)
	if !h.parked {
		return false
	}
	h.parked, h.ended = false, ended
	close(h.resume)
	h.resume = make(chan struct{})
	if !noticed {
		<-h.parkedCh // sent right after it parked, without the lock
	}
	return true
}

// fillMemory fills dst with the stream's body until dst is full, the
// timeout passes or the body ends: first what the pump already read, then
// straight from the body while the pump is parked. It returns the terminal
// event when the body ended (or failed, or the call was cancelled) before
// anything was copied, got false when the timeout passed with nothing
// copied, and the count copied otherwise; an end met after some bytes, or
// the part of a piece that did not fit, is kept for the next read. A read
// from the body started before the time is up is waited for: it ends with
// data, the body's end, or the call's cancel or deadline. The caller holds
// readMu.
func (s *stream) fillMemory(dst []byte, timeoutMs int) (ev streamEvent, got bool, written int) {
	deadline := time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
	// take copies one event the pump sent into dst; true when that ends
	// the fill (dst full, or the body's end).
	take := func(next streamEvent) bool {
		if next.terminal() {
			if written == 0 {
				ev, got = next, true
			} else {
				s.pending = &next
			}
			return true
		}
		n := copy(dst[written:], next.data)
		written += n
		if n < len(next.data) {
			s.pending = &streamEvent{data: next.data[n:]}
		}
		return written == len(dst)
	}
	result := func() (streamEvent, bool, int) { return ev, got || written > 0, written }
	if s.pending != nil {
		next := *s.pending
		s.pending = nil
		if take(next) {
			return result()
		}
	}
	var timer <-chan time.Time
	if timeoutMs >= 0 {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	// Until the pump parks, what it sends is taken in order; receiving
	// also frees a pump blocked on a full channel.
	s.hand.wanted.Store(true)
	for parked := false; !parked; {
		select {
		case next := <-s.events:
			if take(next) {
				s.letGo(false, false)
				return result()
			}
		case <-s.hand.parkedCh:
			parked = true
		case <-timer:
			// Whether or not it parked meanwhile, what it sent stays in
			// the channel for the next read.
			s.letGo(false, false)
			return result()
		case <-s.call.done:
			s.letGo(false, false)
			select {
			case next := <-s.events: // delivered before the cancel is reported
				take(next)
			default:
				if written == 0 {
					ev, got = streamEvent{err: s.call.abortReason()}, true
				}
			}
			return result()
		}
	}
	// Parked after its last send: what is in the channel comes first.
	for len(s.events) > 0 {
		if take(<-s.events) {
			s.letGo(false, true)
			return result()
		}
	}
	ended := false
	for written < len(dst) && (timeoutMs < 0 || time.Now().Before(deadline)) {
		n, err := s.body.Read(dst[written:])
		written += n
		if err != nil {
			ended = true
			end := streamEvent{eof: true}
			if !errors.Is(err, io.EOF) {
				end = streamEvent{err: err}
			}
			if written == 0 {
				ev, got = end, true
			} else {
				s.pending = &end
			}
			break
		}
	}
	s.letGo(ended, true)
	return result()
}

// intoProblem says why a read's lent memory cannot be used, or "".
func (in readStreamInput) intoProblem() string {
	switch {
	case in.IntoLength < 0:
		return "intoLength must be >= 0"
	case in.IntoLength > 0 && in.IntoAddress == 0:
		return "intoLength needs an intoAddress"
	case in.IntoLength == 0 && in.IntoAddress != 0:
		return "intoAddress needs an intoLength above 0"
	case in.IntoLength > 0 && in.OutputPath != "":
		return "outputPath and intoLength exclude each other"
	}
	return ""
}

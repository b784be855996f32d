package bridge

import (
	"errors"
	"io"
	"sync"
	"time"
)

const (
	defaultStreamBlockSize   = 32 * 1024
	defaultStreamBufferItems = 16
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
}

func newStream(c *call, body io.ReadCloser, meta Response) *stream {
	blockSize := defaultStreamBlockSize
	if c.input.StreamOutputBlockSize != nil && *c.input.StreamOutputBlockSize > 0 {
		blockSize = *c.input.StreamOutputBlockSize
	}
	capacity := defaultStreamBufferItems
	if c.input.StreamBufferChunks > 0 {
		capacity = c.input.StreamBufferChunks
	}
	s := &stream{call: c, events: make(chan streamEvent, capacity), meta: meta}
	go s.pump(body, blockSize)
	return s
}

func (s *stream) pump(body io.ReadCloser, blockSize int) {
	defer body.Close()
	done := s.call.done
	for {
		buf := make([]byte, blockSize)
		n, err := body.Read(buf)
		if n > 0 {
			select {
			case s.events <- streamEvent{data: buf[:n]}:
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

// coalesce appends further buffered data to first, up to maxBytes, without
// waiting; a terminal event met on the way is kept for the next read.
func (s *stream) coalesce(first []byte, maxBytes int) []byte {
	if maxBytes <= len(first) {
		return first
	}
	out := first
	for len(out) < maxBytes {
		select {
		case ev := <-s.events:
			if ev.terminal() {
				s.pending = &ev
				return out
			}
			if len(out) == len(first) {
				out = append(make([]byte, 0, min(maxBytes, len(first)+len(ev.data)*4)), first...)
			}
			out = append(out, ev.data...)
		default:
			return out
		}
	}
	return out
}

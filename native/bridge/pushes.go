package bridge

import (
	"encoding/json"
	"sync"
)

// A pushed stream sends its body to the caller's completion socket as it
// arrives, instead of waiting for a readStream per piece: one submission
// (pushStream) starts it, and every piece comes as a completion frame under
// that submission's ticket, the last one the end (eof or error). The
// caller bounds what is in flight with credit, in bytes: the window it
// grants at the start, then streamCredit for what it consumed. Without
// credit the pusher stops taking pieces, the stream's buffer fills and its
// pump stops reading, so the server is slowed by TCP or HTTP/2 flow
// control and nothing is dropped. A live stream's event then costs the
// caller no submission, and pieces that arrive while a frame is written go
// out together in the next one.

// pushInput is pushStream's input.
type pushInput struct {
	StreamID string `json:"streamId"`
	// Window is the credit the caller grants at the start, in bytes.
	Window int `json:"window"`
	// MaxBytes bounds one frame's body (0: one block of the stream).
	MaxBytes int `json:"maxBytes"`
}

// creditInput is streamCredit's input: bytes more the pusher may send.
type creditInput struct {
	StreamID string `json:"streamId"`
	Bytes    int    `json:"bytes"`
}

// credit is a pushed stream's allowance of bytes.
type credit struct {
	mu     sync.Mutex
	bytes  int
	notify chan struct{} // signalled when bytes grows
}

func newCredit(window int) *credit {
	return &credit{bytes: window, notify: make(chan struct{}, 1)}
}

func (c *credit) grant(n int) {
	c.mu.Lock()
	c.bytes += n
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// available waits until some credit is left or done closes; false on done.
func (c *credit) available(done <-chan struct{}) (int, bool) {
	for {
		c.mu.Lock()
		n := c.bytes
		c.mu.Unlock()
		if n > 0 {
			return n, true
		}
		select {
		case <-c.notify:
		case <-done:
			return 0, false
		}
	}
}

func (c *credit) spend(n int) {
	c.mu.Lock()
	c.bytes -= n
	c.mu.Unlock()
}

// pushStream pushes a stream's body to q under ticket until its end, its
// cancellation or q being dropped. It holds the stream's read lock
// throughout: a pushed stream has no other reader.
func (b *Bridge) pushStream(q *completionQueue, ticket string, payload []byte) {
	deliver := func(out StreamChunk, final bool) bool {
		c := Completion{Ticket: ticket, Op: "pushStream", Result: marshal(out), buffer: out.ChunkBuffer}
		if q.deliver(c, final) {
			return true
		}
		b.buffers.discard(out.ChunkBuffer)
		return false
	}
	var in pushInput
	if err := json.Unmarshal(payload, &in); err != nil {
		deliver(StreamChunk{ID: b.newID(), Error: err.Error(), ErrorCode: CodeInvalidInput}, true)
		return
	}
	out := StreamChunk{ID: b.newID(), StreamID: in.StreamID}
	if in.Window <= 0 || in.MaxBytes < 0 {
		out.Error, out.ErrorCode = "pushStream needs window > 0 and maxBytes >= 0", CodeInvalidInput
		deliver(out, true)
		return
	}
	s, ok := b.lookupStream(in.StreamID)
	if !ok {
		out.Error, out.ErrorCode = "unknown streamId: "+in.StreamID, CodeUnknownStream
		deliver(out, true)
		return
	}
	allowance := newCredit(in.Window)
	if !s.setCredit(allowance) {
		out.Error, out.ErrorCode = "stream "+in.StreamID+" is pushed already", CodeInvalidInput
		deliver(out, true)
		return
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		out = StreamChunk{ID: b.newID(), StreamID: in.StreamID}
		room, ok := allowance.available(s.call.done)
		if ok {
			ev, _ := s.next(-1)
			switch {
			case ev.eof:
				b.finishStream(s, true)
				out.EOF = true
				deliver(out, true)
				return
			case ev.err != nil:
				err := b.bodyError(s.call, ev.err)
				b.finishStream(s, false)
				out.Error, out.ErrorCode = err.Error(), errorCode(err)
				deliver(out, true)
				return
			}
			if s.call.abortReason() == nil {
				limit := room
				if in.MaxBytes > 0 {
					limit = min(limit, in.MaxBytes)
				}
				pieces := s.gather(ev.data, limit)
				n := totalLen(pieces)
				out.ChunkBuffer, out.ChunkLength = b.newBuffer(pieces...), n
				allowance.spend(n)
				if !deliver(out, false) {
					// Nobody reads the queue any more: end the stream.
					b.cancelCall(in.StreamID)
					return
				}
				continue
			}
		}
		// Cancelled (cancelStream, destroyAll, the deadline): the pieces
		// still buffered are nobody's.
		err := s.call.abortReason()
		if err == nil {
			err = errCancelled
		}
		b.finishStream(s, false)
		out.Error, out.ErrorCode = err.Error(), errorCode(err)
		deliver(out, true)
		return
	}
}

// grantCredit adds to a pushed stream's credit; unknown or ended streams
// are ignored (a grant may cross the stream's end).
func (b *Bridge) grantCredit(payload []byte) error {
	var in creditInput
	if err := json.Unmarshal(payload, &in); err != nil {
		return newError(CodeInvalidInput, err.Error())
	}
	if in.Bytes <= 0 {
		return newError(CodeInvalidInput, "streamCredit needs bytes > 0")
	}
	if b.grantWebSocketCredit(in.StreamID, in.Bytes) {
		return nil
	}
	if s, ok := b.lookupStream(in.StreamID); ok {
		if c := s.pushCredit(); c != nil {
			c.grant(in.Bytes)
		}
	}
	return nil
}

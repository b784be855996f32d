package bridge

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The completion ABI lets a caller run many calls with one waiting thread:
// submit() starts a call in a goroutine and returns at once, and
// pollCompletions() hands back finished calls in batches. A Python caller
// then needs one thread for any number of requests in flight instead of one
// blocked thread per request (docs/abi.rst, "Completion queue").

type submitInput struct {
	// Queue names the completion queue (one per consumer, so that two
	// crawlers in a process never take each other's results).
	Queue  string          `json:"queue"`
	Op     string          `json:"op"`
	Ticket string          `json:"ticket"`
	Input  json.RawMessage `json:"input"`
}

// Completion is one finished submission: the envelope its synchronous
// export would have returned, unparsed.
type Completion struct {
	Ticket string          `json:"ticket"`
	Op     string          `json:"op"`
	Result json.RawMessage `json:"result"`
	// buffer is the body buffer Result names, released if the queue is
	// dropped before the completion is polled.
	buffer string
}

type pollInput struct {
	Queue     string `json:"queue"`
	TimeoutMs int    `json:"timeoutMs"`
	Max       int    `json:"max"`
	// Drop forgets the queue (after its consumer stopped); results that
	// arrive later for it are discarded.
	Drop bool `json:"drop"`
	// NotifyFd (when > 0) makes the library write a byte to this
	// non-blocking descriptor (the write end of the caller's pipe) whenever
	// the queue goes from empty to not empty, so that an event loop can
	// watch the read end and poll with timeoutMs 0 on its own thread, with
	// no thread waiting in pollCompletions. Until the queue is dropped.
	NotifyFd int `json:"notifyFd"`
	// SocketFd (when > 0) names one end of a connected stream socket pair
	// whose other end the caller keeps: the library takes a duplicate of
	// it, reads submission frames from it and writes each completion of
	// the queue to it as a frame, instead of keeping it for
	// pollCompletions (sockets.go). The poll that attaches it takes
	// nothing.
	SocketFd int `json:"socketFd"`
	// FrameBodyMax (with SocketFd): bodies longer than this many bytes are
	// not written into frames but left as buffers to take (0: 64 KiB).
	FrameBodyMax int `json:"frameBodyMax"`
}

type pollOutput struct {
	ID          string       `json:"id"`
	Completions []Completion `json:"completions"`
}

type completionQueue struct {
	mu      sync.Mutex
	items   []Completion
	notify  chan struct{}
	pending int               // submitted, not yet completed
	dropped bool              // nobody polls any more: results are discarded
	wakeFd  int               // the caller's pipe (NotifyFd), -1 if none
	sock    *completionSocket // set by SocketFd: completions are written there
	writing bool              // a goroutine is writing the items to sock
}

func newCompletionQueue() *completionQueue {
	return &completionQueue{notify: make(chan struct{}, 1), wakeFd: -1}
}

// wake tells a caller watching wakeFd that completions wait. Called with
// q.mu held, so that no byte is written after drop gave the descriptor
// back. A full pipe (EAGAIN) already holds a wake-up.
func (q *completionQueue) wake() {
	if q.wakeFd >= 0 {
		_, _ = unix.Write(q.wakeFd, []byte{1})
	}
}

// completionQueues holds the named queues.
type completionQueues struct {
	mu     sync.Mutex
	queues map[string]*completionQueue
	// dropped remembers the names of dropped queues, so that a submission
	// arriving after its consumer stopped is discarded instead of
	// recreating the queue, where its result (and body buffer) would wait
	// for a poll that never comes. One short name per stopped consumer.
	dropped map[string]struct{}
}

func newCompletionQueues() *completionQueues {
	return &completionQueues{queues: map[string]*completionQueue{}, dropped: map[string]struct{}{}}
}

func (qs *completionQueues) get(name string) *completionQueue {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if _, gone := qs.dropped[name]; gone {
		q := newCompletionQueue()
		q.dropped = true
		return q
	}
	q, ok := qs.queues[name]
	if !ok {
		q = newCompletionQueue()
		qs.queues[name] = q
	}
	return q
}

// drop forgets a queue and returns the body buffers of its unpolled
// completions, which nobody will take now.
func (qs *completionQueues) drop(name string) []string {
	qs.mu.Lock()
	q, ok := qs.queues[name]
	delete(qs.queues, name)
	qs.dropped[name] = struct{}{}
	qs.mu.Unlock()
	if !ok {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropped = true
	q.wakeFd = -1
	var orphans []string
	if q.sock != nil {
		q.sock.close() // the caller reads the end of the stream
		orphans = q.sock.orphans()
	}
	for _, c := range q.items {
		if c.buffer != "" {
			orphans = append(orphans, c.buffer)
		}
	}
	q.items = nil
	return orphans
}

// pending counts submissions not completed plus completions not polled.
func (qs *completionQueues) pending() int {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	n := 0
	for _, q := range qs.queues {
		q.mu.Lock()
		n += q.pending + len(q.items)
		q.mu.Unlock()
	}
	return n
}

// push queues a completion; false if the queue was dropped meanwhile, in
// which case the completion (and any buffer it names) has no taker.
func (q *completionQueue) push(c Completion) bool {
	q.mu.Lock()
	q.pending--
	if q.dropped {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, c)
	if q.sock != nil {
		if q.writing {
			q.mu.Unlock() // the writer takes it with the others
			return true
		}
		q.writing = true
		q.mu.Unlock()
		q.sock.writeQueued(q)
		return true
	}
	if len(q.items) == 1 {
		q.wake()
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// take waits up to timeout for at least one completion and returns at most
// max of them.
func (q *completionQueue) take(timeout time.Duration, limit int) []Completion {
	deadline := time.Now().Add(timeout)
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			n := min(len(q.items), limit)
			out := append([]Completion(nil), q.items[:n]...)
			q.items = append(q.items[:0], q.items[n:]...)
			more := len(q.items) > 0
			if more {
				q.wake() // the caller took max: it is told to come back
			}
			q.mu.Unlock()
			if more {
				select {
				case q.notify <- struct{}{}:
				default:
				}
			}
			return out
		}
		q.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-q.notify:
		case <-timer.C:
		}
		timer.Stop()
	}
}

var submitOps = map[string]func(b *Bridge, payload []byte) answer{
	"request":       (*Bridge).requestOp,
	"requestStream": (*Bridge).requestStreamOp,
	"readStream":    (*Bridge).readStreamOp,
	"readStreamAll": (*Bridge).readStreamAllOp,
	"cancelStream":  func(b *Bridge, payload []byte) answer { return plainAnswer(b.CancelStream(payload)) },
}

// Submit starts an operation in the background; its result arrives
// through PollCompletions under the caller's ticket. Every submission
// completes exactly once, errors included. A JSON array submits each of
// its elements: one call from the caller's event loop for all the reads it
// started in one pass, where each call into Go has a fixed cost.
func (b *Bridge) Submit(payload []byte) {
	if trimmed := bytes.TrimLeft(payload, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err == nil {
			for _, one := range batch {
				b.submitOne(one)
			}
			return
		}
		// Not a valid array: reported as one invalid submission below.
	}
	b.submitOne(payload)
}

func (b *Bridge) submitOne(payload []byte) {
	var in submitInput
	err := json.Unmarshal(payload, &in)
	queue := b.completions.get(in.Queue)
	queue.mu.Lock()
	if queue.dropped {
		// Its consumer stopped: nobody would take the result, and the
		// call would only spend a connection (or open a stream nobody
		// reads). A frame still in a socket when its queue was dropped
		// ends here.
		queue.mu.Unlock()
		return
	}
	queue.pending++
	queue.mu.Unlock()
	if err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: marshal(out)})
		return
	}
	op, ok := submitOps[in.Op]
	if !ok {
		out := b.errorResponse(nil, newError(CodeInvalidInput, "unknown submit op "+in.Op+
			"; accepted: request, requestStream, readStream, readStreamAll, cancelStream"))
		queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: marshal(out)})
		return
	}
	go func() {
		result := op(b, in.Input)
		if !queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: result.json, buffer: result.buffer}) {
			b.buffers.discard(result.buffer)
		}
	}()
}

// PollCompletions returns finished submissions: it waits up to timeoutMs
// (capped at 60 s; 0 polls) for the first one and returns at most max
// (default 256).
func (b *Bridge) PollCompletions(payload []byte) (string, []byte) {
	var in pollInput
	if err := json.Unmarshal(payload, &in); err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		return out.ID, marshal(out)
	}
	limit := in.Max
	if limit <= 0 {
		limit = 256
	}
	if in.Drop {
		b.buffers.discard(b.completions.drop(in.Queue)...)
		out := pollOutput{ID: b.newID(), Completions: []Completion{}}
		return out.ID, marshal(out)
	}
	queue := b.completions.get(in.Queue)
	if in.SocketFd > 0 {
		out := pollOutput{ID: b.newID(), Completions: []Completion{}}
		if err := b.attachSocket(in.Queue, queue, in.SocketFd, in.FrameBodyMax); err != nil {
			failed := b.errorResponse(nil, err)
			return failed.ID, marshal(failed)
		}
		return out.ID, marshal(out)
	}
	if in.NotifyFd > 0 {
		queue.mu.Lock()
		if !queue.dropped {
			queue.wakeFd = in.NotifyFd
			if len(queue.items) > 0 {
				queue.wake()
			}
		}
		queue.mu.Unlock()
	}
	timeout := time.Duration(min(max(in.TimeoutMs, 0), 60000)) * time.Millisecond
	out := pollOutput{ID: b.newID(), Completions: queue.take(timeout, limit)}
	size := 64
	for _, c := range out.Completions {
		size += len(c.Ticket) + len(c.Op) + len(c.Result) + 40
	}
	return out.ID, out.appendJSON(make([]byte, 0, size))
}

// appendJSON appends what json.Marshal gives for o, without re-validating
// and compacting every result (encoding/json does that for a RawMessage,
// and a poll carries up to hundreds of envelopes, each already compact
// JSON made by marshal). It runs on the caller's event-loop thread.
func (o pollOutput) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, o.ID)
	dst = append(dst, `,"completions":[`...)
	for i, c := range o.Completions {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = c.appendJSON(dst)
	}
	return append(dst, "]}"...)
}

// appendJSON appends what json.Marshal gives for c.
func (c Completion) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"ticket":`...)
	dst = appendJSONString(dst, c.Ticket)
	dst = append(dst, `,"op":`...)
	dst = appendJSONString(dst, c.Op)
	dst = append(dst, `,"result":`...)
	if len(c.Result) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, c.Result...)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string. Strings here came out of
// json.Unmarshal or this library, so they are valid UTF-8, which JSON
// carries as is; quotes, backslashes and control characters are escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

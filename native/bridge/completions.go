package bridge

import (
	"encoding/json"
	"sync"
)

// Completions: a caller runs many calls over one socket pair with no
// thread waiting. It attaches one end of the pair to a named queue
// (attachCompletionSocket), writes submissions to its end, and reads each
// finished call back as a frame (sockets.go; docs/abi.rst, "Completion
// socket"). A Python caller then needs no thread for any number of
// requests in flight, and its event-loop thread makes no call into Go.

type submitInput struct {
	// Queue names the completion queue (one per consumer, so that two
	// crawlers in a process never take each other's results).
	Queue  string          `json:"queue"`
	Op     string          `json:"op"`
	Ticket string          `json:"ticket"`
	Input  json.RawMessage `json:"input"`
}

// Completion is one finished submission: the envelope its synchronous
// export would have returned, unparsed. Frames carry it as
// {"ticket","op","result"}.
type Completion struct {
	Ticket string          `json:"ticket"`
	Op     string          `json:"op"`
	Result json.RawMessage `json:"result"`
	// buffer is the body buffer Result names, released if the queue is
	// dropped before the completion is written.
	buffer string
}

// completionSocketInput is attachCompletionSocket's input.
type completionSocketInput struct {
	Queue string `json:"queue"`
	// SocketFd names one end of a connected stream socket pair whose other
	// end the caller keeps: the library takes a duplicate of it.
	SocketFd int `json:"socketFd"`
	// FrameBodyMax: bodies longer than this many bytes are not written
	// into frames but left as buffers to take (0: 64 KiB).
	FrameBodyMax int `json:"frameBodyMax"`
}

// queueInput names a queue (dropCompletionQueue).
type queueInput struct {
	Queue string `json:"queue"`
}

// completionQueue holds a queue's completions until its socket's writer
// takes them.
type completionQueue struct {
	mu      sync.Mutex
	items   []Completion
	pending int               // submitted, not yet completed
	dropped bool              // the caller is gone: results are discarded
	sock    *completionSocket // where completions are written
	writing bool              // a goroutine is writing the items to sock
}

// completionQueues holds the named queues.
type completionQueues struct {
	mu     sync.Mutex
	queues map[string]*completionQueue
	// dropped remembers the names of dropped queues, so that a submission
	// arriving after its consumer stopped is discarded instead of
	// recreating the queue, where its result (and body buffer) would wait
	// for a reader that never comes. One short name per stopped consumer.
	dropped map[string]struct{}
}

func newCompletionQueues() *completionQueues {
	return &completionQueues{queues: map[string]*completionQueue{}, dropped: map[string]struct{}{}}
}

func (qs *completionQueues) get(name string) *completionQueue {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if _, gone := qs.dropped[name]; gone {
		return &completionQueue{dropped: true}
	}
	q, ok := qs.queues[name]
	if !ok {
		q = &completionQueue{}
		qs.queues[name] = q
	}
	return q
}

// drop forgets a queue and returns the body buffers of its unwritten
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

// pending counts submissions not completed plus completions not written.
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

// push queues the completion of a submission for the socket; false if the
// queue was dropped meanwhile, in which case the completion (and any
// buffer it names) has no taker.
func (q *completionQueue) push(c Completion) bool { return q.deliver(c, true) }

// deliver queues a completion for the socket: the last of its submission
// (final), or one of the pieces a pushed stream sends before its end.
func (q *completionQueue) deliver(c Completion, final bool) bool {
	q.mu.Lock()
	if final {
		q.pending--
	}
	if q.dropped {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, c)
	if q.sock == nil || q.writing {
		q.mu.Unlock() // the writer takes it with the others
		return true
	}
	q.writing = true
	q.mu.Unlock()
	q.sock.writeQueued(q)
	return true
}

// submitOps are the operations a submission can start. Those that send a
// request take the frame's body as the request body.
var submitOps = map[string]func(b *Bridge, payload, body []byte) answer{
	"request":       (*Bridge).requestWithBody,
	"requestStream": (*Bridge).requestStreamWithBody,
	"readStream":    withoutBody((*Bridge).readStreamOp),
	"readStreamAll": withoutBody((*Bridge).readStreamAllOp),
	"cancelStream":  withoutBody(func(b *Bridge, payload []byte) answer { return plainAnswer(b.CancelStream(payload)) }),
}

// withoutBody refuses a frame body for an operation that sends none.
func withoutBody(op func(b *Bridge, payload []byte) answer) func(b *Bridge, payload, body []byte) answer {
	return func(b *Bridge, payload, body []byte) answer {
		if len(body) > 0 {
			return responseAnswer(b.errorResponse(nil, newError(CodeInvalidInput, "this operation takes no body")))
		}
		return op(b, payload)
	}
}

// submit starts the operation a submission document names, in the
// background; its result goes to the document's queue under its ticket.
// Every submission completes exactly once, errors included.
func (b *Bridge) submit(payload, body []byte) {
	var in submitInput
	err := json.Unmarshal(payload, &in)
	if err == nil && in.Op == "streamCredit" {
		// Credit completes nothing: the stream's pieces answer it. Only a
		// malformed grant comes back, as an error under its ticket.
		if err = b.grantCredit(in.Input); err == nil {
			return
		}
	}
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
	switch in.Op {
	case "pushStream", "pushWebSocket", "closeWebSocket", "openWebSocket":
		if len(body) > 0 {
			out := b.errorResponse(nil, newError(CodeInvalidInput, "this operation takes no body"))
			queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: marshal(out)})
			return
		}
	}
	switch in.Op {
	case "pushStream":
		go b.pushStream(queue, in.Ticket, in.Input)
		return
	case "pushWebSocket":
		go b.pushWebSocket(queue, in.Ticket, in.Input)
		return
	case "sendWebSocket", "closeWebSocket":
		b.enqueueWebSocketWrite(queue, in.Op, in.Ticket, in.Input, body)
		return
	case "openWebSocket":
		go func() {
			result := b.openWebSocket(in.Input, in.Queue)
			if !queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: result.json}) {
				// Dropped while the handshake ran: nobody has the socket.
				b.closeWebSocketsOf(in.Queue)
			}
		}()
		return
	}
	op, ok := submitOps[in.Op]
	if !ok {
		out := b.errorResponse(nil, newError(CodeInvalidInput, "unknown submit op "+in.Op+
			"; accepted: request, requestStream, readStream, readStreamAll, pushStream, streamCredit, cancelStream, "+
			"openWebSocket, pushWebSocket, sendWebSocket, closeWebSocket"))
		queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: marshal(out)})
		return
	}
	go func() {
		result := op(b, in.Input, body)
		if !queue.push(Completion{Ticket: in.Ticket, Op: in.Op, Result: result.json, buffer: result.buffer}) {
			b.buffers.discard(result.buffer)
		}
	}()
}

// AttachCompletionSocket starts exchanging a queue's frames on a
// duplicate of the caller's socket (sockets.go).
func (b *Bridge) AttachCompletionSocket(payload []byte) (string, []byte) {
	var in completionSocketInput
	err := json.Unmarshal(payload, &in)
	if err == nil {
		err = b.attachSocket(in.Queue, b.completions.get(in.Queue), in.SocketFd, in.FrameBodyMax)
	} else {
		err = newError(CodeInvalidInput, err.Error())
	}
	if err != nil {
		out := b.errorResponse(nil, err)
		return out.ID, marshal(out)
	}
	out := successOutput{ID: b.newID(), Success: true}
	return out.ID, marshal(out)
}

// DropCompletionQueue forgets a queue after its caller stopped: its socket
// is closed, results that arrive later are discarded, and the body
// buffers nobody will take are released.
func (b *Bridge) DropCompletionQueue(payload []byte) (string, []byte) {
	var in queueInput
	if err := json.Unmarshal(payload, &in); err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		return out.ID, marshal(out)
	}
	b.buffers.discard(b.completions.drop(in.Queue)...)
	b.closeWebSocketsOf(in.Queue)
	out := successOutput{ID: b.newID(), Success: true}
	return out.ID, marshal(out)
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

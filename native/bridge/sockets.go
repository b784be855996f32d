package bridge

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A completion socket carries a queue's traffic both ways, so that the
// caller's event-loop thread never calls into Go while a crawl runs
// (docs/abi.rst, "Completion socket"). Each call from a foreign thread
// into Go takes a P on entry and leaves it "in a syscall" on return, for
// sysmon to retake; a write and a read on a socket are plain system calls.
// Side by side in the crawl benchmark, the socket cut the CPU per page by
// 5-8 % (docs/benchmarks.rst).
//
// Frames from the caller: an 8-byte header of two little-endian uint32s
// (the length of a submission document, {"queue","op","ticket","input"},
// and of the request body that follows it, 0 for none), the document, then
// the body: raw bytes, which a request or requestStream sends as its body.
//
// Frames to the caller: an 8-byte header, two little-endian uint32s (the
// length of the completion's JSON, {"ticket","op","result"}, and the
// length of its body), the JSON, then
// the body: the bytes of the buffer the result names (bodyBuffer,
// chunkBuffer), which the library takes itself, so the caller neither
// takes nor frees it. A body length of BodyReleased means the buffer was
// released before it could be written (destroyAll). A buffer longer than
// the socket's frameBodyMax is not written: its body length is
// BodyByHandle, and the caller takes the buffer (takeBuffer). For a 512 KiB read that one call costs nothing next to the bytes,
// and the bytes are copied once instead of through the socket (loopback
// 1 GiB reads: 518 MB/s taken, 399 MB/s through the socket).

const (
	// BodyReleased and BodyByHandle take a frame's body length in the cases
	// above; exported for callers in Go (cmd/pagecost).
	BodyReleased = math.MaxUint32
	BodyByHandle = math.MaxUint32 - 1
	// defaultFrameBodyMax is frameBodyMax when the caller gives none.
	defaultFrameBodyMax = 64 << 10
	// handedPrune: past this many buffers handed to the caller, those it
	// took are forgotten.
	handedPrune = 1024
	// deliverBatch caps the completions written together.
	deliverBatch = 512
	// copyBelow: body pieces shorter than this are copied next to their
	// header; longer ones go to writev as they are.
	copyBelow = 16 << 10
)

type completionSocket struct {
	queue     string
	conn      net.Conn
	buffers   *bufferRegistry
	bodyMax   int
	closeOnce sync.Once

	// handed holds the buffers left to the caller to take (BodyByHandle):
	// those it did not take when the queue is dropped are released then.
	handedMu sync.Mutex
	handed   map[string]struct{}
	released bool // the queue was dropped: nothing more is handed out
}

// hand records a buffer left to the caller; false (and the buffer
// released) once the queue was dropped, as nobody would take it.
func (s *completionSocket) hand(id string) bool {
	s.handedMu.Lock()
	defer s.handedMu.Unlock()
	if s.released {
		s.buffers.discard(id)
		return false
	}
	if len(s.handed) >= handedPrune {
		for held := range s.handed {
			if !s.buffers.has(held) {
				delete(s.handed, held)
			}
		}
	}
	s.handed[id] = struct{}{}
	return true
}

// orphans returns the buffers handed out and not taken, forgetting them;
// from now on none is handed out.
func (s *completionSocket) orphans() []string {
	s.handedMu.Lock()
	defer s.handedMu.Unlock()
	s.released = true
	ids := make([]string, 0, len(s.handed))
	for id := range s.handed {
		ids = append(ids, id)
	}
	clear(s.handed)
	return ids
}

func (s *completionSocket) close() {
	s.closeOnce.Do(func() {
		_ = s.conn.Close() // unblocks the reader and a blocked writer
	})
}

// attachSocket starts exchanging q's frames on a duplicate of fd; bodies
// longer than bodyMax (0: the default) are left to the caller to take.
func (b *Bridge) attachSocket(name string, q *completionQueue, fd, bodyMax int) error {
	if bodyMax < 0 {
		return newError(CodeInvalidInput, "frameBodyMax must be >= 0 (0: "+strconv.Itoa(defaultFrameBodyMax)+")")
	}
	if bodyMax == 0 {
		bodyMax = defaultFrameBodyMax
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return newError(CodeInvalidInput, "socketFd "+strconv.Itoa(fd)+": "+err.Error())
	}
	file := os.NewFile(uintptr(dup), "completion-socket")
	conn, err := net.FileConn(file) // a duplicate of its own, in the poller
	_ = file.Close()
	if err != nil {
		return newError(CodeInvalidInput, "socketFd "+strconv.Itoa(fd)+" is not a connected socket: "+err.Error())
	}
	s := &completionSocket{
		queue: name, conn: conn, buffers: b.buffers, bodyMax: bodyMax,
		handed: map[string]struct{}{},
	}
	q.mu.Lock()
	switch {
	case q.dropped:
		q.mu.Unlock()
		_ = conn.Close()
		return newError(CodeInvalidInput, "queue "+name+" was dropped")
	case q.sock != nil:
		q.mu.Unlock()
		_ = conn.Close()
		return newError(CodeInvalidInput, "queue "+name+" already has a socket")
	}
	q.sock = s
	queued := len(q.items) > 0 && !q.writing
	q.writing = q.writing || queued
	q.mu.Unlock()
	if queued { // completions that came before the socket go out now
		go s.writeQueued(q)
	}
	go b.readSubmissions(s)
	return nil
}

// writeQueued writes q's completions until none is left. The goroutine
// whose push found no writer runs it, so a completion goes out from the
// goroutine that finished it: handing it to a writer goroutine cost a
// wake-up per stream event (p50 event latency at 100 SSE streams was
// 2.1-2.5 ms that way, 1.7-2.2 ms this way). Completions pushed meanwhile
// go out together in the next write. The caller set q.writing.
func (s *completionSocket) writeQueued(q *completionQueue) {
	for {
		q.mu.Lock()
		if len(q.items) == 0 || q.dropped {
			q.writing = false
			q.mu.Unlock()
			return
		}
		n := min(len(q.items), deliverBatch)
		batch := append([]Completion(nil), q.items[:n]...)
		q.items = append(q.items[:0], q.items[n:]...)
		q.mu.Unlock()
		frames := s.frames(batch)
		if _, err := frames.WriteTo(s.conn); err != nil {
			// The caller's end is gone, or the queue was dropped
			// meanwhile: nobody reads these. Their framed buffers were
			// taken; the reader's end drops the queue.
			s.close()
		}
	}
}

// frames encodes completions as frames, taking the body buffers they name
// up to s.bodyMax bytes and handing the longer ones to the caller.
func (s *completionSocket) frames(batch []Completion) net.Buffers {
	size := 0
	for _, c := range batch {
		size += 8 + len(c.Ticket) + len(c.Op) + len(c.Result) + 40
	}
	var out net.Buffers
	contiguous := make([]byte, 0, size)
	for _, c := range batch {
		start := len(contiguous)
		contiguous = append(contiguous, make([]byte, 8)...)
		contiguous = c.appendJSON(contiguous)
		binary.LittleEndian.PutUint32(contiguous[start:], uint32(len(contiguous)-start-8))
		if c.buffer == "" {
			continue // body length 0
		}
		if size, ok := s.buffers.size(c.buffer); ok && size > s.bodyMax {
			marker := uint32(BodyByHandle)
			if !s.hand(c.buffer) {
				marker = BodyReleased
			}
			binary.LittleEndian.PutUint32(contiguous[start+4:], marker)
			continue
		}
		pieces, ok := s.buffers.take(c.buffer)
		if !ok {
			binary.LittleEndian.PutUint32(contiguous[start+4:], BodyReleased)
			continue
		}
		binary.LittleEndian.PutUint32(contiguous[start+4:], uint32(totalLen(pieces)))
		for _, p := range pieces {
			if len(p) < copyBelow {
				contiguous = append(contiguous, p...)
				continue
			}
			// What is written so far goes out before the piece; appends
			// after it write past the slice handed to out.
			out = append(out, contiguous, p)
			contiguous = contiguous[len(contiguous):]
		}
	}
	if len(contiguous) > 0 {
		out = append(out, contiguous)
	}
	return out
}

// readSubmissions submits each document the caller writes. The caller
// closing its end drops the queue, as dropCompletionQueue would: nobody is
// left to take its results.
func (b *Bridge) readSubmissions(s *completionSocket) {
	defer func() { // idempotent
		b.buffers.discard(b.completions.drop(s.queue)...)
		b.closeWebSocketsOf(s.queue)
	}()
	reader := bufio.NewReaderSize(s.conn, 64<<10)
	var head [8]byte
	for {
		if _, err := io.ReadFull(reader, head[:]); err != nil {
			return
		}
		document := make([]byte, binary.LittleEndian.Uint32(head[:4]))
		if _, err := io.ReadFull(reader, document); err != nil {
			return
		}
		var body []byte
		if n := binary.LittleEndian.Uint32(head[4:]); n > 0 {
			body = make([]byte, n)
			if _, err := io.ReadFull(reader, body); err != nil {
				return
			}
		}
		b.submit(document, body)
	}
}

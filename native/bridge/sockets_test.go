package bridge

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair attaches one end of a fresh socket pair to queue and returns
// the caller's end, closed at the end of the test.
func socketPair(t *testing.T, b *Bridge, queue string) net.Conn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, out := b.AttachCompletionSocket(mustJSON(t, map[string]any{"queue": queue, "socketFd": fds[1]}))
	unix.Close(fds[1]) // the library holds a duplicate
	if r := decode[Response](t, out); r.ErrorCode != "" {
		t.Fatalf("attach: %+v", r)
	}
	file := os.NewFile(uintptr(fds[0]), "caller")
	ours, err := net.FileConn(file) // with deadlines, in Go's poller
	file.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ours.Close() })
	return ours
}

func writeSubmissions(t *testing.T, w io.Writer, documents ...any) {
	t.Helper()
	encoded := make([][]byte, len(documents))
	for i, d := range documents {
		encoded[i] = mustJSON(t, d)
	}
	writeRaw(t, w, encoded...)
}

// writeRaw writes each document as a submission frame, as it is.
func writeRaw(t *testing.T, w io.Writer, documents ...[]byte) {
	t.Helper()
	var frames []byte
	for _, d := range documents {
		frames = binary.LittleEndian.AppendUint32(frames, uint32(len(d)))
		frames = binary.LittleEndian.AppendUint32(frames, 0) // no body
		frames = append(frames, d...)
	}
	if _, err := w.Write(frames); err != nil {
		t.Fatal(err)
	}
}

// submitPrefetched submits a requestStream whose body comes with its
// headers, as a buffer.
func submitPrefetched(t *testing.T, w io.Writer, queue, ticket, url string) {
	t.Helper()
	writeSubmissions(t, w, map[string]any{"queue": queue, "op": "requestStream", "ticket": ticket,
		"input": req(url, map[string]any{"binaryBody": true, "prefetchBytes": 1 << 20, "prefetchTimeoutMs": 5000})})
}

type framedCompletion struct {
	Completion
	body     []byte
	released bool
	byHandle bool
}

// readFrames reads n completion frames within limit.
func readFrames(t *testing.T, f net.Conn, n int, limit time.Duration) map[string]framedCompletion {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	got := map[string]framedCompletion{}
	for len(got) < n {
		c, err := readFrame(f)
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", len(got), n, err)
		}
		if _, dup := got[c.Ticket]; dup {
			t.Fatalf("ticket %s completed twice", c.Ticket)
		}
		got[c.Ticket] = c
	}
	return got
}

// readFrame reads one completion frame within f's read deadline.
func readFrame(f net.Conn) (framedCompletion, error) {
	var c framedCompletion
	var head [8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return c, err
	}
	jsonLength, bodyLength := binary.LittleEndian.Uint32(head[:4]), binary.LittleEndian.Uint32(head[4:])
	encoded := make([]byte, jsonLength)
	if _, err := io.ReadFull(f, encoded); err != nil {
		return c, err
	}
	if err := json.Unmarshal(encoded, &c.Completion); err != nil {
		return c, fmt.Errorf("%w: %s", err, encoded)
	}
	switch bodyLength {
	case BodyReleased:
		c.released = true
	case BodyByHandle:
		c.byHandle = true
	default:
		c.body = make([]byte, bodyLength)
		if _, err := io.ReadFull(f, c.body); err != nil {
			return c, err
		}
	}
	return c, nil
}

func TestACompletionSocketCarriesSubmissionsResultsAndBodies(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "sock")
	sizes := []int{0, 100, 2048, 65536, 65537, 300000}
	var documents []any
	for i, n := range sizes {
		in := req(fmt.Sprintf("%s/bytes?n=%d", s.H2, n), map[string]any{
			"binaryBody": true, "binaryMin": 512, "prefetchBytes": 1 << 20, "prefetchTimeoutMs": 5000,
		})
		documents = append(documents, map[string]any{"queue": "sock", "op": "requestStream", "ticket": fmt.Sprint("t", i), "input": in})
	}
	documents = append(documents, map[string]any{"queue": "sock", "op": "teleport", "ticket": "bad-op", "input": map[string]any{}})
	writeSubmissions(t, ours, documents...)
	got := readFrames(t, ours, len(sizes)+1, 20*time.Second)
	for i, n := range sizes {
		c := got[fmt.Sprint("t", i)]
		r := decode[Response](t, c.Result)
		body := c.body
		if r.BodyBuffer == "" {
			body = []byte{}
			if r.Body != "" {
				body = dataURLBytes(t, r.Body) // inline: below binaryMin
			}
			if len(c.body) != 0 {
				t.Fatalf("%d bytes: a frame body for a result naming no buffer", n)
			}
		}
		if c.byHandle != (n > defaultFrameBodyMax) {
			t.Fatalf("%d bytes: by handle %v against frameBodyMax %d", n, c.byHandle, defaultFrameBodyMax)
		}
		if c.byHandle {
			body = takeBytes(t, b, r.BodyBuffer)
		}
		if !r.EOF || c.released || !bytes.Equal(body, pattern(n)) {
			t.Fatalf("%d bytes: eof %v, released %v, got %d bytes", n, r.EOF, c.released, len(body))
		}
		if (r.BodyBuffer != "") != (n >= 512) {
			t.Fatalf("%d bytes: buffer %q against binaryMin 512", n, r.BodyBuffer)
		}
	}
	if r := decode[Response](t, got["bad-op"].Result); r.ErrorCode != CodeInvalidInput {
		t.Fatalf("bad op: %+v", r)
	}
	// The library took the framed buffers itself; nothing is left to poll.
	if n := b.UntakenBuffers(); n != 0 {
		t.Fatalf("%d buffers left untaken", n)
	}
	if n := b.completions.pending(); n != 0 {
		t.Fatalf("%d completions pending", n)
	}
}

func TestDroppingAQueueClosesItsSocket(t *testing.T) {
	b := New()
	ours := socketPair(t, b, "dropped")
	b.DropCompletionQueue([]byte(`{"queue": "dropped"}`))
	if err := ours.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := ours.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("read %d bytes, %v; want the end of the stream", n, err)
	}
}

func TestClosingTheCallersEndDropsTheQueue(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "orphan")
	submitPrefetched(t, ours, "orphan", "first", s.H2+"/bytes?n=5000")
	readFrames(t, ours, 1, 10*time.Second)
	ours.Close()
	waitFor(t, func() bool {
		b.completions.mu.Lock()
		defer b.completions.mu.Unlock()
		_, live := b.completions.queues["orphan"]
		return !live
	})
	// Nothing submitted to it from now on starts.
	started := b.callsStarted.Load()
	b.submit(mustJSON(t, map[string]any{"queue": "orphan", "op": "request", "ticket": "late", "input": req(s.H2+"/bytes?n=10", nil)}), nil)
	time.Sleep(50 * time.Millisecond)
	if n := b.callsStarted.Load() - started; n != 0 || b.completions.pending() != 0 {
		t.Fatalf("%d calls started for a dropped queue, %d pending", n, b.completions.pending())
	}
}

func TestFramesTakeTheirBuffersOrMarkThemReleased(t *testing.T) {
	b := New()
	big := bytes.Repeat([]byte{7}, copyBelow+1)
	held := b.newBuffer([]byte("head-"), big, []byte("-tail"))
	long := b.newBuffer(make([]byte, 100), make([]byte, 100))
	sock := &completionSocket{buffers: b.buffers, bodyMax: len(big) + 10, handed: map[string]struct{}{}}
	frames := sock.frames([]Completion{
		{Ticket: "a", Op: "request", Result: json.RawMessage(`{"bodyBuffer":"` + held + `"}`), buffer: held},
		{Ticket: "b", Op: "readStream", Result: json.RawMessage(`{"chunkBuffer":"gone"}`), buffer: "gone"},
		{Ticket: "c", Op: "request", Result: json.RawMessage(`{"status":204}`)},
	})
	var wire bytes.Buffer
	if _, err := frames.WriteTo(&wire); err != nil {
		t.Fatal(err)
	}
	if b.buffers.has(held) {
		t.Fatal("the written buffer is still held")
	}
	data := wire.Bytes()
	var bodies [][]byte
	for _, ticket := range []string{"a", "b", "c"} {
		jsonLength := int(binary.LittleEndian.Uint32(data))
		bodyLength := binary.LittleEndian.Uint32(data[4:])
		var c Completion
		if err := json.Unmarshal(data[8:8+jsonLength], &c); err != nil || c.Ticket != ticket {
			t.Fatalf("frame %s: %v, %+v", ticket, err, c)
		}
		data = data[8+jsonLength:]
		if bodyLength == BodyReleased {
			bodies = append(bodies, nil)
			continue
		}
		bodies = append(bodies, data[:bodyLength])
		data = data[bodyLength:]
	}
	want := append(append([]byte("head-"), big...), "-tail"...)
	if !bytes.Equal(bodies[0], want) || bodies[1] != nil || len(bodies[2]) != 0 || len(data) != 0 {
		t.Fatalf("bodies of %d, %v and %d bytes, %d bytes left over", len(bodies[0]), bodies[1], len(bodies[2]), len(data))
	}

	// Longer than bodyMax: left to take, and released with the queue if
	// nobody took it; none is handed out after that.
	sock.bodyMax = 150
	var handed bytes.Buffer
	frames = sock.frames([]Completion{{Ticket: "d", Op: "request", buffer: long}})
	if _, err := frames.WriteTo(&handed); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(handed.Bytes()[4:]); got != BodyByHandle || !b.buffers.has(long) {
		t.Fatalf("body length %#x, still held %v", got, b.buffers.has(long))
	}
	b.buffers.discard(sock.orphans()...)
	late := b.newBuffer(make([]byte, 200))
	handed.Reset()
	frames = sock.frames([]Completion{{Ticket: "e", Op: "request", buffer: late}})
	if _, err := frames.WriteTo(&handed); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(handed.Bytes()[4:]); got != BodyReleased || b.UntakenBuffers() != 0 {
		t.Fatalf("after the drop: body length %#x, %d buffers held", got, b.UntakenBuffers())
	}
}

func TestDroppingAQueueReleasesTheBuffersItsCallerDidNotTake(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "untaken")
	submitPrefetched(t, ours, "untaken", "big", s.H2+"/bytes?n=200000")
	if c := readFrames(t, ours, 1, 10*time.Second)["big"]; !c.byHandle || b.UntakenBuffers() != 1 {
		t.Fatalf("by handle %v, %d buffers held", c.byHandle, b.UntakenBuffers())
	}
	b.DropCompletionQueue([]byte(`{"queue": "untaken"}`))
	if n := b.UntakenBuffers(); n != 0 {
		t.Fatalf("%d buffers held after the drop", n)
	}
}

func TestAttachingASocketRefusesBadDescriptors(t *testing.T) {
	b := New()
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	socketPair(t, b, "taken")
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	b.DropCompletionQueue([]byte(`{"queue": "gone"}`))
	for name, in := range map[string]map[string]any{
		"not open":     {"queue": "x", "socketFd": 1 << 20},
		"not a socket": {"queue": "y", "socketFd": pipe[0]},
		"second":       {"queue": "taken", "socketFd": fds[1]},
		"dropped":      {"queue": "gone", "socketFd": fds[1]},
	} {
		_, out := b.AttachCompletionSocket(mustJSON(t, in))
		if r := decode[Response](t, out); r.ErrorCode != CodeInvalidInput {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// writeWithBody writes one submission frame carrying body.
func writeWithBody(t *testing.T, w io.Writer, document any, body []byte) {
	t.Helper()
	encoded := mustJSON(t, document)
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(encoded)))
	frame = binary.LittleEndian.AppendUint32(frame, uint32(len(body)))
	frame = append(append(frame, encoded...), body...)
	if _, err := w.Write(frame); err != nil {
		t.Fatal(err)
	}
}

func TestARequestBodyTravelsAsRawBytes(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	body := pattern(3 << 20)
	for _, base := range []string{s.HTTP, s.H2} {
		in := req(base+"/echo", map[string]any{"requestMethod": "POST", "prefetchBytes": 1 << 20, "prefetchTimeoutMs": 5000})
		writeWithBody(t, ours, map[string]any{"op": "requestStream", "ticket": "post", "input": in}, body)
		r := decode[Response](t, readFrames(t, ours, 1, 20*time.Second)["post"].Result)
		var echo struct {
			BodyLen    int64  `json:"body_len"`
			BodySHA256 string `json:"body_sha256"`
		}
		if err := json.Unmarshal(dataURLBytes(t, r.Body), &echo); err != nil {
			t.Fatalf("%s: %v in %+v", base, err, r)
		}
		sum := sha256.Sum256(body)
		if echo.BodyLen != int64(len(body)) || echo.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: the server got %d bytes, %s", base, echo.BodyLen, echo.BodySHA256)
		}
	}
	// A body twice, and a body for an operation that sends none, are refused.
	twice := req(s.HTTP+"/echo", map[string]any{"requestMethod": "POST", "requestBody": "eA=="})
	writeWithBody(t, ours, map[string]any{"op": "request", "ticket": "twice", "input": twice}, []byte("x"))
	writeWithBody(t, ours, map[string]any{"op": "readStream", "ticket": "read", "input": map[string]any{"streamId": "s"}}, []byte("x"))
	got := readFrames(t, ours, 2, 10*time.Second)
	for _, ticket := range []string{"twice", "read"} {
		if r := decode[Response](t, got[ticket].Result); r.ErrorCode != CodeInvalidInput {
			t.Errorf("%s: %+v", ticket, r)
		}
	}
	assertNoLeftoversEventually(t, b)
}

package bridge

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// randomServer serves n seeded random bytes (NULs included) at /?n=N, over
// TLS with HTTP/2 or HTTP/1.1 only.
func randomServer(t *testing.T, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(randomBytes(n))
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// onRandomStreams runs f as a subtest over HTTP/1.1 and over HTTP/2, each
// time on a new Bridge with a stream of n random bytes (randomServer) whose
// first prefetch bytes came with the headers as a buffer.
func onRandomStreams(t *testing.T, n, prefetch int, f func(t *testing.T, b *Bridge, r Response)) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprint("h2=", h2), func(t *testing.T) {
			b := New()
			srv := randomServer(t, h2)
			f(t, b, startStream(t, b, req(fmt.Sprintf("%s/?n=%d", srv.URL, n), map[string]any{
				"binaryBody": true, "prefetchBytes": prefetch, "prefetchTimeoutMs": 2000,
			})))
		})
	}
}

func randomBytes(n int) []byte {
	out := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(out)
	return out
}

// takeBytes takes a buffer as the C layer does, into memory of our own.
func takeBytes(t *testing.T, b *Bridge, id string) []byte {
	t.Helper()
	var out []byte
	if !b.TakeBuffer(id, func(n int) []byte { out = make([]byte, n); return out }) {
		t.Fatalf("buffer %q unknown", id)
	}
	return out
}

func readBinary(t *testing.T, b *Bridge, id string, timeoutMs, maxBytes int) StreamChunk {
	t.Helper()
	in := map[string]any{"streamId": id, "timeoutMs": timeoutMs, "maxBytes": maxBytes, "binary": true}
	_, out := b.ReadStream(mustJSON(t, in))
	return decode[StreamChunk](t, out)
}

// drainBinary reads a stream to its end with binary reads, checking each
// answer's shape.
func drainBinary(t *testing.T, b *Bridge, id string, maxBytes int) []byte {
	t.Helper()
	var body []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c := readBinary(t, b, id, 500, maxBytes)
		switch {
		case c.Error != "":
			t.Fatalf("stream error %s: %s", c.ErrorCode, c.Error)
		case c.EOF:
			return body
		case c.Timeout:
		default:
			if c.Chunk != "" || c.ChunkBuffer == "" {
				t.Fatalf("binary read answered %+v", c)
			}
			data := takeBytes(t, b, c.ChunkBuffer)
			if len(data) != c.ChunkLength || len(data) == 0 || (maxBytes > 0 && len(data) > maxBytes) {
				t.Fatalf("chunk of %d bytes, chunkLength %d, maxBytes %d", len(data), c.ChunkLength, maxBytes)
			}
			body = append(body, data...)
		}
	}
	t.Fatal("stream not finished in time")
	return nil
}

func assertNoBuffers(t *testing.T, b *Bridge) {
	t.Helper()
	_, out := b.GetStats()
	if st := decode[Stats](t, out); st.UntakenBuffers != 0 || st.UntakenBufferBytes != 0 {
		t.Fatalf("buffers left: %+v", st)
	}
}

func TestBinaryReadsAreByteExact(t *testing.T) {
	const n = 3<<20 + 12345
	want := randomBytes(n)
	onRandomStreams(t, n, 100000, func(t *testing.T, b *Bridge, r Response) {
		if r.Body != "" || r.BodyBuffer == "" {
			t.Fatalf("prefetch answered body %.40q buffer %q", r.Body, r.BodyBuffer)
		}
		got := takeBytes(t, b, r.BodyBuffer)
		if int64(len(got)) != r.BodyBytes {
			t.Fatalf("prefetch buffer %d bytes, bodyBytes %d", len(got), r.BodyBytes)
		}
		got = append(got, drainBinary(t, b, r.StreamID, 512*1024)...)
		if !bytes.Equal(got, want) {
			t.Fatalf("body differs: %d bytes, want %d", len(got), n)
		}
		assertNoLeftovers(t, b)
		assertNoBuffers(t, b)
	})
}

func TestBinaryReadHonoursMaxBytes(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.HTTPS+"/bytes?n=300000&chunked=1", map[string]any{"streamOutputBlockSize": 1000}))
	time.Sleep(200 * time.Millisecond) // let several blocks queue up
	if got := drainBinary(t, b, st.StreamID, 2500); !bytes.Equal(got, pattern(300000)) {
		t.Fatalf("got %d bytes", len(got))
	}
	assertNoBuffers(t, b)
}

func TestBinaryBodyOfWholeResponses(t *testing.T) {
	b := New()
	s := testServers(t)
	r := doRequest(t, b, req(s.H2+"/bytes?n=70000", map[string]any{"binaryBody": true}))
	if r.Body != "" || !bytes.Equal(takeBytes(t, b, r.BodyBuffer), pattern(70000)) {
		t.Fatalf("request: %+v", r)
	}
	r = doRequest(t, b, req(s.H2+"/bytes?n=0", map[string]any{"binaryBody": true}))
	if r.Status != 200 || r.Body != "" || r.BodyBuffer != "" {
		t.Fatalf("empty body: %+v", r)
	}
	text := doRequest(t, b, req(s.HTTP+"/stream?chunks=1&size=5", map[string]any{"binaryBody": true, "isByteResponse": false}))
	if got := takeBytes(t, b, text.BodyBuffer); string(got) != "aaaaa" {
		t.Fatalf("text body %q", got)
	}
	st := startStream(t, b, req(s.HTTPS+"/bytes?n=200000", map[string]any{"binaryBody": true, "streamOutputBlockSize": 1000}))
	head := takeBytes(t, b, readBinary(t, b, st.StreamID, -1, 0).ChunkBuffer)
	_, out := b.ReadStreamAll(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	rest := decode[Response](t, out)
	if got := append(head, takeBytes(t, b, rest.BodyBuffer)...); !bytes.Equal(got, pattern(200000)) {
		t.Fatalf("readStreamAll: %d + rest differ", len(head))
	}
	assertNoLeftovers(t, b)
	assertNoBuffers(t, b)
}

func TestBufferIsTakenOrDiscardedOnce(t *testing.T) {
	b := New()
	s := testServers(t)
	r := doRequest(t, b, req(s.HTTP+"/bytes?n=10", map[string]any{"binaryBody": true}))
	if !b.DiscardBuffer(r.BodyBuffer) || b.DiscardBuffer(r.BodyBuffer) {
		t.Fatal("discard should succeed once")
	}
	if b.TakeBuffer(r.BodyBuffer, func(n int) []byte { return make([]byte, n) }) {
		t.Fatal("a discarded buffer was taken")
	}
	r = doRequest(t, b, req(s.HTTP+"/bytes?n=10", map[string]any{"binaryBody": true}))
	takeBytes(t, b, r.BodyBuffer)
	if b.DiscardBuffer(r.BodyBuffer) || b.UntakenBuffers() != 0 {
		t.Fatal("a taken buffer was still known")
	}
}

func TestDestroyAllReleasesUntakenBuffers(t *testing.T) {
	b := New()
	s := testServers(t)
	var ids []string
	for i := range 3 {
		st := startStream(t, b, req(s.H2+"/bytes?n=1000000", map[string]any{"sessionId": fmt.Sprint("buf", i)}))
		ids = append(ids, readBinary(t, b, st.StreamID, 5000, 0).ChunkBuffer)
	}
	if b.UntakenBuffers() != 3 {
		t.Fatalf("untaken %d, want 3", b.UntakenBuffers())
	}
	b.DestroyAll()
	assertNoLeftovers(t, b)
	assertNoBuffers(t, b)
	if b.TakeBuffer(ids[0], func(n int) []byte { return make([]byte, n) }) {
		t.Fatal("a buffer outlived destroyAll")
	}
}

func TestCancelMidBodyLeavesNoBuffers(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	st := startStream(t, b, req(s.HTTP+"/stall?n=10", map[string]any{"binaryBody": true}))
	takeBytes(t, b, readBinary(t, b, st.StreamID, 5000, 0).ChunkBuffer)
	in := map[string]any{"streamId": st.StreamID, "timeoutMs": -1, "binary": true}
	writeSubmissions(t, ours, map[string]any{"op": "readStream", "ticket": "r", "input": in})
	time.Sleep(100 * time.Millisecond)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	if c := decode[StreamChunk](t, collect(t, ours, 1, 5*time.Second)["r"].Result); c.ErrorCode != CodeCancelled || c.ChunkBuffer != "" {
		t.Fatalf("%+v", c)
	}
	assertNoLeftovers(t, b)
	assertNoBuffers(t, b)
}

func TestDroppedQueueReleasesItsBuffers(t *testing.T) {
	b := New()
	s := testServers(t)
	// Completed, but no socket took them.
	st := startStream(t, b, req(s.H2+"/bytes?n=1000000", nil))
	for i := range 3 {
		in := map[string]any{"streamId": st.StreamID, "timeoutMs": 5000, "binary": true}
		b.submit(mustJSON(t, map[string]any{"queue": "gone", "op": "readStream", "ticket": fmt.Sprint(i), "input": in}), nil)
	}
	prefetch := req(s.H2+"/bytes?n=100", map[string]any{"binaryBody": true, "prefetchBytes": 1000, "prefetchTimeoutMs": 2000})
	b.submit(mustJSON(t, map[string]any{"queue": "gone", "op": "requestStream", "ticket": "p", "input": prefetch}), nil)
	waitFor(t, func() bool { return b.completions.pending() == 4 && b.UntakenBuffers() == 4 })
	// Completing only after the drop.
	late := startStream(t, b, req(s.H2+"/stream?chunks=2&size=10&interval_ms=300", nil))
	readChunk(t, b, late.StreamID, 5000, 0)
	lateRead := map[string]any{"streamId": late.StreamID, "timeoutMs": -1, "binary": true}
	b.submit(mustJSON(t, map[string]any{"queue": "gone", "op": "readStream", "ticket": "late", "input": lateRead}), nil)
	time.Sleep(100 * time.Millisecond) // the late read waits for its chunk

	b.DropCompletionQueue([]byte(`{"queue": "gone"}`))
	if n := b.UntakenBuffers(); n != 0 {
		t.Fatalf("%d buffers left after the drop", n)
	}
	// This read waits for the late one to give the stream back: then only
	// the end is left.
	if c := readChunk(t, b, late.StreamID, 5000, 0); !c.EOF {
		t.Fatalf("the late read did not take the last chunk: %+v", c)
	}
	time.Sleep(100 * time.Millisecond) // its completion is pushed, and refused
	assertNoBuffers(t, b)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	assertNoLeftovers(t, b)
}

func TestSubmitAfterDropIsDiscarded(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.H2+"/bytes?n=100000", nil))
	b.DropCompletionQueue([]byte(`{"queue": "stopped"}`))
	// A read submitted after its consumer stopped (a read-ahead racing a
	// close) must not recreate the queue and park its buffer there.
	in := map[string]any{"streamId": st.StreamID, "timeoutMs": 5000, "binary": true}
	b.submit(mustJSON(t, map[string]any{"queue": "stopped", "op": "readStream", "ticket": "late", "input": in}), nil)
	waitFor(t, func() bool { return b.completions.pending() == 0 })
	assertNoBuffers(t, b)
	b.completions.mu.Lock()
	_, recreated := b.completions.queues["stopped"]
	b.completions.mu.Unlock()
	if recreated {
		t.Fatal("the dropped queue was recreated by a late submission")
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	assertNoLeftovers(t, b)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSmallBinaryChunksComeInline(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.H2+"/stream?chunks=3&size=100&interval_ms=50", nil))
	var body []byte
	for i := 0; i < 20; i++ {
		in := map[string]any{"streamId": st.StreamID, "timeoutMs": 5000, "binary": true, "binaryMin": 1000}
		_, out := b.ReadStream(mustJSON(t, in))
		c := decode[StreamChunk](t, out)
		if c.EOF {
			break
		}
		if c.ChunkBuffer != "" || c.Chunk == "" {
			t.Fatalf("a chunk under binaryMin did not come inline: %+v", c)
		}
		data, err := base64.StdEncoding.DecodeString(c.Chunk)
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, data...)
	}
	if want := bytes.Repeat([]byte("a"), 100); len(body) != 300 || !bytes.Equal(body[:100], want) {
		t.Fatalf("got %d bytes: %q", len(body), body)
	}
	assertNoBuffers(t, b)
	assertNoLeftovers(t, b)
}

func TestASmallPrefetchedBodyComesInline(t *testing.T) {
	b := New()
	s := testServers(t)
	for _, n := range []int{100, 5000} {
		_, out := b.RequestStream(mustJSON(t, req(fmt.Sprintf("%s/bytes?n=%d", s.H2, n), map[string]any{
			"binaryBody": true, "binaryMin": 1000, "prefetchBytes": 65536, "prefetchTimeoutMs": 5000,
		})))
		r := decode[Response](t, out)
		switch {
		case !r.EOF:
			t.Fatalf("n=%d: not prefetched whole: %+v", n, r)
		case n < 1000 && (r.BodyBuffer != "" || !bytes.Equal(dataURLBytes(t, r.Body), pattern(n))):
			t.Fatalf("n=%d under binaryMin: buffer %q, body %q", n, r.BodyBuffer, r.Body)
		case n >= 1000 && (r.Body != "" || !bytes.Equal(takeBytes(t, b, r.BodyBuffer), pattern(n))):
			t.Fatalf("n=%d over binaryMin: body %q", n, r.Body)
		}
	}
	assertNoBuffers(t, b)
	assertNoLeftovers(t, b)
}

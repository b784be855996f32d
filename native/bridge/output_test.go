package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readToFile(t *testing.T, b *Bridge, id, path string) StreamChunk {
	t.Helper()
	in := map[string]any{"streamId": id, "timeoutMs": 500, "maxBytes": 1 << 20, "outputPath": path}
	_, out := b.ReadStream(mustJSON(t, in))
	return decode[StreamChunk](t, out)
}

// countedReads calls read until the stream's end: each answer must count
// bytes written (a file read, a read into memory), not return them. It
// returns the bytes counted and the number of reads.
func countedReads(t *testing.T, read func() StreamChunk) (written, reads int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ; ; reads++ {
		if time.Now().After(deadline) {
			t.Fatal("stream not finished in 30 s")
		}
		c := read()
		switch {
		case c.Error != "":
			t.Fatalf("stream error %s: %s", c.ErrorCode, c.Error)
		case c.EOF:
			return written, reads + 1
		case c.Chunk != "" || c.ChunkBuffer != "":
			t.Fatalf("a read that writes returned data: %+v", c)
		default:
			written += c.Written
		}
	}
}

// openFilesOf counts this process's descriptors open on path.
func openFilesOf(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

func TestReadsAppendToTheOutputFileExactly(t *testing.T) {
	const n = 3<<20 + 777
	want := randomBytes(n)
	onRandomStreams(t, n, 50000, func(t *testing.T, b *Bridge, r Response) {
		// The caller makes the file and writes the prefetched start.
		path := filepath.Join(t.TempDir(), "body.part")
		if err := os.WriteFile(path, takeBytes(t, b, r.BodyBuffer), 0o600); err != nil {
			t.Fatal(err)
		}
		written := int(r.BodyBytes)
		counted, _ := countedReads(t, func() StreamChunk { return readToFile(t, b, r.StreamID, path) })
		written += counted
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if written != n || !bytes.Equal(got, want) {
			t.Fatalf("file has %d bytes (reads counted %d), want %d exact", len(got), written, n)
		}
		if open := openFilesOf(t, path); open != 0 {
			t.Fatalf("%d descriptors still open on the file after EOF", open)
		}
		assertNoLeftovers(t, b)
		assertNoBuffers(t, b)
	})
}

func TestCancelClosesTheOutputFile(t *testing.T) {
	b := New()
	s := testServers(t)
	r := startStream(t, b, req(s.H2+"/bytes?n=50000000&chunked=1", map[string]any{"timeoutMilliseconds": -1}))
	path := filepath.Join(t.TempDir(), "body.part")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c := readToFile(t, b, r.StreamID, path); c.Written == 0 {
		t.Fatalf("first read wrote nothing: %+v", c)
	}
	if open := openFilesOf(t, path); open != 1 {
		t.Fatalf("%d descriptors open on the file mid-stream, want 1", open)
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": r.StreamID}))
	if open := openFilesOf(t, path); open != 0 {
		t.Fatalf("%d descriptors still open after cancelStream", open)
	}
	assertNoLeftovers(t, b)
}

func TestOutputFileProblemsEndTheStream(t *testing.T) {
	b := New()
	s := testServers(t)
	dir := t.TempDir()
	r := startStream(t, b, req(s.HTTPS+"/bytes?n=300000", nil))
	// The caller must have made the file: nothing is created here.
	c := readToFile(t, b, r.StreamID, filepath.Join(dir, "missing"))
	if c.ErrorCode != CodeFile {
		t.Fatalf("missing file: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("the library created the file: %v", err)
	}
	assertNoLeftovers(t, b)
}

func TestAFileReadFillsUntilItsLimitTheEndOrItsTimeout(t *testing.T) {
	b := New()
	s := testServers(t)
	path := filepath.Join(t.TempDir(), "body.part")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fill := func(id string, timeoutMs, maxBytes int) (StreamChunk, time.Duration) {
		started := time.Now()
		in := map[string]any{"streamId": id, "timeoutMs": timeoutMs, "maxBytes": maxBytes, "outputPath": path}
		_, out := b.ReadStream(mustJSON(t, in))
		return decode[StreamChunk](t, out), time.Since(started)
	}

	// A flowing body: the read goes on past the chunks buffered when it
	// started, up to maxBytes (give or take the piece that crossed it).
	const n = 3 << 20
	r := startStream(t, b, req(fmt.Sprintf("%s/bytes?n=%d", s.H2, n), nil))
	first, _ := fill(r.StreamID, 5000, 1<<20)
	if first.Written < 1<<20 || first.Written > 1<<20+defaultStreamBlockSize {
		t.Fatalf("maxBytes 1 MiB wrote %d", first.Written)
	}
	rest, _ := fill(r.StreamID, 5000, 0)
	if first.Written+rest.Written != n || rest.EOF {
		t.Fatalf("no limit: %+v after %d; the end comes in its own answer", rest, first.Written)
	}
	if end, _ := fill(r.StreamID, 5000, 0); !end.EOF || end.Written != 0 {
		t.Fatalf("after the whole body: %+v", end)
	}

	// A trickle: the timeout bounds the read, and it answers with what it
	// wrote rather than a timeout.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = startStream(t, b, req(s.H2+"/stream?chunks=20&size=10&interval_ms=100", nil))
	c, took := fill(r.StreamID, 350, 0)
	if c.Timeout || c.Written < 10 || c.Written > 50 || took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("trickle: %+v after %s", c, took)
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": r.StreamID}))
	got, err := os.ReadFile(path)
	if err != nil || len(got) != c.Written {
		t.Fatalf("file has %d bytes, the read reported %d (%v)", len(got), c.Written, err)
	}
	assertNoLeftovers(t, b)
}

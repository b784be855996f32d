package bridge

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// callerMemory maps n bytes outside Go's heap, as a caller's memory is.
func callerMemory(t *testing.T, n int) []byte {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	return mem
}

func readInto(t *testing.T, b *Bridge, id string, mem []byte, timeoutMs int) StreamChunk {
	t.Helper()
	in := map[string]any{
		"streamId": id, "timeoutMs": timeoutMs,
		"intoAddress": uintptr(unsafe.Pointer(unsafe.SliceData(mem))), "intoLength": len(mem),
	}
	_, out := b.ReadStream(mustJSON(t, in))
	return decode[StreamChunk](t, out)
}

func TestReadsCopyTheBodyIntoLentMemoryExactly(t *testing.T) {
	const n = 3<<20 + 777
	want := randomBytes(n)
	onRandomStreams(t, n, 50000, func(t *testing.T, b *Bridge, r Response) {
		// A page more than the body: the library must not write past
		// what each read lends.
		mem := callerMemory(t, n+4096)
		for i := n; i < len(mem); i++ {
			mem[i] = 0xA5
		}
		written := copy(mem, takeBytes(t, b, r.BodyBuffer))
		_, reads := countedReads(t, func() StreamChunk {
			// Lend at most 1 MiB at a time, so that a read ends full;
			// the end comes to a read that lends nothing.
			if lent := min(n-written, 1<<20); lent > 0 {
				c := readInto(t, b, r.StreamID, mem[written:written+lent], 500)
				written += c.Written
				return c
			}
			return readChunk(t, b, r.StreamID, 500, 0)
		})
		if written != n || !bytes.Equal(mem[:n], want) {
			t.Fatalf("memory has %d bytes counted, want %d exact", written, n)
		}
		for i := n; i < len(mem); i++ {
			if mem[i] != 0xA5 {
				t.Fatalf("byte %d past the lent memory was written", i)
			}
		}
		if reads < 4 {
			t.Fatalf("%d reads for %d bytes lent 1 MiB at a time", reads, n)
		}
		assertNoLeftovers(t, b)
		assertNoBuffers(t, b)
	})
}

func TestAPieceLongerThanTheLentMemoryGoesOnInTheNextRead(t *testing.T) {
	const n = 100_000
	onRandomStreams(t, n, 5000, func(t *testing.T, b *Bridge, r Response) {
		got := takeBytes(t, b, r.BodyBuffer)
		for len(got) < n {
			// 1000 bytes at a time: each read splits a pump piece.
			mem := callerMemory(t, 1000)
			c := readInto(t, b, r.StreamID, mem, 2000)
			if c.Error != "" || c.EOF || c.Written == 0 {
				t.Fatalf("after %d bytes: %+v", len(got), c)
			}
			got = append(got, mem[:c.Written]...)
		}
		if c := readChunk(t, b, r.StreamID, 2000, 0); !c.EOF {
			t.Fatalf("after the body: %+v", c)
		}
		if !bytes.Equal(got, randomBytes(n)) {
			t.Fatal("body differs")
		}
		assertNoLeftovers(t, b)
	})
}

// stalledStream starts a stream that sends 10 bytes and then nothing.
func stalledStream(t *testing.T) (*Bridge, Response) {
	t.Helper()
	b := New()
	return b, startStream(t, b, req(testServers(t).HTTP+"/stall?n=10", nil))
}

func TestACancelledReadIntoMemoryAnswersAndWritesNoMore(t *testing.T) {
	b, st := stalledStream(t)
	mem := callerMemory(t, 1<<20)
	done := make(chan StreamChunk, 1)
	go func() { done <- readInto(t, b, st.StreamID, mem, -1) }()
	time.Sleep(100 * time.Millisecond)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	var c StreamChunk
	select {
	case c = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the read into memory")
	}
	if c.Error == "" && c.Written == 0 {
		t.Fatalf("cancelled read answered %+v", c)
	}
	snapshot := bytes.Clone(mem)
	time.Sleep(200 * time.Millisecond)
	if !bytes.Equal(snapshot, mem) {
		t.Fatal("the memory changed after the read's answer")
	}
	assertNoLeftoversEventually(t, b)
}

func TestBadLentMemoryIsRefusedByName(t *testing.T) {
	b, st := stalledStream(t)
	mem := callerMemory(t, 16)
	address := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	for _, tc := range []struct {
		in   map[string]any
		name string
	}{
		{map[string]any{"intoLength": -1}, "intoLength"},
		{map[string]any{"intoLength": 16}, "intoAddress"},
		{map[string]any{"intoAddress": address}, "intoLength"},
		{map[string]any{"intoAddress": address, "intoLength": 16, "outputPath": "/tmp/x"}, "outputPath"},
	} {
		in := map[string]any{"streamId": st.StreamID, "timeoutMs": 0}
		for k, v := range tc.in {
			in[k] = v
		}
		_, out := b.ReadStream(mustJSON(t, in))
		c := decode[StreamChunk](t, out)
		if c.ErrorCode != CodeInvalidInput || !bytes.Contains([]byte(c.Error), []byte(tc.name)) {
			t.Fatalf("%v: %+v", tc.in, c)
		}
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	assertNoLeftoversEventually(t, b)
}

// A read into memory answers at its timeout while the pump holds the body,
// and otherwise once a read from the body it started ends: by the next
// piece here.
func TestAReadIntoMemoryOfAPausingBodyAnswersByTheNextPieceAndLosesNothing(t *testing.T) {
	for _, base := range []string{"HTTP", "H2"} {
		t.Run(base, func(t *testing.T) {
			b := New()
			s := testServers(t)
			url := s.HTTP
			if base == "H2" {
				url = s.H2
			}
			// Three pieces of 3000 bytes, 600 ms apart.
			st := startStream(t, b, req(url+"/stream?chunks=3&size=3000&interval_ms=600", nil))
			var got []byte
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; ; i++ {
				if time.Now().After(deadline) {
					t.Fatal("stream not finished in 10 s")
				}
				var c StreamChunk
				if i%3 == 2 { // reads of both kinds, one after the other
					c = readChunk(t, b, st.StreamID, 200, 0)
				} else {
					mem := callerMemory(t, 1<<20)
					started := time.Now()
					c = readInto(t, b, st.StreamID, mem, 200)
					if took := time.Since(started); took > 900*time.Millisecond {
						t.Fatalf("a 200 ms read into memory took %s, pieces come 600 ms apart", took)
					}
					got = append(got, mem[:c.Written]...)
				}
				switch {
				case c.Error != "":
					t.Fatalf("stream error %s: %s", c.ErrorCode, c.Error)
				case c.EOF:
					want := bytes.Repeat([]byte("a"), 3000)
					want = append(want, bytes.Repeat([]byte("b"), 3000)...)
					want = append(want, bytes.Repeat([]byte("c"), 3000)...)
					if !bytes.Equal(got, want) {
						t.Fatalf("body differs: %d bytes", len(got))
					}
					assertNoLeftovers(t, b)
					return
				case c.Timeout:
				default:
					data, _ := base64.StdEncoding.DecodeString(c.Chunk)
					got = append(got, data...)
				}
			}
		})
	}
}

package bridge

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
)

// pumped runs a stream's pump over body with the given length hint and
// returns what it delivered, joined, once it reported the end.
func pumped(t *testing.T, body []byte, blockSize int, expected int64) []byte {
	t.Helper()
	s := &stream{call: &call{done: make(chan struct{})}, events: make(chan streamEvent, 16)}
	// At most half of what is asked per read: several reads per block.
	reader := io.NopCloser(iotest.HalfReader(bytes.NewReader(body)))
	go s.pump(reader, blockSize, expected)
	var got []byte
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			if ev.eof {
				return got
			}
			got = append(got, ev.data...)
		case <-deadline:
			t.Fatal("pump did not end")
		}
	}
}

func TestPumpDeliversTheBodyWhateverTheLengthHint(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 20_000) // 200,000 bytes: several blocks
	for _, expected := range []int64{int64(len(body)), -1, 0, 100, 70_000, 1 << 30} {
		if got := pumped(t, body, 64*1024, expected); !bytes.Equal(got, body) {
			t.Errorf("hint %d: got %d bytes, want the %d sent", expected, len(got), len(body))
		}
	}
	if got := pumped(t, nil, 64*1024, 0); len(got) != 0 {
		t.Errorf("empty body: got %d bytes", len(got))
	}
}

func TestPumpAllocatesASmallBodysSizeNotABlock(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 2048)
	allocated := func(expected int64) uint64 {
		const bodies = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range bodies {
			pumped(t, body, 64*1024, expected)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / bodies
	}
	// The least of three rounds: TotalAlloc counts the whole process, and a
	// goroutine an earlier test left running may allocate meanwhile.
	known := min(allocated(int64(len(body))), allocated(int64(len(body))), allocated(int64(len(body))))
	if unknown := allocated(-1); known > 16*1024 || unknown < 64*1024 {
		t.Errorf("allocated per 2 KiB body: %d bytes with its length known, %d unknown; want < 16 KiB and >= 64 KiB",
			known, unknown)
	}
}

func TestALargeOrUnknownBodyBuffersMoreReads(t *testing.T) {
	for _, tc := range []struct {
		expected int64
		asked    int
		want     int
	}{
		{expected: 2048, want: defaultStreamBufferItems},
		{expected: largeBodyBytes, want: defaultStreamBufferItems},
		{expected: largeBodyBytes + 1, want: largeBodyBufferItems},
		{expected: -1, want: largeBodyBufferItems},
		{expected: 1 << 30, asked: 32, want: 32}, // streamBufferChunks decides
	} {
		c := &call{done: make(chan struct{}), input: &RequestInput{StreamBufferChunks: tc.asked}}
		s := newStream(c, io.NopCloser(bytes.NewReader(nil)), Response{}, tc.expected)
		if got := cap(s.events); got != tc.want {
			t.Errorf("expected %d, streamBufferChunks %d: room for %d reads, want %d", tc.expected, tc.asked, got, tc.want)
		}
		close(c.done)
	}
}

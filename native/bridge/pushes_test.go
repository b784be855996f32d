package bridge

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
)

// pushFrames reads a pushed stream's frames until its end or limit; it
// grants back what it read when grant is set.
func pushFrames(t *testing.T, b *Bridge, ours net.Conn, ticket, streamID string, grant bool, limit time.Duration) ([]byte, StreamChunk) {
	t.Helper()
	var body []byte
	deadline := time.Now().Add(limit)
	if err := ours.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := readFrame(ours)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(body), err)
		}
		{
			if c.Ticket != ticket {
				t.Fatalf("frame of ticket %q", c.Ticket)
			}
			chunk := decode[StreamChunk](t, c.Result)
			if chunk.EOF || chunk.Error != "" {
				return body, chunk
			}
			if len(c.body) != chunk.ChunkLength {
				t.Fatalf("a frame of %d bytes says %d", len(c.body), chunk.ChunkLength)
			}
			body = append(body, c.body...)
			if grant {
				writeSubmissions(t, ours, map[string]any{"op": "streamCredit",
					"input": map[string]any{"streamId": streamID, "bytes": len(c.body)}})
			}
		}
	}
}

func TestAPushedStreamDeliversTheWholeBody(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	for _, base := range []string{s.HTTP, s.H2} {
		st := startStream(t, b, req(base+"/bytes?n=3000000", nil))
		writeSubmissions(t, ours, map[string]any{"op": "pushStream", "ticket": "p",
			"input": map[string]any{"streamId": st.StreamID, "window": 256 << 10, "maxBytes": 64 << 10}})
		body, end := pushFrames(t, b, ours, "p", st.StreamID, true, 30*time.Second)
		if !end.EOF || !bytes.Equal(body, pattern(3000000)) {
			t.Fatalf("%s: end %+v after %d bytes", base, end, len(body))
		}
		assertNoLeftovers(t, b)
		assertNoBuffers(t, b)
	}
}

func TestAPushedStreamStopsWithoutCredit(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	st := startStream(t, b, req(s.H2+"/bytes?n=20000000", nil))
	const window = 10 << 10
	writeSubmissions(t, ours, map[string]any{"op": "pushStream", "ticket": "p",
		"input": map[string]any{"streamId": st.StreamID, "window": window}})
	received := 0
	for range 1000 {
		if err := ours.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		c, err := readFrame(ours)
		if err != nil {
			var timeout net.Error
			if !errors.As(err, &timeout) || !timeout.Timeout() {
				t.Fatal(err)
			}
			break // nothing more without credit
		}
		received += len(c.body)
		if received > window+defaultStreamBlockSize {
			t.Fatalf("%d bytes pushed on a window of %d", received, window)
		}
	}
	if received == 0 {
		t.Fatal("nothing pushed")
	}
	// More credit, more body.
	writeSubmissions(t, ours, map[string]any{"op": "streamCredit", "input": map[string]any{"streamId": st.StreamID, "bytes": 100 << 10}})
	if got := readFrames(t, ours, 1, 5*time.Second)["p"]; len(got.body) == 0 {
		t.Fatalf("no body after a grant: %+v", got)
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	_, end := pushFrames(t, b, ours, "p", st.StreamID, false, 10*time.Second)
	if end.ErrorCode != CodeCancelled {
		t.Fatalf("after cancelStream: %+v", end)
	}
	assertNoLeftovers(t, b)
	assertNoBuffers(t, b)
}

func TestPushingRefusesBadInput(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	st := startStream(t, b, req(s.HTTP+"/stall?n=10", nil))
	writeSubmissions(t, ours,
		map[string]any{"op": "pushStream", "ticket": "unknown", "input": map[string]any{"streamId": "nope", "window": 1}},
		map[string]any{"op": "pushStream", "ticket": "no-window", "input": map[string]any{"streamId": st.StreamID}},
		map[string]any{"op": "streamCredit", "ticket": "bad-credit", "input": map[string]any{"streamId": st.StreamID, "bytes": -1}},
		map[string]any{"op": "pushStream", "ticket": "first", "input": map[string]any{"streamId": st.StreamID, "window": 1 << 20}},
	)
	got := readFrames(t, ours, 4, 10*time.Second) // the first piece of "first", and three errors
	for ticket, code := range map[string]string{"unknown": CodeUnknownStream, "no-window": CodeInvalidInput} {
		if c := decode[StreamChunk](t, got[ticket].Result); c.ErrorCode != code {
			t.Errorf("%s: %+v", ticket, c)
		}
	}
	if r := decode[Response](t, got["bad-credit"].Result); r.ErrorCode != CodeInvalidInput {
		t.Errorf("bad credit: %+v", r)
	}
	writeSubmissions(t, ours, map[string]any{"op": "pushStream", "ticket": "second", "input": map[string]any{"streamId": st.StreamID, "window": 1}})
	if c := decode[StreamChunk](t, readFrames(t, ours, 1, 5*time.Second)["second"].Result); c.ErrorCode != CodeInvalidInput {
		t.Errorf("a second push of one stream: %+v", c)
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	assertNoLeftoversEventually(t, b)
}

func TestDroppingTheQueueEndsItsPushedStreams(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "pushed")
	st := startStream(t, b, req(s.H2+"/bytes?n=20000000", nil))
	writeSubmissions(t, ours, map[string]any{"queue": "pushed", "op": "pushStream", "ticket": "p",
		"input": map[string]any{"streamId": st.StreamID, "window": 1 << 20}})
	readFrames(t, ours, 1, 5*time.Second)
	b.DropCompletionQueue([]byte(`{"queue": "pushed"}`))
	// The pusher learns of the drop at its next piece; the grant-less
	// window may be spent, so end the wait with a cancel as the binding does.
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	assertNoLeftoversEventually(t, b)
	waitFor(t, func() bool { return b.UntakenBuffers() == 0 })
}

func assertNoLeftoversEventually(t *testing.T, b *Bridge) {
	t.Helper()
	waitFor(t, func() bool {
		_, out := b.GetStats()
		st := decode[Stats](t, out)
		return st.StreamsOpen == 0 && st.CallsInFlight == 0
	})
}

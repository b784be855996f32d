package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// collect reads want completions off the caller's end within limit.
func collect(t *testing.T, ours net.Conn, want int, limit time.Duration) map[string]Completion {
	t.Helper()
	got := map[string]Completion{}
	for ticket, c := range readFrames(t, ours, want, limit) {
		got[ticket] = c.Completion
	}
	return got
}

func TestEverySubmissionCompletesOnce(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	const n = 40
	for i := 0; i < n; i++ {
		in := req(fmt.Sprintf("%s/bytes?n=%d", s.H2, 1000+i), map[string]any{"prefetchBytes": 1 << 20, "prefetchTimeoutMs": 5000})
		writeSubmissions(t, ours, map[string]any{"op": "requestStream", "ticket": fmt.Sprint("t", i), "input": in})
	}
	writeSubmissions(t, ours, map[string]any{"op": "teleport", "ticket": "bad-op", "input": map[string]any{}})
	writeRaw(t, ours, []byte(`{not json`))
	got := collect(t, ours, n+2, 20*time.Second)
	for i := 0; i < n; i++ {
		r := decode[Response](t, got[fmt.Sprint("t", i)].Result)
		if !r.EOF || !bytes.Equal(dataURLBytes(t, r.Body), pattern(1000+i)) {
			t.Fatalf("ticket t%d: eof %v, %d bytes", i, r.EOF, r.BodyBytes)
		}
	}
	if r := decode[Response](t, got["bad-op"].Result); r.ErrorCode != CodeInvalidInput {
		t.Fatalf("bad op: %+v", r)
	}
	if r := decode[Response](t, got[""].Result); r.ErrorCode != CodeInvalidInput {
		t.Fatalf("bad json: %+v", r)
	}
	_, out := b.GetStats()
	if st := decode[Stats](t, out); st.CompletionsPending != 0 || st.CallsInFlight != 0 {
		t.Fatalf("left behind: %+v", st)
	}
}

func TestSubmittedReadStreamIsWokenByCancel(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	st := startStream(t, b, req(s.HTTP+"/stall?n=10", nil))
	readChunk(t, b, st.StreamID, 5000, 0)
	writeSubmissions(t, ours, map[string]any{"op": "readStream", "ticket": "r", "input": map[string]any{"streamId": st.StreamID, "timeoutMs": -1}})
	time.Sleep(100 * time.Millisecond)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	if c := decode[StreamChunk](t, collect(t, ours, 1, 5*time.Second)["r"].Result); c.ErrorCode != CodeCancelled {
		t.Fatalf("%+v", c)
	}
}

func TestQueuesAreSeparate(t *testing.T) {
	b := New()
	s := testServers(t)
	ends := map[string]net.Conn{"a": socketPair(t, b, "a"), "b": socketPair(t, b, "b")}
	for q, ours := range ends {
		in := req(s.HTTP+"/bytes?n=10", map[string]any{"prefetchBytes": 100, "prefetchTimeoutMs": 2000})
		writeSubmissions(t, ours, map[string]any{"queue": q, "op": "requestStream", "ticket": "same", "input": in})
	}
	for q, ours := range ends {
		if got := collect(t, ours, 1, 5*time.Second); len(got) != 1 {
			t.Fatalf("queue %s: %+v", q, got)
		}
		if err := ours.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if n, _ := ours.Read(make([]byte, 1)); n != 0 {
			t.Fatalf("queue %s got a second completion", q)
		}
	}
	b.DropCompletionQueue([]byte(`{"queue": "a"}`))
	_, out := b.GetStats()
	if st := decode[Stats](t, out); st.CompletionsPending != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestCompletionJSONMatchesEncodingJSON(t *testing.T) {
	var every strings.Builder
	for c := range 128 {
		every.WriteByte(byte(c))
	}
	cases := []Completion{
		{Ticket: every.String(), Op: "request", Result: json.RawMessage(`{"id":"x","status":200,"body":"a\"b"}`)},
		{Ticket: "é ✓ \u2028 <&>", Op: "readStream", Result: json.RawMessage(`{"eof":true}`)},
		{Ticket: "", Op: "", Result: nil},
	}
	for _, want := range cases {
		got := want.appendJSON(nil)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
		standard, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var fromOurs, fromStandard any
		if err := json.Unmarshal(got, &fromOurs); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(standard, &fromStandard); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromOurs, fromStandard) {
			t.Errorf("ours %s\nencoding/json %s", got, standard)
		}
	}
}

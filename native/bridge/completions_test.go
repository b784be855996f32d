package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pollAll(t *testing.T, b *Bridge, want int, limit time.Duration) map[string]Completion {
	t.Helper()
	got := map[string]Completion{}
	deadline := time.Now().Add(limit)
	for len(got) < want && time.Now().Before(deadline) {
		_, out := b.PollCompletions(mustJSON(t, map[string]any{"timeoutMs": 500, "max": 7}))
		for _, c := range decode[pollOutput](t, out).Completions {
			if _, dup := got[c.Ticket]; dup {
				t.Fatalf("ticket %s completed twice", c.Ticket)
			}
			got[c.Ticket] = c
		}
	}
	if len(got) != want {
		t.Fatalf("%d of %d completions within %s", len(got), want, limit)
	}
	return got
}

func TestSubmitAndPollCompletions(t *testing.T) {
	b := New()
	s := testServers(t)
	const n = 40
	for i := 0; i < n; i++ {
		in := req(fmt.Sprintf("%s/bytes?n=%d", s.H2, 1000+i), map[string]any{"prefetchBytes": 1 << 20, "prefetchTimeoutMs": 5000})
		b.Submit(mustJSON(t, map[string]any{"op": "requestStream", "ticket": fmt.Sprint("t", i), "input": in}))
	}
	b.Submit([]byte(`{"op": "teleport", "ticket": "bad-op", "input": {}}`))
	b.Submit([]byte(`{not json`))
	got := pollAll(t, b, n+2, 20*time.Second)
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
	st := startStream(t, b, req(s.HTTP+"/stall?n=10", nil))
	readChunk(t, b, st.StreamID, 5000, 0)
	b.Submit(mustJSON(t, map[string]any{"op": "readStream", "ticket": "r", "input": map[string]any{"streamId": st.StreamID, "timeoutMs": -1}}))
	time.Sleep(100 * time.Millisecond)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	if c := decode[StreamChunk](t, pollAll(t, b, 1, 5*time.Second)["r"].Result); c.ErrorCode != CodeCancelled {
		t.Fatalf("%+v", c)
	}
}

func TestPollTimesOutEmpty(t *testing.T) {
	b := New()
	start := time.Now()
	_, out := b.PollCompletions([]byte(`{"timeoutMs": 150}`))
	if got := decode[pollOutput](t, out); len(got.Completions) != 0 || time.Since(start) < 140*time.Millisecond {
		t.Fatalf("%+v after %s", got, time.Since(start))
	}
}

func TestQueuesAreSeparate(t *testing.T) {
	b := New()
	s := testServers(t)
	for _, q := range []string{"a", "b"} {
		in := req(s.HTTP+"/bytes?n=10", map[string]any{"prefetchBytes": 100, "prefetchTimeoutMs": 2000})
		b.Submit(mustJSON(t, map[string]any{"queue": q, "op": "requestStream", "ticket": "same", "input": in}))
	}
	for _, q := range []string{"a", "b"} {
		_, out := b.PollCompletions(mustJSON(t, map[string]any{"queue": q, "timeoutMs": 5000}))
		if got := decode[pollOutput](t, out).Completions; len(got) != 1 || got[0].Ticket != "same" {
			t.Fatalf("queue %s: %+v", q, got)
		}
	}
	b.PollCompletions([]byte(`{"queue": "a", "drop": true}`))
	_, out := b.GetStats()
	if st := decode[Stats](t, out); st.CompletionsPending != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestANotifyFdIsWrittenWhenTheQueueFills(t *testing.T) {
	b := New()
	s := testServers(t)
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	readable := func(wait time.Duration) int {
		pfd := []unix.PollFd{{Fd: int32(fds[0]), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, int(wait/time.Millisecond)); err != nil || n == 0 {
			return 0
		}
		buf := make([]byte, 64)
		n, _ := unix.Read(fds[0], buf)
		return n
	}
	b.PollCompletions(mustJSON(t, map[string]any{"queue": "watched", "notifyFd": fds[1]}))
	if n := readable(50 * time.Millisecond); n != 0 {
		t.Fatalf("an empty queue woke its watcher (%d bytes)", n)
	}
	for i := range 3 {
		in := req(fmt.Sprintf("%s/bytes?n=%d", s.H2, 100+i), nil)
		b.Submit(mustJSON(t, map[string]any{"queue": "watched", "op": "request", "ticket": fmt.Sprint(i), "input": in}))
	}
	if readable(5*time.Second) == 0 {
		t.Fatal("no wake-up within 5 s of a completion")
	}
	got := 0
	for deadline := time.Now().Add(5 * time.Second); got < 3 && time.Now().Before(deadline); {
		_, out := b.PollCompletions(mustJSON(t, map[string]any{"queue": "watched", "timeoutMs": 0, "max": 1}))
		got += len(decode[pollOutput](t, out).Completions)
		if got < 3 {
			readable(time.Second) // each partial take (max 1) or new completion wakes again
		}
	}
	if got != 3 {
		t.Fatalf("%d of 3 completions", got)
	}
	readable(0)
	b.PollCompletions([]byte(`{"queue": "watched", "drop": true}`))
	b.Submit(mustJSON(t, map[string]any{"queue": "watched", "op": "request", "ticket": "late", "input": req(s.H2+"/bytes?n=10", nil)}))
	waitFor(t, func() bool { return b.completions.pending() == 0 })
	if n := readable(100 * time.Millisecond); n != 0 {
		t.Fatalf("a dropped queue still wrote to its descriptor (%d bytes)", n)
	}
}

func TestASubmittedArrayStartsEachElement(t *testing.T) {
	b := New()
	s := testServers(t)
	var batch []map[string]any
	for i := range 5 {
		in := req(fmt.Sprintf("%s/bytes?n=%d", s.H2, 10+i), map[string]any{"prefetchBytes": 1000, "prefetchTimeoutMs": 5000})
		batch = append(batch, map[string]any{"op": "requestStream", "ticket": fmt.Sprint("b", i), "input": in})
	}
	b.Submit(append([]byte(" \n"), mustJSON(t, batch)...))
	got := pollAll(t, b, 5, 10*time.Second)
	for i := range 5 {
		if r := decode[Response](t, got[fmt.Sprint("b", i)].Result); !r.EOF || r.BodyBytes != int64(10+i) {
			t.Fatalf("element %d: %+v", i, r)
		}
	}
	// A broken array is still one (failed) submission, never a silent loss.
	b.Submit([]byte(`[{"op": "request"`))
	if r := decode[Response](t, pollAll(t, b, 1, 5*time.Second)[""].Result); r.ErrorCode != CodeInvalidInput {
		t.Fatalf("broken array: %+v", r)
	}
}

func TestPollOutputJSONMatchesEncodingJSON(t *testing.T) {
	var every strings.Builder
	for c := range 128 {
		every.WriteByte(byte(c))
	}
	cases := []pollOutput{
		{ID: "empty", Completions: []Completion{}},
		{ID: "q\"uo\\te", Completions: []Completion{
			{Ticket: every.String(), Op: "request", Result: json.RawMessage(`{"id":"x","status":200,"body":"a\"b"}`)},
			{Ticket: "é ✓ \u2028 <&>", Op: "readStream", Result: json.RawMessage(`{"eof":true}`)},
			{Ticket: "", Op: "", Result: nil},
		}},
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

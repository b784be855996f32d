package testserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrapy-tlsclient/native/testserver"
)

// liveURL returns the URL of a /live stream named after the test and name.
func liveURL(t *testing.T, base, path, name, query string) (u, id string) {
	id = t.Name() + "/" + name
	u = base + path + "?id=" + url.QueryEscape(id)
	if query != "" {
		u += "&" + query
	}
	return u, id
}

// liveGet starts a request that ends with the test or after testTimeout.
func liveGet(t *testing.T, c *http.Client, u string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// getJSON decodes the JSON body of u into v and returns the status.
func getJSON(t *testing.T, c *http.Client, u string, v any) int {
	t.Helper()
	resp := liveGet(t, c, u, nil)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", u, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return resp.StatusCode
}

func liveStats(t *testing.T, c *http.Client, base, id string) testserver.LiveStats {
	t.Helper()
	var st testserver.LiveStats
	if code := getJSON(t, c, base+"/live/stats?id="+url.QueryEscape(id), &st); code != 200 {
		t.Fatalf("stats of %q: status %d", id, code)
	}
	return st
}

// waitStats polls the stats of id until done accepts them.
func waitStats(t *testing.T, c *http.Client, base, id string, done func(testserver.LiveStats) bool) testserver.LiveStats {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		st := liveStats(t, c, base, id)
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats of %q still %+v", id, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNoneOpen waits until no /live stream runs in the process.
func waitNoneOpen(t *testing.T, c *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var got struct{ Open *int64 }
		getJSON(t, c, base+"/live/open", &got)
		if got.Open == nil {
			t.Fatal(`/live/open has no "open"`)
		}
		if *got.Open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still open", *got.Open)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type sseEvent struct {
	id, name string
	n        int64
	sentNs   int64
}

// parseSSE parses what /live/sse sends, returning the retry blocks and the
// events; a truncated last block is left out.
func parseSSE(t *testing.T, body []byte) (retries []string, events []sseEvent) {
	t.Helper()
	blocks := strings.Split(string(body), "\n\n")
	for _, block := range blocks[:len(blocks)-1] {
		if retry, ok := strings.CutPrefix(block, "retry: "); ok {
			retries = append(retries, retry)
			continue
		}
		fields := strings.Split(block, "\n")
		if len(fields) != 3 {
			t.Fatalf("event %q: want id, event and data", block)
		}
		var e sseEvent
		var data string
		e.id, _ = strings.CutPrefix(fields[0], "id: ")
		e.name, _ = strings.CutPrefix(fields[1], "event: ")
		data, _ = strings.CutPrefix(fields[2], "data: ")
		e.n, e.sentNs = parseTick(t, data)
		events = append(events, e)
	}
	return retries, events
}

// parseTick parses the data of an SSE event or an NDJSON line.
func parseTick(t *testing.T, s string) (n, sentNs int64) {
	t.Helper()
	var tick struct {
		N      *int64 `json:"n"`
		SentNs *int64 `json:"sent_ns"`
	}
	if err := json.Unmarshal([]byte(s), &tick); err != nil || tick.N == nil || tick.SentNs == nil {
		t.Fatalf("tick %q: %v", s, err)
	}
	return *tick.N, *tick.SentNs
}

func checkStreamHeaders(t *testing.T, tg target, resp *http.Response, contentType string) {
	t.Helper()
	if resp.StatusCode != 200 || resp.ProtoMajor != tg.major {
		t.Fatalf("status %d, %s; want 200 over HTTP/%d", resp.StatusCode, resp.Proto, tg.major)
	}
	if got := resp.Header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type %q, want %q", got, contentType)
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength %d, want -1", resp.ContentLength)
	}
	if tg.major == 1 && !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("TransferEncoding %q, want chunked", resp.TransferEncoding)
	}
}

func TestLiveSSE(t *testing.T) {
	s := start(t)
	c := client(t, s)
	cases := []struct {
		name, query, lastEventID string
		retries                  []string
		ids                      []int64
	}{
		{name: "default", ids: []int64{0, 1, 2}},
		{name: "start", query: "events=4&start=5&interval_ms=5", ids: []int64{5, 6, 7, 8}},
		{name: "resume", query: "events=2&start=5", lastEventID: "41", ids: []int64{42, 43}},
		{name: "retry", query: "events=1&retry_ms=1500", retries: []string{"1500"}, ids: []int64{0}},
		{name: "none", query: "events=1&fail_after=2&retry_ms=0", retries: []string{"0"}, ids: []int64{0}},
	}
	for _, tg := range targets(s) {
		for _, tc := range cases {
			t.Run(tg.name+"/"+tc.name, func(t *testing.T) {
				u, id := liveURL(t, tg.base, "/live/sse", "", tc.query)
				header := http.Header{}
				if tc.lastEventID != "" {
					header.Set("Last-Event-ID", tc.lastEventID)
				}
				before := time.Now().UnixNano()
				resp := liveGet(t, c, u, header)
				checkStreamHeaders(t, tg, resp, "text/event-stream")
				if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control %q", got)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				after := time.Now().UnixNano()
				retries, events := parseSSE(t, body)
				if !slices.Equal(retries, tc.retries) {
					t.Errorf("retry blocks %q, want %q", retries, tc.retries)
				}
				if !bytes.HasPrefix(body, []byte("retry: ")) && tc.retries != nil {
					t.Errorf("retry block not first: %q", body)
				}
				var ids []int64
				last := before
				for _, e := range events {
					ids = append(ids, e.n)
					if e.id != strconv.FormatInt(e.n, 10) || e.name != "tick" {
						t.Errorf("event %+v: id and n differ or not a tick", e)
					}
					if e.sentNs < last || e.sentNs > after {
						t.Errorf("event %d sent at %d, outside %d..%d or out of order", e.n, e.sentNs, last, after)
					}
					last = e.sentNs
				}
				if !slices.Equal(ids, tc.ids) {
					t.Errorf("event numbers %v, want %v", ids, tc.ids)
				}
				st := liveStats(t, c, tg.base, id)
				want := testserver.LiveStats{
					ID: id, Path: "/live/sse", Proto: resp.Proto,
					WrittenEvents: int64(len(tc.ids)), WrittenBytes: int64(len(body)),
					Ended: "complete", LastEventID: tc.lastEventID,
				}
				checkStats(t, st, want, before, after)
			})
		}
	}
	waitNoneOpen(t, c, s.HTTP)
}

// checkStats compares the stats with want, ignoring times, which must lie
// between before and after.
func checkStats(t *testing.T, st, want testserver.LiveStats, before, after int64) {
	t.Helper()
	for _, ns := range []int64{st.StartedNs, st.LastWriteNs} {
		if ns < before || ns > after {
			t.Errorf("stats time %d outside %d..%d: %+v", ns, before, after, st)
		}
	}
	if st.BlockedNs <= 0 || st.BlockedNs > after-before {
		t.Errorf("blocked_ns %d, want within 0..%d", st.BlockedNs, after-before)
	}
	st.StartedNs, st.LastWriteNs, st.BlockedNs = 0, 0, 0
	if st != want {
		t.Errorf("stats\n%+v, want\n%+v", st, want)
	}
}

func TestLiveNDJSON(t *testing.T) {
	s := start(t)
	c := client(t, s)
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			u, id := liveURL(t, tg.base, "/live/ndjson", "", "lines=4&interval_ms=5")
			before := time.Now().UnixNano()
			resp := liveGet(t, c, u, nil)
			checkStreamHeaders(t, tg, resp, "application/x-ndjson")
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixNano()
			lines := strings.SplitAfter(string(body), "\n")
			if len(lines) != 5 || lines[4] != "" {
				t.Fatalf("body %q: want 4 lines", body)
			}
			for i, line := range lines[:4] {
				if n, _ := parseTick(t, line); n != int64(i) {
					t.Errorf("line %d: %q", i, line)
				}
			}
			want := testserver.LiveStats{
				ID: id, Path: "/live/ndjson", Proto: resp.Proto,
				WrittenEvents: 4, WrittenBytes: int64(len(body)), Ended: "complete",
			}
			checkStats(t, liveStats(t, c, tg.base, id), want, before, after)
		})
	}
	waitNoneOpen(t, c, s.HTTP)
}

// TestLiveFailAfter checks that fail_after ends a stream with an error the
// client notices: an unexpected EOF inside the chunked body on HTTP/1.1, a
// reset stream on HTTP/2, after all the events before it.
func TestLiveFailAfter(t *testing.T) {
	s := start(t)
	c := client(t, s)
	cases := []struct {
		path, query string
		events      int
	}{
		{"/live/sse", "events=5&fail_after=2&interval_ms=20", 2},
		{"/live/sse", "events=0&fail_after=3", 3},
		{"/live/sse", "events=3&fail_after=3&retry_ms=10", 3},
		{"/live/sse", "fail_after=0", 0},
		{"/live/ndjson", "lines=0&fail_after=2&interval_ms=20", 2},
		{"/live/ndjson", "lines=1&fail_after=0", 0},
	}
	for _, tg := range targets(s) {
		for i, tc := range cases {
			t.Run(fmt.Sprintf("%s%s/%d", tg.name, tc.path, i), func(t *testing.T) {
				u, id := liveURL(t, tg.base, tc.path, "", tc.query)
				resp := liveGet(t, c, u, nil)
				if resp.StatusCode != 200 || resp.ProtoMajor != tg.major {
					t.Fatalf("status %d, %s", resp.StatusCode, resp.Proto)
				}
				body, err := io.ReadAll(resp.Body)
				checkBroken(t, tg, err)
				got := strings.Count(string(body), `{"n": `)
				if got != tc.events {
					t.Errorf("got %d events before the error, want %d: %q", got, tc.events, body)
				}
				st := liveStats(t, c, tg.base, id)
				if st.Ended != "failed_on_purpose" || st.WrittenEvents != int64(tc.events) || st.Disconnected || st.DisconnectedNs != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
	waitNoneOpen(t, c, s.HTTP)
}

// checkBroken checks that err is what a broken response gives.
func checkBroken(t *testing.T, tg target, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("the body ended without an error")
	case tg.major == 1 && !errors.Is(err, io.ErrUnexpectedEOF):
		t.Errorf("error %v (%T), want an unexpected EOF", err, err)
	case tg.major == 2 && !strings.Contains(err.Error(), "INTERNAL_ERROR"):
		t.Errorf("error %v (%T), want a reset stream", err, err)
	}
	t.Logf("%s: %v", tg.name, err)
}

func TestLiveFailAfterBeyondTheEnd(t *testing.T) {
	s := start(t)
	c := client(t, s)
	for _, tg := range targets(s) {
		u, id := liveURL(t, tg.base, "/live/sse", tg.name, "events=2&fail_after=3")
		resp := liveGet(t, c, u, nil)
		body, err := io.ReadAll(resp.Body)
		if err != nil || strings.Count(string(body), "event: tick") != 2 {
			t.Errorf("%s: %q, %v; want 2 events and a clean end", tg.name, body, err)
		}
		if st := liveStats(t, c, tg.base, id); st.Ended != "complete" {
			t.Errorf("%s: stats %+v", tg.name, st)
		}
	}
}

func b64(parts ...string) string {
	var encoded []string
	for _, p := range parts {
		encoded = append(encoded, base64.RawURLEncoding.EncodeToString([]byte(p)))
	}
	return strings.Join(encoded, ",")
}

// rawParts are an SSE event split inside its field and data, and "é"
// split between its two bytes.
var rawParts = []string{"data: {\"a\"", ": 1}\n", "\n", "", "\xc3", "\xa9\n"}

func TestLiveRaw(t *testing.T) {
	s := start(t)
	c := client(t, s)
	query := "parts=" + b64(rawParts...) + "&content_type=" + url.QueryEscape("text/event-stream; charset=utf-8")
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			u, id := liveURL(t, tg.base, "/live/raw", "", query)
			resp := liveGet(t, c, u, nil)
			checkStreamHeaders(t, tg, resp, "text/event-stream; charset=utf-8")
			body, err := io.ReadAll(resp.Body)
			if want := strings.Join(rawParts, ""); err != nil || string(body) != want {
				t.Errorf("body %q (%v), want %q", body, err, want)
			}
			st := liveStats(t, c, tg.base, id)
			if st.Ended != "complete" || st.WrittenEvents != int64(len(rawParts)) || st.WrittenBytes != int64(len(body)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
	waitNoneOpen(t, c, s.HTTP)
}

// TestLiveRawReads checks that parts sent apart reach the reader apart,
// over both protocols.
func TestLiveRawReads(t *testing.T) {
	s := start(t)
	c := client(t, s)
	parts := []string{"first", "\xc3", "\xa9 third"}
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			u, _ := liveURL(t, tg.base, "/live/raw", "", "interval_ms=150&parts="+b64(parts...))
			resp := liveGet(t, c, u, nil)
			var reads []string
			buf := make([]byte, 1024)
			for range 10 {
				n, err := resp.Body.Read(buf)
				if n > 0 {
					reads = append(reads, string(buf[:n]))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(reads, parts) {
				t.Errorf("reads %q, want %q", reads, parts)
			}
		})
	}
}

// TestLiveRawChunks reads the HTTP/1.1 framing: each non-empty part must be
// one chunk.
func TestLiveRawChunks(t *testing.T) {
	s := start(t)
	addr := strings.TrimPrefix(s.HTTP, "http://")
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	big := strings.Repeat("b", 5000) // more than net/http buffers before chunking
	parts := append(slices.Clone(rawParts), big, "z")
	fmt.Fprintf(conn, "GET /live/raw?parts=%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", b64(parts...), addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Fatalf("status %d, Transfer-Encoding %q", resp.StatusCode, resp.TransferEncoding)
	}
	// resp.Body would undo the chunking; read the framing from br instead.
	var chunks []string
	for range len(parts) + 1 {
		var size int
		line, err := br.ReadString('\n')
		if _, err2 := fmt.Sscanf(line, "%x\r\n", &size); err != nil || err2 != nil {
			t.Fatalf("chunk size line %q: %v %v", line, err, err2)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil || !bytes.HasSuffix(chunk, []byte("\r\n")) {
			t.Fatalf("chunk of %d bytes: %q, %v", size, chunk, err)
		}
		chunks = append(chunks, string(chunk[:size]))
	}
	want := slices.DeleteFunc(parts, func(p string) bool { return p == "" })
	if !slices.Equal(chunks, want) {
		t.Errorf("chunks %.80q, want %.80q", chunks, want)
	}
}

func TestLiveBytes(t *testing.T) {
	s := start(t)
	c := client(t, s)
	cases := []struct {
		n, chunk, writes int64
	}{
		{n: 3<<20 + 123, chunk: 1000, writes: (3<<20 + 123 + 999) / 1000},
		{n: 2 << 20, writes: 32},
		{n: 1, writes: 1},
		{n: 0, writes: 0},
	}
	for _, tg := range targets(s) {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d/%d", tg.name, tc.n, tc.chunk), func(t *testing.T) {
				query := fmt.Sprintf("n=%d", tc.n)
				if tc.chunk != 0 {
					query += fmt.Sprintf("&chunk=%d", tc.chunk)
				}
				u, id := liveURL(t, tg.base, "/live/bytes", "", query)
				resp := liveGet(t, c, u, nil)
				checkStreamHeaders(t, tg, resp, "application/octet-stream")
				var check patternChecker
				if _, err := io.Copy(&check, resp.Body); err != nil || check.n != tc.n {
					t.Fatalf("got %d bytes (%v), want %d", check.n, err, tc.n)
				}
				st := liveStats(t, c, tg.base, id)
				if st.Ended != "complete" || st.WrittenBytes != tc.n || st.WrittenEvents != tc.writes {
					t.Errorf("stats %+v, want %d bytes in %d writes", st, tc.n, tc.writes)
				}
			})
		}
	}
	waitNoneOpen(t, c, s.HTTP)
}

// TestLiveDisconnect checks that the server notices within a second that a
// client went away, whether the stream sleeps between events or is blocked
// writing to a client that does not read.
func TestLiveDisconnect(t *testing.T) {
	s := start(t)
	c := client(t, s)
	paths := []string{
		"/live/sse?events=0&interval_ms=10000",
		"/live/ndjson?lines=0",
		"/live/bytes?n=8589934592",
	}
	for _, tg := range targets(s) {
		for _, path := range paths {
			t.Run(tg.name+path, func(t *testing.T) {
				p, query, _ := strings.Cut(path, "?")
				u, id := liveURL(t, tg.base, p, "", query)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if _, err := resp.Body.Read(make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
				// Let a blocked writer fill the buffers on the way.
				time.Sleep(200 * time.Millisecond)
				if st := liveStats(t, c, tg.base, id); st.Ended != "running" || st.Disconnected {
					t.Fatalf("before cancelling: %+v", st)
				}
				if open := openStreams(t, c, tg.base); open < 1 {
					t.Errorf("open streams %d while one runs", open)
				}
				cancelled := time.Now()
				cancel()
				st := waitStats(t, c, tg.base, id, func(st testserver.LiveStats) bool { return st.Ended != "running" })
				if st.Ended != "client_gone" || !st.Disconnected {
					t.Fatalf("stats %+v, want client_gone", st)
				}
				if late := time.Unix(0, st.DisconnectedNs).Sub(cancelled); late < 0 || late > time.Second {
					t.Errorf("disconnect noticed %v after cancelling", late)
				}
				t.Logf("noticed after %v; blocked %v in writes of %d bytes",
					time.Unix(0, st.DisconnectedNs).Sub(cancelled), time.Duration(st.BlockedNs), st.WrittenBytes)
			})
		}
	}
	waitNoneOpen(t, c, s.HTTP)
}

func openStreams(t *testing.T, c *http.Client, base string) int64 {
	var got struct{ Open int64 }
	getJSON(t, c, base+"/live/open", &got)
	return got.Open
}

func TestLiveStatsUnknown(t *testing.T) {
	s := start(t)
	c := client(t, s)
	var got map[string]string
	if code := getJSON(t, c, s.H2+"/live/stats?id=never-used", &got); code != 404 || !strings.Contains(got["error"], "never-used") {
		t.Errorf("status %d, %q; want 404 and an error", code, got)
	}
}

// TestLiveStatsLatest checks that an id names its most recent stream and
// that old records are dropped beyond 10000.
func TestLiveStatsLatest(t *testing.T) {
	srv := httptest.NewServer(testserver.Handler())
	defer srv.Close()
	c := srv.Client()
	get := func(path string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/live/ndjson?id=same&lines=1")
	get("/live/raw?id=same")
	if st := liveStats(t, c, srv.URL, "same"); st.Path != "/live/raw" {
		t.Errorf("stats of the reused id are from %s", st.Path)
	}
	if testing.Short() {
		t.Skip("makes 10001 requests")
	}
	for i := range 10001 {
		get(fmt.Sprintf("/live/raw?id=many-%d", i))
	}
	var missing map[string]string
	if code := getJSON(t, c, srv.URL+"/live/stats?id=many-0", &missing); code != 404 {
		t.Errorf("the oldest record was kept: %d %v", code, missing)
	}
	for _, id := range []string{"many-1", "many-10000"} {
		liveStats(t, c, srv.URL, id)
	}
}

func TestLiveLimits(t *testing.T) {
	srv := httptest.NewUnstartedServer(testserver.Handler())
	// Room for a query of more than a MiB of parts.
	srv.Config.MaxHeaderBytes = 4 << 20
	srv.Start()
	defer srv.Close()
	c := srv.Client()
	c.Timeout = testTimeout
	mib := strings.Repeat("x", 1<<20)
	cases := []struct {
		path, lastEventID string
		status            int
	}{
		{path: "/live/sse?events=10000001", status: 400},
		{path: "/live/sse?interval_ms=60001", status: 400},
		{path: "/live/sse?start=9007199254740992", status: 400},
		{path: "/live/sse?retry_ms=3600001", status: 400},
		{path: "/live/sse?fail_after=-1", status: 400},
		{path: "/live/sse?events=1", lastEventID: "x", status: 400},
		{path: "/live/sse?events=1", lastEventID: "9007199254740990", status: 200},
		{path: "/live/sse?events=1", lastEventID: "9007199254740991", status: 400},
		{path: "/live/ndjson?lines=10000001", status: 400},
		{path: "/live/ndjson?interval_ms=60001", status: 400},
		{path: "/live/raw?parts=" + b64(mib), status: 200},
		{path: "/live/raw?parts=" + b64(mib, "y"), status: 400},
		{path: "/live/raw?parts=" + strings.Repeat(",", 100000), status: 400},
		{path: "/live/raw?parts=YQ==", status: 400},
		{path: "/live/raw?parts=a+b", status: 400},
		{path: "/live/raw?parts=" + b64("a") + "&interval_ms=60001", status: 400},
		{path: "/live/bytes?n=8589934593", status: 400},
		{path: "/live/bytes?n=1&chunk=0", status: 400},
		{path: "/live/bytes?n=1&chunk=1048577", status: 400},
		{path: "/live/bytes?n=1&chunk=1048576", status: 200},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.lastEventID != "" {
			req.Header.Set("Last-Event-ID", tc.lastEventID)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%.60s: status %d, want %d: %.200q", tc.path, resp.StatusCode, tc.status, body)
		}
	}
	// HEAD gets the headers of even an endless stream, and nothing more.
	resp, err := c.Head(srv.URL + "/live/sse?events=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD: status %d, %q", resp.StatusCode, resp.Header)
	}
	resp, err = c.Post(srv.URL+"/live/sse", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
}

func TestLiveFlakyFailsFirstThenServesWhole(t *testing.T) {
	srv := httptest.NewServer(testserver.Handler())
	defer srv.Close()
	// Attempts are counted per id for the whole process: a fresh id keeps
	// repeated runs (go test -count=N) independent.
	url := fmt.Sprintf("%s/live/flaky?id=flaky-test-%d&n=100000&fail_first=2", srv.URL, time.Now().UnixNano())
	get := func() (int, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return len(body), err
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if n, err := get(); err == nil {
			t.Fatalf("attempt %d: got %d bytes and no error, want a cut body", attempt, n)
		}
	}
	n, err := get()
	if err != nil || n != 100000 {
		t.Fatalf("attempt 3: %d bytes, %v; want the whole 100000", n, err)
	}
}

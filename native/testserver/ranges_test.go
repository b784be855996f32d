package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A client resuming with Range/If-Range after each cut gets the file whole,
// and the log counts exactly the bytes sent.
func TestRangesCutsThenServesTheRest(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	const n = 1 << 20
	url := srv.URL + "/ranges?key=go-cut&n=1048576&cuts=3&seed=5"
	var got []byte
	for attempt := 0; attempt < 10 && len(got) < n; attempt++ {
		req, _ := http.NewRequest("GET", url, nil)
		if len(got) > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(got)))
			req.Header.Set("If-Range", `"v0"`)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 && resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("attempt %d: status %d, want 206", attempt, resp.StatusCode)
		}
		body, _ := io.ReadAll(resp.Body) // a cut ends in an error: keep what came
		resp.Body.Close()
		got = append(got, body...)
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("resumed body differs (%d bytes)", len(got))
	}
	resp, err := http.Get(srv.URL + "/ranges/log?key=go-cut")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log RangesLog
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	if log.Sent != n || len(log.Requests) != 4 || !log.Requests[2].Cut || log.Requests[3].Cut {
		t.Fatalf("log: sent %d, requests %+v", log.Sent, log.Requests)
	}
}

// After change_after requests the file is another version: If-Range with
// the old ETag gets the whole new file.
func TestRangesChangedFileAnswersWhole(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	url := srv.URL + "/ranges?key=go-changed&n=1000&change_after=1"
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=500-")
	req.Header.Set("If-Range", `"v0"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 1000 || body[0] != 101 || resp.Header.Get("ETag") != `"v1"` {
		t.Fatalf("status %d, %d bytes, first %d, etag %s", resp.StatusCode, len(body), body[0], resp.Header.Get("ETag"))
	}
}

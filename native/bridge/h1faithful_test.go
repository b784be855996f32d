package bridge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

// capturedNavigations returns, per capture file of ../captures, the header
// list of the browser's top-level navigation over HTTP/1.1, in wire order
// and case.
func capturedNavigations(t *testing.T) map[string][][2]string {
	t.Helper()
	files, err := filepath.Glob("../captures/*-linux.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files (%v)", err)
	}
	out := map[string][][2]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var capture struct {
			Runs []struct {
				ServerALPN []string `json:"server_alpn"`
				Requests   []struct {
					Kind    string      `json:"kind"`
					Headers [][2]string `json:"headers"`
				} `json:"requests"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(data, &capture); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, run := range capture.Runs {
			if !slices.Equal(run.ServerALPN, []string{"http/1.1"}) {
				continue
			}
			for _, r := range run.Requests {
				if r.Kind == "navigate" {
					out[filepath.Base(f)] = r.Headers
					break
				}
			}
		}
		if out[filepath.Base(f)] == nil {
			t.Fatalf("%s: no HTTP/1.1 navigation", f)
		}
	}
	return out
}

// withHost returns list with its Host entry's value set to host, or
// without the entry when host is "".
func withHost(list [][2]string, host string) [][2]string {
	var out [][2]string
	for _, h := range list {
		if strings.EqualFold(h[0], "host") {
			if host == "" {
				continue
			}
			h[1] = host
		}
		out = append(out, h)
	}
	return out
}

func echoHeaders(t *testing.T, b *Bridge, url string, extra map[string]any) [][2]string {
	t.Helper()
	out := doRequest(t, b, req(url, extra))
	if out.Status != 200 {
		t.Fatalf("status %d %q", out.Status, out.Body)
	}
	echo := decode[testserver.EchoReply](t, dataURLBytes(t, out.Body))
	if echo.HeaderOrder != "wire" {
		t.Fatalf("no wire headers: %s", echo.HeaderOrder)
	}
	return echo.Headers
}

// A browser's captured HTTP/1.1 header block, given as headersList, goes
// out byte for byte: names in their case, Host and Connection where the
// browser puts them.
func TestHeadersListSendsCapturedBrowserBlockOverHTTP1(t *testing.T) {
	b := New()
	s := testServers(t)
	host := strings.TrimPrefix(s.HTTPS, "https://")
	for name, captured := range capturedNavigations(t) {
		t.Run(name, func(t *testing.T) {
			list := withHost(captured, host)
			got := echoHeaders(t, b, s.HTTPS+"/echo", map[string]any{"headersList": list, "sessionId": "h1-" + name})
			if !slices.Equal(got, list) {
				t.Errorf("wire headers\n got  %q\n want %q", got, list)
			}
		})
	}
}

func TestHeadersListHostPlacement(t *testing.T) {
	b := New()
	s := testServers(t)
	host := strings.TrimPrefix(s.HTTPS, "https://")
	for _, tc := range []struct {
		name       string
		list, want [][2]string
	}{
		{"no Host goes first",
			[][2]string{{"Connection", "keep-alive"}, {"sec-ch-ua", "x"}},
			[][2]string{{"Host", host}, {"Connection", "keep-alive"}, {"sec-ch-ua", "x"}}},
		{"lower-case host keeps its case and place",
			[][2]string{{"accept", "*/*"}, {"host", host}, {"connection", "keep-alive"}},
			[][2]string{{"accept", "*/*"}, {"host", host}, {"connection", "keep-alive"}}},
		{"other spellings become Host, never a second Host",
			[][2]string{{"accept", "*/*"}, {"HOST", host}},
			[][2]string{{"accept", "*/*"}, {"Host", host}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := echoHeaders(t, b, s.HTTPS+"/echo", map[string]any{"headersList": tc.list})
			if !slices.Equal(got, tc.want) {
				t.Errorf("wire headers\n got  %q\n want %q", got, tc.want)
			}
		})
	}
	t.Run("requestHostOverride gives the value, the list the place", func(t *testing.T) {
		list := [][2]string{{"Accept", "*/*"}, {"Host", "list.example"}, {"Connection", "keep-alive"}}
		got := echoHeaders(t, b, s.HTTPS+"/echo", map[string]any{"headersList": list, "requestHostOverride": "override.example"})
		want := [][2]string{{"Accept", "*/*"}, {"Host", "override.example"}, {"Connection", "keep-alive"}}
		if !slices.Equal(got, want) {
			t.Errorf("wire headers\n got  %q\n want %q", got, want)
		}
	})
}

// Go computes Content-Length; it goes where the list names it, as Chromium
// sends it right after Connection.
func TestHeadersListPlacesContentLength(t *testing.T) {
	b := New()
	s := testServers(t)
	host := strings.TrimPrefix(s.HTTPS, "https://")
	list := [][2]string{{"Host", host}, {"Connection", "keep-alive"}, {"Content-Length", "999"}, {"Content-Type", "text/plain"}}
	got := echoHeaders(t, b, s.HTTPS+"/echo", map[string]any{"headersList": list, "requestMethod": "POST", "requestBody": "hello"})
	want := [][2]string{{"Host", host}, {"Connection", "keep-alive"}, {"Content-Length", "5"}, {"Content-Type", "text/plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("wire headers\n got  %q\n want %q", got, want)
	}
}

// Over HTTP/2 the same lists go out as HTTP/2 requires: names lower-cased,
// Host as :authority only, Connection dropped, the rest in list order.
func TestHeadersListOverHTTP2IsLowerCasedWithoutConnectionHeaders(t *testing.T) {
	b := New()
	s := testServers(t)
	host := strings.TrimPrefix(s.Fingerprint, "https://")
	for name, captured := range capturedNavigations(t) {
		t.Run(name, func(t *testing.T) {
			list := withHost(captured, host)
			out := doRequest(t, b, req(s.Fingerprint+"/", map[string]any{
				"headersList": list, "sessionId": "h2-" + name, "tlsClientIdentifier": "chrome_133"}))
			reply := decode[testserver.FingerprintReply](t, dataURLBytes(t, out.Body))
			if reply.HTTPVersion != "h2" {
				t.Fatalf("went over %s", reply.HTTPVersion)
			}
			var want []string
			for _, h := range list {
				if n := strings.ToLower(h[0]); n != "host" && n != "connection" {
					want = append(want, n)
				}
			}
			var got []string
			for _, h := range reply.Headers {
				if !strings.HasPrefix(h[0], ":") {
					got = append(got, h[0])
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("HTTP/2 header names\n got  %q\n want %q", got, want)
			}
		})
	}
}

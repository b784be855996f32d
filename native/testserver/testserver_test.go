package testserver_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrapy-tlsclient/native/testserver"
)

// testTimeout bounds every wait of the tests.
const testTimeout = 15 * time.Second

type target struct {
	name  string
	base  string
	major int // expected HTTP major version
}

// closeWithin closes s and fails, rather than hangs, if Close does not
// return within testTimeout.
func closeWithin(t *testing.T, s *testserver.Servers) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("Close did not return")
	}
}

func start(t *testing.T) *testserver.Servers {
	t.Helper()
	s, err := testserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func targets(s *testserver.Servers) []target {
	return []target{{"http", s.HTTP, 1}, {"https", s.HTTPS, 1}, {"h2", s.H2, 2}}
}

// client returns a client for s that does not follow redirects.
func client(t *testing.T, s *testserver.Servers) *http.Client {
	c := s.Client()
	c.Timeout = testTimeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends a request to tg and returns the response with its whole body,
// failing the test on transport errors or an unexpected protocol.
func do(t *testing.T, c *http.Client, tg target, method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tg.base+path, body)
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
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %s: %v", path, err)
	}
	if resp.ProtoMajor != tg.major {
		t.Fatalf("%s: got %s, want HTTP/%d", tg.name, resp.Proto, tg.major)
	}
	return resp, data
}

// payload returns the first n bytes of the /bytes payload.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestEndpoints(t *testing.T) {
	s := start(t)
	c := client(t, s)
	sse := "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
	cases := []struct {
		path        string
		status      int
		body        []byte // nil: not checked
		length      int64  // expected resp.ContentLength
		chunked     bool   // no Content-Length; chunked on HTTP/1.1
		contentType string
		header      http.Header // expected values of these names
	}{
		{path: "/bytes?n=1000", status: 200, body: payload(1000), length: 1000, contentType: "application/octet-stream"},
		{path: "/bytes?n=0", status: 200, body: []byte{}, length: 0},
		{path: "/bytes", status: 200, body: payload(1024), length: 1024},
		{path: "/bytes?n=40000&chunked=1", status: 200, body: payload(40000), length: -1, chunked: true},
		{path: "/stream?chunks=3&size=5", status: 200, body: []byte("aaaaabbbbbccccc"), length: -1, chunked: true},
		{path: "/stream?chunks=2&size=20000", status: 200, body: []byte(strings.Repeat("a", 20000) + strings.Repeat("b", 20000)), length: -1, chunked: true},
		{path: "/stream?chunks=28&size=1", status: 200, body: []byte("abcdefghijklmnopqrstuvwxyzab"), length: -1, chunked: true},
		{path: "/sse", status: 200, body: []byte(sse), length: -1, chunked: true, contentType: "text/event-stream"},
		{path: "/slow?delay_ms=10", status: 200, body: []byte("ok"), length: 2},
		{path: "/slowbody?delay_ms=10&n=5", status: 200, body: []byte("xxxxx"), length: 5},
		{path: "/slowbody?delay_ms=0", status: 200, body: []byte("xx"), length: 2},
		{path: "/status/200", status: 200, body: []byte("status 200"), length: 10},
		{path: "/status/404", status: 404, body: []byte("status 404")},
		{path: "/status/503", status: 503, body: []byte("status 503")},
		{path: "/status/abc", status: 400},
		{path: "/status/99", status: 400},
		{path: "/redirect?to=/status/201", status: 302, body: []byte{}, header: http.Header{
			"Location":   {"/status/201"},
			"Set-Cookie": {"redirected=1; Path=/"},
		}},
		{path: "/redirect?to=/x&code=307", status: 307, header: http.Header{"Location": {"/x"}}},
		{path: "/cookies", status: 200, body: []byte("cookies"), length: 7, header: http.Header{
			"Set-Cookie": {"a=1; Path=/", "b=2; Path=/"},
			"X-Dup":      {"one", "two"},
		}},
		// Limits.
		{path: "/bytes?n=4294967296", status: 200, length: 4 << 30, contentType: "application/octet-stream"},
		{path: "/bytes?n=4294967297", status: 400},
		{path: "/bytes?n=-1", status: 400},
		{path: "/bytes?n=x", status: 400},
		{path: "/gzip?n=4294967297", status: 400},
		{path: "/slow?delay_ms=120001", status: 400},
		{path: "/slowbody?delay_ms=120001", status: 400},
		{path: "/stream?chunks=100001", status: 400},
		{path: "/stream?interval_ms=120001", status: 400},
		{path: "/stream?size=4294967297", status: 400},
		{path: "/sse?events=100001", status: 400},
		{path: "/stall?n=4294967297", status: 400},
		{path: "/truncate?declared=10&send=10", status: 400},
		{path: "/redirect?code=200", status: 400},
		{path: "/nothing", status: 404},
	}
	for _, tg := range targets(s) {
		for _, tc := range cases {
			t.Run(tg.name+tc.path, func(t *testing.T) {
				if tc.length == 4<<30 {
					checkHead(t, c, tg, tc.path, tc.length)
					return
				}
				resp, body := do(t, c, tg, "GET", tc.path, nil, nil)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d; body %.200q", resp.StatusCode, tc.status, body)
				}
				if tc.body != nil && !bytes.Equal(body, tc.body) {
					t.Errorf("body %.100q (%d bytes), want %.100q (%d bytes)", body, len(body), tc.body, len(tc.body))
				}
				if tc.status == 200 && resp.ContentLength != tc.length {
					t.Errorf("ContentLength %d, want %d", resp.ContentLength, tc.length)
				}
				if tc.chunked && tg.major == 1 && !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
					t.Errorf("TransferEncoding %q, want chunked", resp.TransferEncoding)
				}
				if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
					t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
				}
				for name, want := range tc.header {
					if got := resp.Header.Values(name); !slices.Equal(got, want) {
						t.Errorf("%s: %q, want %q", name, got, want)
					}
				}
			})
		}
	}
}

// checkHead checks the headers of a response too large to download.
func checkHead(t *testing.T, c *http.Client, tg target, path string, length int64) {
	resp, err := c.Get(tg.base + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != length {
		t.Errorf("status %d, length %d; want 200, %d", resp.StatusCode, resp.ContentLength, length)
	}
}

func decodeEcho(t *testing.T, body []byte) testserver.EchoReply {
	t.Helper()
	var e testserver.EchoReply
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%v in %.300q", err, body)
	}
	return e
}

func TestEcho(t *testing.T) {
	s := start(t)
	c := client(t, s)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16+1)
	cases := []struct {
		name, method, path string
		body               []byte
	}{
		{"get", "GET", "/echo?a=1&b=%20x", nil},
		{"post", "POST", "/echo", []byte("hello")},
		{"subpath", "PUT", "/echo/some/where?q", []byte{0, 1, 2}},
		{"64KiB", "POST", "/echo", big[:64<<10]},
		{"big", "POST", "/echo", big},
	}
	for _, tg := range targets(s) {
		for _, tc := range cases {
			t.Run(tg.name+"/"+tc.name, func(t *testing.T) {
				header := http.Header{"X-Custom": {"v1", "v2"}}
				resp, body := do(t, c, tg, tc.method, tc.path, bytes.NewReader(tc.body), header)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				e := decodeEcho(t, body)
				sum := sha256.Sum256(tc.body)
				wantProto, wantOrder, custom := "HTTP/1.1", "wire", "X-Custom"
				if tg.major == 2 {
					wantProto, wantOrder, custom = "HTTP/2.0", "sorted", "x-custom"
				}
				wantB64 := base64.StdEncoding.EncodeToString(tc.body)
				if len(tc.body) > 64<<10 {
					wantB64 = ""
				}
				host := strings.TrimPrefix(strings.TrimPrefix(tg.base, "http://"), "https://")
				got := []any{e.Method, e.Path, e.Proto, e.Host, e.HeaderOrder, e.BodyLen, e.BodySHA256, e.BodyB64}
				want := []any{tc.method, tc.path, wantProto, host, wantOrder, int64(len(tc.body)), hex.EncodeToString(sum[:]), wantB64}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("echo\n got %.300q\nwant %.300q", got, want)
				}
				i := slices.Index(e.Headers, [2]string{custom, "v1"})
				if i < 0 || i+1 >= len(e.Headers) || e.Headers[i+1] != [2]string{custom, "v2"} {
					t.Errorf("headers %q lack %s: v1, %s: v2", e.Headers, custom, custom)
				}
				if tg.major == 1 && !slices.Contains(e.Headers, [2]string{"Host", host}) {
					t.Errorf("headers %q lack Host", e.Headers)
				}
			})
		}
	}
}

// rawRequest is a request written by hand and, if it goes to /echo, the
// header fields the echo must report.
type rawRequest struct {
	raw  string
	want [][2]string
}

func TestEchoWireHeaders(t *testing.T) {
	s := start(t)
	plainEcho := func(host string, fields ...string) rawRequest {
		want := [][2]string{{"Host", host}}
		var b strings.Builder
		fmt.Fprintf(&b, "GET /echo HTTP/1.1\r\nHost: %s\r\n", host)
		for i := 0; i < len(fields); i += 2 {
			fmt.Fprintf(&b, "%s: %s\r\n", fields[i], fields[i+1])
			want = append(want, [2]string{fields[i], fields[i+1]})
		}
		b.WriteString("\r\n")
		return rawRequest{b.String(), want}
	}
	bigBody := strings.Repeat("z", 3<<20) // beyond the 2 MiB capture limit
	cases := []struct {
		name      string
		pipelined bool // write all requests at once
		reqs      []rawRequest
	}{
		{"order case repetition", false, []rawRequest{{
			"GET /echo?x=1 HTTP/1.1\r\nHost: example.test\r\nX-B: 2\r\nx-a: 1\r\nX-B: 3\r\nUSER-agent:  spaced \r\n\r\n",
			[][2]string{{"Host", "example.test"}, {"X-B", "2"}, {"x-a", "1"}, {"X-B", "3"}, {"USER-agent", "spaced"}},
		}}},
		{"keep-alive", false, []rawRequest{
			plainEcho("one", "X-B", "2", "x-a", "1"),
			plainEcho("two", "x-a", "1", "X-B", "2"),
		}},
		{"pipelined", true, []rawRequest{
			{"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nx-first: 1\r\n\r\nabc", [][2]string{{"Host", "a"}, {"Content-Length", "3"}, {"x-first", "1"}}},
			plainEcho("b", "X-Second", "2"),
			plainEcho("c", "x-third", "3"),
		}},
		{"other endpoint first", true, []rawRequest{
			{"GET /bytes?n=10 HTTP/1.1\r\nHost: a\r\n\r\n", nil},
			plainEcho("b", "X-After", "bytes"),
		}},
		{"after an unread body", true, []rawRequest{
			{"POST /status/201 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", nil},
			plainEcho("b", "X-After", "unread"),
		}},
		{"after chunked bodies", true, []rawRequest{
			{"POST /status/201 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", nil},
			{"POST /echo HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", [][2]string{{"Host", "b"}, {"Transfer-Encoding", "chunked"}}},
			plainEcho("c", "X-After", "chunked"),
		}},
		{"after a body larger than the capture", false, []rawRequest{
			{"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + fmt.Sprint(len(bigBody)) + "\r\n\r\n" + bigBody, [][2]string{{"Host", "a"}, {"Content-Length", fmt.Sprint(len(bigBody))}}},
			plainEcho("b", "X-After", "big"),
		}},
		{"folded and bare LF", false, []rawRequest{{
			"GET /echo HTTP/1.1\nHost: a\nX-Fold: one\r\n  two\r\nx-lf: 1\n\n",
			[][2]string{{"Host", "a"}, {"X-Fold", "one two"}, {"x-lf", "1"}},
		}}},
	}
	for _, tg := range targets(s)[:2] {
		for _, tc := range cases {
			t.Run(tg.name+"/"+tc.name, func(t *testing.T) {
				conn := dialRaw(t, s, tg)
				br := bufio.NewReader(conn)
				if tc.pipelined {
					var all strings.Builder
					for _, r := range tc.reqs {
						all.WriteString(r.raw)
					}
					write(t, conn, all.String())
				}
				for i, r := range tc.reqs {
					if !tc.pipelined {
						write(t, conn, r.raw)
					}
					checkRawResponse(t, br, i, r.want)
				}
			})
		}
	}
}

// dialRaw opens a TCP or TLS connection to tg whose every operation fails
// after testTimeout.
func dialRaw(t *testing.T, s *testserver.Servers, tg target) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(tg.base, "http://"), "https://")
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: testTimeout}
	if strings.HasPrefix(tg.base, "https://") {
		conn, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: s.CertPool(), NextProtos: []string{"http/1.1"}})
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func write(t *testing.T, conn net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(conn, s); err != nil {
		t.Fatal(err)
	}
}

// checkRawResponse reads response i and, if want is not nil, checks that it
// is an echo with the header fields want in wire order.
func checkRawResponse(t *testing.T, br *bufio.Reader, i int, want [][2]string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response %d: %v", i, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("response %d: %v", i, err)
	}
	if want == nil {
		return
	}
	e := decodeEcho(t, body)
	if e.HeaderOrder != "wire" || !reflect.DeepEqual(e.Headers, want) {
		t.Errorf("response %d: %s headers\n %q\nwant\n %q", i, e.HeaderOrder, e.Headers, want)
	}
}

func TestCompressed(t *testing.T) {
	s := start(t)
	c := client(t, s)
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"gzip":    func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"deflate": func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) },
	}
	for _, tg := range targets(s) {
		for _, encoding := range []string{"gzip", "deflate"} {
			for _, n := range []int{0, 1000, 300000} {
				t.Run(fmt.Sprintf("%s/%s/%d", tg.name, encoding, n), func(t *testing.T) {
					// Asking explicitly keeps the transport from decoding.
					header := http.Header{"Accept-Encoding": {encoding}}
					resp, body := do(t, c, tg, "GET", fmt.Sprintf("/%s?n=%d", encoding, n), nil, header)
					if resp.Header.Get("Content-Encoding") != encoding || resp.ContentLength != int64(len(body)) {
						t.Fatalf("Content-Encoding %q, Content-Length %d for %d bytes", resp.Header.Get("Content-Encoding"), resp.ContentLength, len(body))
					}
					zr, err := decoders[encoding](bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					plain, err := io.ReadAll(zr)
					if err != nil || !bytes.Equal(plain, payload(n)) {
						t.Errorf("decoded %d bytes (err %v), want the %d-byte payload", len(plain), err, n)
					}
				})
			}
		}
	}
}

// patternChecker verifies that what is written to it is the /bytes payload.
type patternChecker struct{ n int64 }

func (p *patternChecker) Write(b []byte) (int, error) {
	for i, c := range b {
		if c != byte(p.n+int64(i)) {
			return i, fmt.Errorf("byte %d is %d", p.n+int64(i), c)
		}
	}
	p.n += int64(len(b))
	return len(b), nil
}

func TestBytesLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 200 MiB")
	}
	s := start(t)
	c := client(t, s)
	const n = 200 << 20
	for _, path := range []string{"/bytes?n=209715200", "/bytes?n=209715200&chunked=1"} {
		resp, err := c.Get(s.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		var check patternChecker
		_, err = io.Copy(&check, resp.Body)
		resp.Body.Close()
		if err != nil || check.n != n {
			t.Errorf("%s: got %d bytes, err %v", path, check.n, err)
		}
	}
}

func TestTimingEndpoints(t *testing.T) {
	s := start(t)
	c := client(t, s)
	for _, tg := range targets(s) {
		t.Run(tg.name+"/stream interval", func(t *testing.T) {
			begin := time.Now()
			_, body := do(t, c, tg, "GET", "/stream?chunks=3&size=2&interval_ms=50", nil, nil)
			if string(body) != "aabbcc" || time.Since(begin) < 100*time.Millisecond {
				t.Errorf("body %q after %v, want aabbcc after 100ms", body, time.Since(begin))
			}
		})
		t.Run(tg.name+"/slowbody", func(t *testing.T) {
			const delay = 300 * time.Millisecond
			begin := time.Now()
			resp, err := c.Get(tg.base + "/slowbody?delay_ms=300&n=3")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			headers := time.Since(begin)
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != "xxx" {
				t.Fatalf("body %q, err %v", body, err)
			}
			if headers >= delay || time.Since(begin) < delay {
				t.Errorf("headers after %v and body after %v, want before and after %v", headers, time.Since(begin), delay)
			}
		})
		t.Run(tg.name+"/slow gives up with the client", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", tg.base+"/slow?delay_ms=60000", nil)
			begin := time.Now()
			resp, err := c.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("request succeeded before the delay: %d %q after %v", resp.StatusCode, body, time.Since(begin))
			}
			if time.Since(begin) > 5*time.Second {
				t.Errorf("request took %v", time.Since(begin))
			}
		})
		t.Run(tg.name+"/sse forever", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", tg.base+"/sse?events=0&interval_ms=1", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			var got strings.Builder
			for range 12 { // 4 events of 3 lines
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString(line)
			}
			if !strings.HasPrefix(got.String(), "id: 0\ndata: event 0\n\nid: 1\n") || !strings.HasSuffix(got.String(), "data: event 3\n\n") {
				t.Errorf("events %q", got.String())
			}
		})
	}
}

func TestStall(t *testing.T) {
	s := start(t)
	c := client(t, s)
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", tg.base+"/stall?n=5000", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != 10000 {
				t.Errorf("ContentLength %d, want 10000", resp.ContentLength)
			}
			got := make([]byte, 5000)
			if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, payload(5000)) {
				t.Fatalf("first half: %v", err)
			}
			stop := time.AfterFunc(300*time.Millisecond, cancel)
			defer stop.Stop()
			begin := time.Now()
			n, err := resp.Body.Read(make([]byte, 1))
			if err == nil || n != 0 || time.Since(begin) < 250*time.Millisecond {
				t.Errorf("read %d bytes, err %v after %v; want it to block until cancelled", n, err, time.Since(begin))
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	s := start(t)
	c := client(t, s)
	cases := []struct {
		path string
		sent int
	}{
		{"/truncate?declared=100&send=10", 10},
		{"/truncate", 50},
		{"/truncate?declared=1&send=0", 0},
		{"/truncate?declared=100000&send=70000", 70000},
		{"/truncate?send=10&chunked=1", 10},
		{"/truncate?send=40000&chunked=1", 40000},
		{"/truncate?send=0&chunked=1", 0},
	}
	for _, tg := range targets(s) {
		for _, tc := range cases {
			t.Run(tg.name+tc.path, func(t *testing.T) {
				resp, err := c.Get(tg.base + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != tg.major {
					t.Fatalf("got %s", resp.Proto)
				}
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Fatalf("read %d bytes without an error", len(body))
				}
				if len(body) > tc.sent || !bytes.Equal(body, payload(len(body))) {
					t.Fatalf("read %d bytes, want the payload's first %d", len(body), tc.sent)
				}
				// HTTP/2 may drop data already received when the stream is
				// reset; HTTP/1.1 must deliver all of it.
				if tg.major == 1 && len(body) != tc.sent {
					t.Errorf("read %d bytes, want %d", len(body), tc.sent)
				}
			})
		}
	}
}

func TestConns(t *testing.T) {
	s := start(t)
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			first, second := client(t, s), client(t, s)
			for i, step := range []struct {
				c    *http.Client
				want int64
			}{{first, 1}, {first, 1}, {second, 2}, {first, 2}} {
				_, body := do(t, step.c, tg, "GET", "/conns", nil, nil)
				var got struct{ Accepted int64 }
				if err := json.Unmarshal(body, &got); err != nil || got.Accepted != step.want {
					t.Errorf("step %d: %q (%v), want accepted %d", i, body, err, step.want)
				}
			}
			if got := s.Accepted(tg.base); got != 2 {
				t.Errorf("Accepted = %d, want 2", got)
			}
		})
	}
	if got := s.Accepted("http://127.0.0.1:1"); got != -1 {
		t.Errorf("Accepted of an unknown URL = %d, want -1", got)
	}
}

func TestALPN(t *testing.T) {
	s := start(t)
	offer := []string{"h2", "http/1.1"}
	for _, tc := range []struct {
		base string
		want string
	}{{s.HTTPS, "http/1.1"}, {s.H2, "h2"}} {
		addr := strings.TrimPrefix(tc.base, "https://")
		d := &net.Dialer{Timeout: testTimeout}
		conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: s.CertPool(), NextProtos: offer})
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != tc.want {
			t.Errorf("%s negotiated %q, want %q", tc.base, got, tc.want)
		}
		conn.Close()
	}
}

func TestCertificate(t *testing.T) {
	s := start(t)
	onDisk, err := os.ReadFile(s.CertFile)
	if err != nil || !bytes.Equal(onDisk, s.CertPEM) {
		t.Fatalf("cert file %s: %v", s.CertFile, err)
	}
	pool := s.CertPool()
	for _, tg := range targets(s)[1:] {
		conn := dialRaw(t, s, tg)
		cert := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		if validity := cert.NotAfter.Sub(time.Now()); validity > 24*time.Hour || validity < 23*time.Hour {
			t.Errorf("certificate valid for %v more", validity)
		}
		for _, host := range []string{"localhost", "127.0.0.1"} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
				t.Errorf("%s: %v", host, err)
			}
		}
	}
	// The certificate also works by name through the client.
	localhost := target{"h2", strings.Replace(s.H2, "127.0.0.1", "localhost", 1), 2}
	if resp, _ := do(t, client(t, s), localhost, "GET", "/status/200", nil, nil); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestHandlerElsewhere(t *testing.T) {
	ts := httptest.NewServer(testserver.Handler())
	defer ts.Close()
	tg := target{"httptest", ts.URL, 1}
	c := ts.Client()
	c.Timeout = testTimeout
	resp, body := do(t, c, tg, "GET", "/conns", nil, nil)
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("/conns: status %d", resp.StatusCode)
	}
	_, body = do(t, c, tg, "GET", "/echo", nil, http.Header{"X-B": {"1"}})
	if e := decodeEcho(t, body); e.HeaderOrder != "sorted" || !slices.Contains(e.Headers, [2]string{"x-b", "1"}) {
		t.Errorf("echo %+v", e)
	}
}

func TestCloseEndsRequests(t *testing.T) {
	s, err := testserver.Start("")
	if err != nil {
		t.Fatal(err)
	}
	if s.CertFile != "" {
		t.Errorf("CertFile %q without a directory", s.CertFile)
	}
	c := client(t, s)
	errs := make(chan error, 3)
	for _, tg := range targets(s) {
		go func() {
			resp, err := c.Get(tg.base + "/stall?n=1")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	// Let the requests arrive; Close must end them either way.
	time.Sleep(100 * time.Millisecond)
	closeEndsStalledRequests(t, s, errs, 3, time.After(testTimeout))
	if resp, err := c.Get(s.HTTP + "/status/200"); err == nil {
		resp.Body.Close()
		t.Error("request after Close succeeded")
	}
}

func TestTLSEndpointShowsTheClientHello(t *testing.T) {
	s := start(t)
	for _, base := range []string{s.HTTPS, s.H2} {
		resp, err := s.Client().Get(base + "/tls")
		if err != nil {
			t.Fatal(err)
		}
		var hello testserver.HelloSummary
		err = json.NewDecoder(resp.Body).Decode(&hello)
		resp.Body.Close()
		if err != nil || len(hello.CipherSuites) == 0 || len(hello.Extensions) == 0 || len(hello.ALPN) == 0 {
			t.Fatalf("%s: %+v (%v)", base, hello, err)
		}
	}
	resp, err := http.Get(s.HTTP + "/tls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("plain HTTP: %d", resp.StatusCode)
	}
}

// closeEndsStalledRequests closes the servers and checks that each of n
// stalled requests ends with an error, and that Close returns, in time.
func closeEndsStalledRequests(t *testing.T, s *testserver.Servers, errs <-chan error, n int, timeout <-chan time.Time) {
	t.Helper()
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	for range n {
		select {
		case err := <-errs:
			if err == nil {
				t.Error("a stalled request completed")
			}
		case <-timeout:
			t.Fatal("requests still running after Close")
		}
	}
	select {
	case <-closed:
	case <-timeout:
		t.Fatal("Close did not return")
	}
}

func TestWebSocketOpensLimit(t *testing.T) {
	s := start(t)
	c := client(t, s)
	tag := fmt.Sprintf("limit-%d", time.Now().UnixNano())
	handshake := func() int {
		req, err := http.NewRequest("GET", s.HTTP+"/ws/echo?tag="+tag+"&opens=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := [2]int{handshake(), handshake()}; got != [2]int{101, 503} {
		t.Fatalf("handshakes under a tag with opens=1: %v, want [101 503]", got)
	}
	_, body := do(t, c, target{"http", s.HTTP, 1}, "GET", "/ws-stalls?tag="+tag, nil, nil)
	if !strings.Contains(string(body), `"opens":2`) {
		t.Fatalf("/ws-stalls: %s", body)
	}
}

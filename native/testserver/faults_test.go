package testserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/scrapy-tlsclient/native/testserver"
)

// faultNames are the servers faults.go documents.
var faultNames = []string{
	"http", "https", "h2",
	"tls_alert", "tls_close", "tls_reset", "tls_stall", "tls_plaintext",
	"proxy_403", "proxy_407", "proxy_close", "proxy_reset", "proxy_stall", "proxy_200_close",
}

// faultClient returns a client for the HTTP/1.1 or HTTP/2 fault servers
// of s with the given timeout.
func faultClient(t *testing.T, s *testserver.Servers, h2 bool, timeout time.Duration) *http.Client {
	t.Helper()
	config := &tls.Config{RootCAs: s.CertPool()}
	var rt http.RoundTripper
	if h2 {
		rt = &http2.Transport{TLSClientConfig: config}
	} else {
		rt = &http.Transport{TLSClientConfig: config, DisableKeepAlives: true}
	}
	c := &http.Client{Transport: rt, Timeout: timeout}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// faultGet gets u and reads the whole body: the response (nil if none
// came), the body read and the first error.
func faultGet(c *http.Client, u string) (*http.Response, []byte, error) {
	resp, err := c.Get(u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func isPattern(b []byte) bool {
	for i, v := range b {
		if v != byte(i) {
			return false
		}
	}
	return true
}

func TestFaultIndexListsEveryServer(t *testing.T) {
	s := start(t)
	resp, err := http.Get(s.HTTP + "/faults")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var urls map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&urls); err != nil {
		t.Fatal(err)
	}
	if len(urls) != len(faultNames) || len(s.Faults.URLs) != len(faultNames) {
		t.Fatalf("got %d (index) and %d URLs, want %d", len(urls), len(s.Faults.URLs), len(faultNames))
	}
	for _, name := range faultNames {
		u, err := url.Parse(urls[name])
		if err != nil || u.Hostname() != "127.0.0.1" || urls[name] != s.Faults.URLs[name] {
			t.Errorf("%s: %q (Faults.URLs %q)", name, urls[name], s.Faults.URLs[name])
		}
	}
}

func TestHTTP1Faults(t *testing.T) {
	s := start(t)
	for _, name := range []string{"http", "https"} {
		base := s.Faults.URLs[name]
		c := faultClient(t, s, false, testTimeout)
		t.Run(name, func(t *testing.T) {
			resp, body, err := faultGet(c, base+"/ok?n=1000")
			if err != nil || resp.StatusCode != 200 || len(body) != 1000 || !isPattern(body) {
				t.Errorf("/ok: %v, %d bytes", err, len(body))
			}
			for _, path := range []string{"/truncate-length", "/truncate-chunked"} {
				resp, body, err := faultGet(c, base+path)
				if resp == nil || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 5000 || !isPattern(body) {
					t.Errorf("%s: %v after %d bytes", path, err, len(body))
				}
			}
			resp, body, err = faultGet(c, base+"/reset-mid-body")
			if resp == nil || !errors.Is(err, syscall.ECONNRESET) || len(body) > 5000 {
				t.Errorf("/reset-mid-body: %v after %d bytes", err, len(body))
			}
			for _, path := range []string{
				"/close-before-headers", "/reset-before-headers", "/reset-mid-headers",
				"/bad-status-code", "/bad-status-line", "/bad-header", "/bad-content-length",
			} {
				if resp, _, err := faultGet(c, base+path); resp != nil || err == nil {
					t.Errorf("%s: a response", path)
				}
			}
			resp, _, err = faultGet(c, base+"/huge-headers?size=200000&line=1000")
			if err != nil || len(resp.Header) < 190 {
				t.Errorf("/huge-headers: %v", err)
			}
		})
	}
}

func TestHTTP1Stalls(t *testing.T) {
	s := start(t)
	c := faultClient(t, s, false, 300*time.Millisecond)
	for _, path := range []string{"/slow-headers?interval_ms=20", "/stall-body"} {
		started := time.Now()
		_, _, err := faultGet(c, s.Faults.URLs["https"]+path)
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() || time.Since(started) > testTimeout {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestHTTP2Faults(t *testing.T) {
	s := start(t)
	base := s.Faults.URLs["h2"]
	c := faultClient(t, s, true, testTimeout)
	resp, body, err := faultGet(c, base+"/ok?n=1000")
	if err != nil || resp.ProtoMajor != 2 || len(body) != 1000 || !isPattern(body) {
		t.Fatalf("/ok: %v, %d bytes", err, len(body))
	}
	var streamErr http2.StreamError
	resp, body, err = faultGet(c, base+"/rst-mid-body")
	if resp == nil || !errors.As(err, &streamErr) || streamErr.Code != http2.ErrCodeInternal || len(body) != 5000 {
		t.Errorf("/rst-mid-body: %v after %d bytes", err, len(body))
	}
	if _, _, err := faultGet(c, base+"/rst-before-headers"); !errors.As(err, &streamErr) {
		t.Errorf("/rst-before-headers: %v", err)
	}
	resp, body, err = faultGet(c, base+"/truncate")
	if resp == nil || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 5000 {
		t.Errorf("/truncate: %v after %d bytes", err, len(body))
	}
	resp, body, err = faultGet(c, base+"/goaway-mid-body")
	if resp == nil || err == nil || !strings.Contains(err.Error(), "GOAWAY") || len(body) > 5000 {
		t.Errorf("/goaway-mid-body: %v after %d bytes", err, len(body))
	}
	resp, _, err = faultGet(c, base+"/reset-mid-body")
	if resp == nil || err == nil {
		t.Errorf("/reset-mid-body: %v", err)
	}
	for _, path := range []string{"/bad-status", "/no-status"} {
		if resp, _, err := faultGet(c, base+path); resp != nil || err == nil {
			t.Errorf("%s: a response", path)
		}
	}
	resp, _, err = faultGet(c, base+"/huge-headers?size=100000&line=1000")
	if err != nil || len(resp.Header) < 95 {
		t.Errorf("/huge-headers in CONTINUATION frames: %v", err)
	}
	slow := faultClient(t, s, true, 300*time.Millisecond)
	for _, path := range []string{"/slow-headers", "/stall-body"} {
		if _, _, err := faultGet(slow, base+path); err == nil || !strings.Contains(err.Error(), "Client.Timeout") {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestHandshakeFaults(t *testing.T) {
	s := start(t)
	for name, want := range map[string]func(error) bool{
		"tls_alert":     func(err error) bool { return err != nil && strings.Contains(err.Error(), "handshake failure") },
		"tls_close":     func(err error) bool { return errors.Is(err, io.EOF) },
		"tls_reset":     func(err error) bool { return errors.Is(err, syscall.ECONNRESET) },
		"tls_stall":     func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		"tls_plaintext": func(err error) bool { return err != nil && strings.Contains(err.Error(), "does not look like a TLS") },
	} {
		u, _ := url.Parse(s.Faults.URLs[name])
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		d := &tls.Dialer{Config: &tls.Config{RootCAs: s.CertPool()}}
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		cancel()
		if err == nil {
			conn.Close()
		}
		if !want(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProxyFaults(t *testing.T) {
	s := start(t)
	for name, want := range map[string]string{
		"proxy_403":       "HTTP/1.1 403 Forbidden",
		"proxy_407":       "HTTP/1.1 407 Proxy Authentication Required",
		"proxy_200_close": "HTTP/1.1 200 Connection established",
		"proxy_close":     "EOF",
		"proxy_reset":     "reset",
		"proxy_stall":     "timeout",
	} {
		u, _ := url.Parse(s.Faults.URLs[name])
		conn, err := net.DialTimeout("tcp", u.Host, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = io.WriteString(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		got := strings.TrimSpace(line)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
		if name == "proxy_200_close" {
			_, _ = br.ReadString('\n')
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("%s: the tunnel did not close: %v", name, err)
			}
		}
		conn.Close()
	}
}

// Close ends stalled connections at once and leaves no goroutine.
func TestFaultServersCloseEndsStalls(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := testserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, name := range []string{"tls_stall", "proxy_stall", "http"} {
		u, _ := url.Parse(s.Faults.URLs[name])
		conn, err := net.DialTimeout("tcp", u.Host, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	_, _ = conns[0].Write([]byte{22, 3, 1, 0, 1, 1})                // a (tiny) ClientHello record
	_, _ = io.WriteString(conns[1], "CONNECT a:1 HTTP/1.1\r\n\r\n") // a CONNECT
	_, _ = io.WriteString(conns[2], "GET /stall-body HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(100 * time.Millisecond)

	closeWithin(t, s)
	for i, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("connection %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before Start", n, before)
	}
}

package testserver_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	fhttp "github.com/bogdanfinn/fhttp"
	tls_client "github.com/bogdanfinn/tls-client"
	"github.com/bogdanfinn/tls-client/profiles"

	"github.com/scrapy-tlsclient/native/testserver"
)

// End-to-end tests of the fingerprint server: Go's own client, then
// tls-client with browser profiles, whose JA4 and Akamai fingerprints were
// measured independently with the same library.

// akamaiShape is SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_HEADER_ORDER.
var akamaiShape = regexp.MustCompile(`^\d+:\d+(;\d+:\d+)*\|(00|\d+)\|(0|\d+:[01]:\d+:\d+(,\d+:[01]:\d+:\d+)*)\|[masp](,[masp]){3}$`)

func decodeFingerprint(t *testing.T, body io.Reader) testserver.FingerprintReply {
	t.Helper()
	var fp testserver.FingerprintReply
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fp); err != nil {
		t.Fatal(err)
	}
	return fp
}

// checkConsistent checks the parts of fp that must agree with each other
// whatever the client.
func checkConsistent(t *testing.T, fp testserver.FingerprintReply) {
	t.Helper()
	if len(fp.Errors) > 0 {
		t.Errorf("errors: %q", fp.Errors)
	}
	md5Of := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	if fp.JA3Hash != md5Of(fp.JA3) || fp.JA3NHash != md5Of(fp.JA3N) {
		t.Errorf("JA3 hashes do not match their strings: %+v", fp)
	}
	if fp.AkamaiHash != "" && fp.AkamaiHash != md5Of(fp.Akamai) {
		t.Errorf("akamai hash %s of %s", fp.AkamaiHash, fp.Akamai)
	}
	// ja4 is ja4_r with its lists hashed.
	raw := strings.SplitN(fp.JA4R, "_", 3)
	if len(raw) != 3 {
		t.Fatalf("ja4_r %s", fp.JA4R)
	}
	hash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:])[:12] }
	if want := raw[0] + "_" + hash(raw[1]) + "_" + hash(raw[2]); fp.JA4 != want {
		t.Errorf("ja4 %s, want %s from ja4_r %s", fp.JA4, want, fp.JA4R)
	}
	// JA3N is JA3 with the extensions sorted.
	ja3, ja3n := strings.Split(fp.JA3, ","), strings.Split(fp.JA3N, ",")
	exts := strings.Split(ja3[2], "-")
	slices.SortFunc(exts, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	if len(ja3) != 5 || len(ja3n) != 5 || strings.Join(exts, "-") != ja3n[2] {
		t.Errorf("ja3 %s, ja3n %s", fp.JA3, fp.JA3N)
	}
	var names []string
	for _, f := range fp.Headers {
		if !strings.HasPrefix(f[0], ":") {
			names = append(names, strings.ToLower(f[0]))
		}
	}
	if !slices.Equal(names, fp.HeaderOrder) {
		t.Errorf("header_order %q, headers %q", fp.HeaderOrder, fp.Headers)
	}
}

// isSubsequence reports whether want appear in got in that order.
func isSubsequence(got, want []string) bool {
	for _, g := range got {
		if len(want) > 0 && g == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}

func TestFingerprintServerGoClient(t *testing.T) {
	s := start(t)
	if !strings.HasPrefix(s.Fingerprint, "https://localhost:") {
		t.Fatalf("URL %s, want https://localhost:PORT", s.Fingerprint)
	}
	h1 := &http.Client{Timeout: testTimeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.CertPool(), NextProtos: []string{"http/1.1"}},
	}}
	t.Cleanup(h1.CloseIdleConnections)

	get := func(c *http.Client, method, path string, body io.Reader) testserver.FingerprintReply {
		t.Helper()
		req, err := http.NewRequest(method, s.Fingerprint+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-First", "1")
		req.Header.Set("X-Second", "two")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		fp := decodeFingerprint(t, resp.Body)
		checkConsistent(t, fp)
		return fp
	}

	t.Run("HTTP/1.1", func(t *testing.T) {
		// A POST with a body first, then a GET on the same connection: each
		// reports its own headers.
		first := get(h1, http.MethodPost, "/anything?x=1", strings.NewReader("body"))
		fp := get(h1, http.MethodGet, "/", nil)
		if s.Accepted(s.Fingerprint) != 1 {
			t.Errorf("%d connections, want 1", s.Accepted(s.Fingerprint))
		}
		if !slices.Contains(first.HeaderOrder, "content-length") || slices.Contains(fp.HeaderOrder, "content-length") {
			t.Errorf("header orders %q then %q", first.HeaderOrder, fp.HeaderOrder)
		}
		if fp.HTTPVersion != "http/1.1" || fp.Akamai != "-" || fp.AkamaiHash != "" || fp.H2HeadersPriority != nil {
			t.Errorf("HTTP/1.1 reply %+v", fp)
		}
		if !strings.HasPrefix(fp.JA4, "t13d") || !strings.Contains(fp.JA4, "h1_") {
			t.Errorf("ja4 %s, want t13d...h1_...", fp.JA4)
		}
		if fp.SNI != "localhost" || !slices.Equal(fp.ALPN, []string{"http/1.1"}) || fp.TLSVersion != "TLS 1.3" {
			t.Errorf("sni %q, alpn %q, version %q", fp.SNI, fp.ALPN, fp.TLSVersion)
		}
		// Go writes Host and User-Agent first, then the other fields sorted.
		if !isSubsequence(fp.HeaderOrder, []string{"host", "user-agent", "x-first", "x-second", "accept-encoding"}) ||
			!slices.Contains(fp.Headers, [2]string{"X-Second", "two"}) || len(fp.PseudoHeaderOrder) != 0 {
			t.Errorf("headers %q", fp.Headers)
		}
		t.Logf("Go HTTP/1.1: ja3 %s\nja4 %s", fp.JA3Hash, fp.JA4)
	})

	t.Run("HTTP/2", func(t *testing.T) {
		c := s.Client()
		c.Timeout = testTimeout
		t.Cleanup(c.CloseIdleConnections)
		fp := get(c, http.MethodGet, "/x", nil)
		if again := get(c, http.MethodGet, "/y", nil); again.Akamai != fp.Akamai {
			t.Errorf("second request on the connection: akamai %s, then %s", fp.Akamai, again.Akamai)
		}
		if fp.HTTPVersion != "h2" || !akamaiShape.MatchString(fp.Akamai) {
			t.Errorf("version %s, akamai %q", fp.HTTPVersion, fp.Akamai)
		}
		if !strings.HasPrefix(fp.JA4, "t13d") || !strings.Contains(fp.JA4, "h2_") {
			t.Errorf("ja4 %s, want t13d...h2_...", fp.JA4)
		}
		// Go's transport sends :authority, :method, :path, :scheme, and
		// the other fields in an order of its own.
		if !strings.HasSuffix(fp.Akamai, "|a,m,p,s") ||
			!slices.Equal(fp.PseudoHeaderOrder, []string{":authority", ":method", ":path", ":scheme"}) {
			t.Errorf("akamai %s, pseudo headers %q", fp.Akamai, fp.PseudoHeaderOrder)
		}
		for _, name := range []string{"x-first", "x-second", "user-agent", "accept-encoding"} {
			if !slices.Contains(fp.HeaderOrder, name) {
				t.Errorf("no %s in %q", name, fp.HeaderOrder)
			}
		}
		if !slices.Contains(fp.Headers, [2]string{":path", "/x"}) {
			t.Errorf("headers %q", fp.Headers)
		}
		t.Logf("Go HTTP/2: ja3 %s\nja4 %s\nakamai %s", fp.JA3Hash, fp.JA4, fp.Akamai)
	})
}

// TestFingerprintServerTLSClient checks the fingerprints of tls-client's
// browser profiles against values measured independently.
func TestFingerprintServerTLSClient(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		profile    string
		ja4        string
		akamai     string
		forceHTTP1 bool
	}{
		{"chrome_144", "t13d1516h2_8daaf6152771_d8a2da3f94cd", "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p", false},
		{"firefox_147", "t13d1717h2_5b57614c22b0_68c5a8c2958d", "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s", false},
		{"safari_ios_18_5", "t13d2014h2_a09f3c656075_e42f34c56612", "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p", false},
		// Forced to HTTP/1.1, the ClientHello offers only http/1.1.
		{"chrome_144", "t13d1516h1_8daaf6152771_d8a2da3f94cd", "-", true},
	} {
		name := tc.profile
		if tc.forceHTTP1 {
			name += "/http1"
		}
		t.Run(name, func(t *testing.T) {
			opts := []tls_client.HttpClientOption{
				tls_client.WithClientProfile(profiles.MappedTLSClients[tc.profile]),
				tls_client.WithInsecureSkipVerify(),
				tls_client.WithTimeoutSeconds(int(testTimeout.Seconds())),
				tls_client.WithNotFollowRedirects(),
			}
			if tc.forceHTTP1 {
				opts = append(opts, tls_client.WithForceHttp1())
			}
			c, err := tls_client.NewHttpClient(tls_client.NewNoopLogger(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, err := fhttp.NewRequestWithContext(ctx, fhttp.MethodGet, s.Fingerprint+"/fp", nil)
			if err != nil {
				t.Fatal(err)
			}
			order := []string{"accept", "x-custom", "user-agent", "accept-language"}
			req.Header = fhttp.Header{
				"Accept":             {"*/*"},
				"X-Custom":           {"yes"},
				"User-Agent":         {"profile-test"},
				"Accept-Language":    {"en"},
				fhttp.HeaderOrderKey: order,
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			fp := decodeFingerprint(t, resp.Body)
			checkConsistent(t, fp)
			t.Logf("%s: http %s\nja3 %s (%s)\nja3n %s\nja4 %s\nja4_r %s\nakamai %s\nheaders priority %+v\nheaders %q",
				name, fp.HTTPVersion, fp.JA3Hash, fp.JA3, fp.JA3NHash, fp.JA4, fp.JA4R, fp.Akamai, fp.H2HeadersPriority, fp.Headers)
			if fp.JA4 != tc.ja4 {
				t.Errorf("ja4 %s, want %s", fp.JA4, tc.ja4)
			}
			if fp.Akamai != tc.akamai {
				t.Errorf("akamai %s, want %s", fp.Akamai, tc.akamai)
			}
			if fp.SNI != "localhost" {
				t.Errorf("sni %q", fp.SNI)
			}
			if !isSubsequence(fp.HeaderOrder, order) {
				t.Errorf("header order %q, want %q in that order", fp.HeaderOrder, order)
			}
		})
	}
}

// TestFingerprintServerClose checks that Close ends connections at every
// stage: before the ClientHello, and HTTP/2 ones the http.Server does not
// know of.
func TestFingerprintServerClose(t *testing.T) {
	s, err := testserver.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, s)
	addr := strings.TrimPrefix(s.Fingerprint, "https://")

	silent, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	// Plain HTTP to the TLS port is not a ClientHello: the server hangs up.
	plain, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_ = plain.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(plain, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if n, err := plain.Read(make([]byte, 1)); err == nil {
		t.Errorf("plain HTTP got %d bytes back", n)
	}

	h2 := s.Client()
	h2.Timeout = testTimeout
	resp, err := h2.Get(s.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/%d", resp.ProtoMajor)
	}

	closeWithin(t, s)
	_ = silent.SetDeadline(time.Now().Add(testTimeout))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection without ClientHello still open after Close: %v", err)
	}
	if _, err := h2.Get(s.Fingerprint); err == nil {
		t.Error("request after Close succeeded")
	}
}

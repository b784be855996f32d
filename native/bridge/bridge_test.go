package bridge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tls_client "github.com/bogdanfinn/tls-client"
	"github.com/scrapy-tlsclient/native/testserver"
)

var (
	serversOnce sync.Once
	servers     *testserver.Servers
	serversErr  error
)

func testServers(t *testing.T) *testserver.Servers {
	t.Helper()
	serversOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bridge-test-certs")
		if err != nil {
			serversErr = err
			return
		}
		servers, serversErr = testserver.Start(dir)
	})
	if serversErr != nil {
		t.Fatalf("test servers: %v", serversErr)
	}
	return servers
}

// bases are the three transports every body test runs on.
func bases(t *testing.T) map[string]string {
	s := testServers(t)
	return map[string]string{"http1": s.HTTP, "https1": s.HTTPS, "h2": s.H2}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decode[T any](t *testing.T, payload []byte) T {
	t.Helper()
	var out T
	if err := json.Unmarshal(payload, &out); err != nil {
		t.Fatalf("bad envelope %q: %v", payload, err)
	}
	return out
}

func doRequest(t *testing.T, b *Bridge, in map[string]any) Response {
	t.Helper()
	_, out := b.Request(mustJSON(t, in))
	return decode[Response](t, out)
}

func dataURLBytes(t *testing.T, body string) []byte {
	t.Helper()
	_, payload, ok := strings.Cut(body, ",")
	if !ok || !strings.HasPrefix(body, "data:") {
		t.Fatalf("not a data URL: %.60q", body)
	}
	out, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pattern(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i % 256)
	}
	return out
}

func req(url string, extra map[string]any) map[string]any {
	in := map[string]any{"requestUrl": url, "requestMethod": "GET", "isByteResponse": true,
		"insecureSkipVerify": true, "sessionId": "test", "rawBody": true}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

func TestBinaryBodiesAreByteExact(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		for _, n := range []int{0, 256, 1 << 20, 50 << 20} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				out := doRequest(t, b, req(fmt.Sprintf("%s/bytes?n=%d", base, n), nil))
				if out.Status != 200 || out.ErrorCode != "" {
					t.Fatalf("status %d error %q %q", out.Status, out.ErrorCode, out.Body)
				}
				if got := dataURLBytes(t, out.Body); !bytes.Equal(got, pattern(n)) {
					t.Fatalf("body differs: got %d bytes, want %d", len(got), n)
				}
				if out.BodyBytes != int64(n) {
					t.Fatalf("bodyBytes %d, want %d", out.BodyBytes, n)
				}
			})
		}
	}
}

func TestRawBodyKeepsContentEncoding(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			raw := doRequest(t, b, req(base+"/gzip?n=5000", map[string]any{"headersList": [][2]string{{"Accept-Encoding", "gzip"}}}))
			if got := raw.Headers["Content-Encoding"]; len(got) != 1 || got[0] != "gzip" {
				t.Fatalf("Content-Encoding %v", raw.Headers)
			}
			zr, err := gzip.NewReader(bytes.NewReader(dataURLBytes(t, raw.Body)))
			if err != nil {
				t.Fatalf("raw body is not gzip: %v", err)
			}
			var plain bytes.Buffer
			if _, err := plain.ReadFrom(zr); err != nil || !bytes.Equal(plain.Bytes(), pattern(5000)) {
				t.Fatalf("gzip payload differs (%v)", err)
			}
			decoded := doRequest(t, b, req(base+"/gzip?n=5000", map[string]any{"rawBody": false}))
			if _, ok := decoded.Headers["Content-Encoding"]; ok {
				t.Fatalf("decoded response kept Content-Encoding: %v", decoded.Headers)
			}
			if !bytes.Equal(dataURLBytes(t, decoded.Body), pattern(5000)) {
				t.Fatal("decoded body differs")
			}
		})
	}
}

func TestHeadersListIsSentInOrderWithCaseAndRepeats(t *testing.T) {
	b := New()
	s := testServers(t)
	out := doRequest(t, b, req(s.HTTP+"/echo", map[string]any{"headersList": [][2]string{
		{"X-B", "2"}, {"x-a", "1"}, {"X-B", "3"}, {"Accept", "*/*"}}}))
	echo := decode[testserver.EchoReply](t, dataURLBytes(t, out.Body))
	var names []string
	for _, h := range echo.Headers {
		names = append(names, h[0]+"="+h[1])
	}
	got := strings.Join(names, ",")
	// Repeated names are sent together at their first position: fhttp
	// keeps headers in a map of lists. A list without Host gets it first.
	host := strings.TrimPrefix(s.HTTP, "http://")
	if !strings.HasPrefix(got, "Host="+host+",X-B=2,X-B=3,x-a=1,Accept=*/*") {
		t.Fatalf("wire headers %s", got)
	}
	if strings.Contains(strings.ToLower(got), "user-agent") || strings.Contains(strings.ToLower(got), "accept-encoding") {
		t.Fatalf("headersList must be the exact header block, got %s", got)
	}
}

func TestConnectionInfo(t *testing.T) {
	b := New()
	s := testServers(t)
	out := doRequest(t, b, req(s.H2+"/bytes?n=1", map[string]any{"withPeerCertificate": true}))
	if out.UsedProtocol != "HTTP/2.0" || out.TLS == nil || out.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("protocol %q tls %+v", out.UsedProtocol, out.TLS)
	}
	if !strings.HasPrefix(out.RemoteAddress, "127.0.0.1:") || out.TLS.Version != "TLS 1.3" || out.TLS.PeerCertificate == "" {
		t.Fatalf("remote %q tls %+v", out.RemoteAddress, out.TLS)
	}
	h1 := doRequest(t, b, req(s.HTTPS+"/bytes?n=1", nil))
	if h1.UsedProtocol != "HTTP/1.1" || h1.TLS == nil || h1.TLS.CipherSuite == "" || h1.RemoteAddress == "" {
		t.Fatalf("https h1: %q %+v %q", h1.UsedProtocol, h1.TLS, h1.RemoteAddress)
	}
}

func startStream(t *testing.T, b *Bridge, in map[string]any) Response {
	t.Helper()
	_, out := b.RequestStream(mustJSON(t, in))
	r := decode[Response](t, out)
	if r.StreamID == "" {
		t.Fatalf("no stream: %+v", r)
	}
	return r
}

func readChunk(t *testing.T, b *Bridge, id string, timeoutMs, maxBytes int) StreamChunk {
	t.Helper()
	_, out := b.ReadStream(mustJSON(t, map[string]any{"streamId": id, "timeoutMs": timeoutMs, "maxBytes": maxBytes}))
	return decode[StreamChunk](t, out)
}

func drain(t *testing.T, b *Bridge, id string, limit time.Duration) []byte {
	t.Helper()
	var body []byte
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c := readChunk(t, b, id, 500, 1<<20)
		switch {
		case c.Error != "":
			t.Fatalf("stream error %s: %s", c.ErrorCode, c.Error)
		case c.EOF:
			return body
		case c.Timeout:
		default:
			data, _ := base64.StdEncoding.DecodeString(c.Chunk)
			body = append(body, data...)
		}
	}
	t.Fatalf("stream not finished within %s", limit)
	return nil
}

func TestStreamBodiesAreByteExact(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			s := startStream(t, b, req(base+"/bytes?n=3000000&chunked=1", nil))
			if got := drain(t, b, s.StreamID, 20*time.Second); !bytes.Equal(got, pattern(3000000)) {
				t.Fatalf("stream body differs: %d bytes", len(got))
			}
			assertNoLeftovers(t, b)
		})
	}
}

func assertNoLeftovers(t *testing.T, b *Bridge) {
	t.Helper()
	_, out := b.GetStats()
	st := decode[Stats](t, out)
	if st.StreamsOpen != 0 || st.CallsInFlight != 0 {
		t.Fatalf("left behind: %+v", st)
	}
}

func TestReadStreamTimeoutSemantics(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.H2+"/stream?chunks=2&size=10&interval_ms=700", nil))
	first := readChunk(t, b, st.StreamID, -1, 0) // blocks until the first chunk
	if first.Chunk == "" {
		t.Fatalf("blocking read: %+v", first)
	}
	start := time.Now()
	poll := readChunk(t, b, st.StreamID, 0, 0)
	if !poll.Timeout || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("poll: %+v after %s", poll, time.Since(start))
	}
	start = time.Now()
	bounded := readChunk(t, b, st.StreamID, 150, 0)
	if elapsed := time.Since(start); !bounded.Timeout || elapsed < 140*time.Millisecond || elapsed > 600*time.Millisecond {
		t.Fatalf("bounded: %+v after %s", bounded, elapsed)
	}
	second := readChunk(t, b, st.StreamID, -1, 0)
	if data, _ := base64.StdEncoding.DecodeString(second.Chunk); string(data) != strings.Repeat("b", 10) {
		t.Fatalf("second chunk %+v", second)
	}
	if end := readChunk(t, b, st.StreamID, -1, 0); !end.EOF || end.Chunk != "" {
		t.Fatalf("end %+v", end)
	}
	if gone := readChunk(t, b, st.StreamID, 0, 0); gone.ErrorCode != CodeUnknownStream {
		t.Fatalf("after eof: %+v", gone)
	}
}

func TestCancelStreamMidStreamTwiceAndUnknown(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.H2+"/sse?events=0&interval_ms=20", nil))
	if c := readChunk(t, b, st.StreamID, 5000, 0); c.Chunk == "" {
		t.Fatalf("first event: %+v", c)
	}
	for i := 0; i < 2; i++ {
		_, out := b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
		if r := decode[successOutput](t, out); !r.Success {
			t.Fatalf("cancel %d: %s", i, out)
		}
	}
	if c := readChunk(t, b, st.StreamID, 0, 0); c.ErrorCode != CodeUnknownStream {
		t.Fatalf("read after cancel: %+v", c)
	}
	assertNoLeftovers(t, b)
}

func TestCancelWhileBlockedInReadStream(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.HTTP+"/stall?n=10", nil))
	readChunk(t, b, st.StreamID, 5000, 0)
	done := make(chan StreamChunk, 1)
	go func() { done <- readChunk(t, b, st.StreamID, -1, 0) }()
	time.Sleep(100 * time.Millisecond)
	b.CancelStream(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	select {
	case c := <-done:
		if c.ErrorCode != CodeCancelled {
			t.Fatalf("blocked reader got %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not wake the blocked reader")
	}
}

func TestCancelBeforeHeaders(t *testing.T) {
	b := New()
	s := testServers(t)
	done := make(chan Response, 1)
	go func() {
		_, out := b.RequestStream(mustJSON(t, req(s.H2+"/slow?delay_ms=10000", map[string]any{"streamId": "waiting"})))
		done <- decode[Response](t, out)
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	b.CancelStream(mustJSON(t, map[string]any{"streamId": "waiting"}))
	select {
	case r := <-done:
		if r.ErrorCode != CodeCancelled || time.Since(start) > 2*time.Second {
			t.Fatalf("got %+v after %s", r, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("requestStream still waiting after cancelStream")
	}
	// A cancel that overtakes its requestStream wins too.
	b.CancelStream(mustJSON(t, map[string]any{"streamId": "early"}))
	_, out := b.RequestStream(mustJSON(t, req(s.H2+"/bytes?n=1", map[string]any{"streamId": "early"})))
	if r := decode[Response](t, out); r.ErrorCode != CodeCancelled {
		t.Fatalf("early cancel ignored: %+v", r)
	}
	assertNoLeftovers(t, b)
}

func TestReadStreamAllAfterSomeChunks(t *testing.T) {
	b := New()
	s := testServers(t)
	st := startStream(t, b, req(s.HTTPS+"/bytes?n=200000&chunked=1", map[string]any{"streamOutputBlockSize": 1000}))
	first := readChunk(t, b, st.StreamID, -1, 0)
	head, _ := base64.StdEncoding.DecodeString(first.Chunk)
	_, out := b.ReadStreamAll(mustJSON(t, map[string]any{"streamId": st.StreamID}))
	rest := decode[Response](t, out)
	if rest.Status != 200 {
		t.Fatalf("readStreamAll: %+v", rest)
	}
	if got := append(head, dataURLBytes(t, rest.Body)...); !bytes.Equal(got, pattern(200000)) {
		t.Fatalf("head %d + rest differ", len(head))
	}
	assertNoLeftovers(t, b)
}

func TestPausedConsumerGetsEveryByte(t *testing.T) {
	b := New()
	s := testServers(t)
	const n = 8 << 20
	st := startStream(t, b, req(s.H2+"/bytes?n=8388608", map[string]any{"streamBufferChunks": 2, "timeoutMilliseconds": -1}))
	first := readChunk(t, b, st.StreamID, -1, 0)
	head, _ := base64.StdEncoding.DecodeString(first.Chunk)
	// Longer than any timeout inside the library would be: there is none,
	// the pump just waits.
	time.Sleep(3 * time.Second)
	rest := drain(t, b, st.StreamID, 30*time.Second)
	if got := append(head, rest...); !bytes.Equal(got, pattern(n)) {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestStreamErrorIsExplicit(t *testing.T) {
	b := New()
	s := testServers(t)
	for name, base := range map[string]string{"http1": s.HTTP, "h2": s.H2} {
		t.Run(name, func(t *testing.T) {
			st := startStream(t, b, req(base+"/truncate?declared=100000&send=5000", nil))
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				c := readChunk(t, b, st.StreamID, 1000, 0)
				if c.EOF {
					t.Fatal("truncated body reported as EOF")
				}
				if c.Error != "" {
					if c.ErrorCode != CodeDataLoss {
						t.Fatalf("error code %q (%s)", c.ErrorCode, c.Error)
					}
					return
				}
			}
			t.Fatal("no error for a truncated body")
		})
	}
}

func TestStreamOutputPathIsExactAndStartsOver(t *testing.T) {
	b := New()
	s := testServers(t)
	path := filepath.Join(t.TempDir(), "out.bin")
	if err := os.WriteFile(path, bytes.Repeat([]byte("old"), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		out := doRequest(t, b, req(s.H2+"/bytes?n=70000", map[string]any{"streamOutputPath": path}))
		if out.Status != 200 || out.BodyBytes != 70000 {
			t.Fatalf("attempt %d: %+v", attempt, out)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, pattern(70000)) {
			t.Fatalf("attempt %d: file has %d bytes (%v)", attempt, len(got), err)
		}
	}
	// Text mode writes the same exact bytes (upstream transcoded them).
	out := doRequest(t, b, req(s.HTTP+"/bytes?n=1024", map[string]any{"streamOutputPath": path, "isByteResponse": false}))
	if got, _ := os.ReadFile(path); out.Status != 200 || !bytes.Equal(got, pattern(1024)) {
		t.Fatalf("text mode file: %d bytes", len(got))
	}
}

func TestTimeouts(t *testing.T) {
	b := New()
	s := testServers(t)
	saved := tls_client.DefaultTimeoutSeconds
	tls_client.DefaultTimeoutSeconds = 1
	defer func() { tls_client.DefaultTimeoutSeconds = saved }()

	slow := s.H2 + "/slowbody?delay_ms=1800"
	if out := doRequest(t, b, req(slow, nil)); out.ErrorCode != CodeTimeout {
		t.Fatalf("default deadline not applied: %+v", out)
	}
	if out := doRequest(t, b, req(slow, map[string]any{"timeoutMilliseconds": -1})); out.Status != 200 {
		t.Fatalf("negative timeout: %+v", out)
	}
	start := time.Now()
	out := doRequest(t, b, req(s.H2+"/slow?delay_ms=5000", map[string]any{"timeoutMilliseconds": 300}))
	if out.ErrorCode != CodeTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("positive timeout: %+v after %s", out, time.Since(start))
	}
	// The deadline is per call: the same session serves a longer one next.
	if out := doRequest(t, b, req(s.H2+"/slow?delay_ms=500", map[string]any{"timeoutMilliseconds": 3000})); out.Status != 200 {
		t.Fatalf("same session, longer deadline: %+v", out)
	}
}

func TestSSLKeyLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	t.Setenv("SSLKEYLOGFILE", path)
	keyLogOnce = sync.Once{}
	keyLogWriter = nil
	defer func() { keyLogOnce = sync.Once{}; keyLogWriter = nil }()
	b := New()
	if out := doRequest(t, b, req(testServers(t).H2+"/bytes?n=1", map[string]any{"sessionId": "keylog"})); out.Status != 200 {
		t.Fatalf("%+v", out)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "CLIENT_HANDSHAKE_TRAFFIC_SECRET") && !strings.Contains(string(data), "CLIENT_RANDOM") {
		t.Fatalf("no key lines in %q", data)
	}
}

func TestBadInputGivesErrorEnvelopes(t *testing.T) {
	b := New()
	s := testServers(t)
	cases := []struct {
		name, payload, code, fragment string
	}{
		{"malformed", `{"requestUrl": `, CodeInvalidInput, "unexpected end of JSON input"},
		{"empty", ``, CodeInvalidInput, "unexpected end of JSON input"},
		{"wrong type", `{"requestUrl": 5}`, CodeInvalidInput, "cannot unmarshal"},
		{"missing url", `{"requestMethod": "GET"}`, CodeInvalidInput, "no request url"},
		{"missing method", `{"requestUrl": "` + s.HTTP + `/"}`, CodeInvalidInput, "no request url"},
		{"scheme", `{"requestMethod": "GET", "requestUrl": "ftp://127.0.0.1/x"}`, CodeUnsupportedScheme, "ftp"},
		{"unparsable", `{"requestMethod": "GET", "requestUrl": "ht!tp://bad url"}`, CodeInvalidURL, "failed to create request object"},
		{"profile", `{"requestMethod": "GET", "requestUrl": "` + s.HTTP + `/", "tlsClientIdentifier": "chrome_15O"}`, CodeUnknownProfile, "close matches: chrome_150"},
		{"both timeouts", `{"requestMethod": "GET", "requestUrl": "` + s.HTTP + `/", "timeoutSeconds": 1, "timeoutMilliseconds": 1}`, CodeInvalidInput, "only one"},
		{"bad base64", `{"requestMethod": "POST", "requestUrl": "` + s.HTTP + `/", "isByteRequest": true, "requestBody": "%%%"}`, CodeInvalidInput, "base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, out := b.Request([]byte(tc.payload))
			r := decode[Response](t, out)
			if r.Status != 0 || r.ErrorCode != tc.code || !strings.Contains(r.Body, tc.fragment) || r.ID == "" {
				t.Fatalf("got %+v", r)
			}
		})
	}
	for name, fn := range map[string]func([]byte) (string, []byte){"readStream": b.ReadStream, "cancelStream": b.CancelStream, "readStreamAll": b.ReadStreamAll, "destroySession": b.DestroySession} {
		_, out := fn([]byte("{bad"))
		if r := decode[Response](t, out); r.ErrorCode != CodeInvalidInput {
			t.Fatalf("%s: %+v", name, r)
		}
	}
}

func TestSessionRefusesDifferentClientOptions(t *testing.T) {
	b := New()
	s := testServers(t)
	if out := doRequest(t, b, req(s.HTTP+"/bytes?n=1", map[string]any{"sessionId": "fixed", "tlsClientIdentifier": "firefox_147"})); out.Status != 200 {
		t.Fatalf("%+v", out)
	}
	out := doRequest(t, b, req(s.HTTP+"/bytes?n=1", map[string]any{"sessionId": "fixed", "tlsClientIdentifier": "chrome_150"}))
	if out.ErrorCode != CodeInvalidInput || !strings.Contains(out.Body, "different client options") {
		t.Fatalf("%+v", out)
	}
}

func TestDebugLogTravelsInTheEnvelope(t *testing.T) {
	b := New()
	out := doRequest(t, b, req(testServers(t).HTTP+"/bytes?n=3", map[string]any{"withDebug": true}))
	if len(out.DebugLog) == 0 || !strings.Contains(strings.Join(out.DebugLog, "\n"), "/bytes?n=3") {
		t.Fatalf("debug log %v", out.DebugLog)
	}
}

func TestDestroyAllReleasesEverything(t *testing.T) {
	b := New()
	s := testServers(t)
	for i := 0; i < 3; i++ {
		startStream(t, b, req(s.H2+"/sse?events=0&interval_ms=50", map[string]any{"sessionId": fmt.Sprint("s", i)}))
	}
	waiting := make(chan Response, 1)
	go func() { waiting <- doRequest(t, b, req(s.HTTP+"/slow?delay_ms=10000", nil)) }()
	time.Sleep(200 * time.Millisecond)
	b.DestroyAll()
	select {
	case r := <-waiting:
		if r.ErrorCode != CodeCancelled {
			t.Fatalf("in-flight request: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("destroyAll did not end the in-flight request")
	}
	_, out := b.GetStats()
	if st := decode[Stats](t, out); st.StreamsOpen != 0 || st.CallsInFlight != 0 || st.Sessions != 0 || st.StreamsOpened != st.StreamsClosed {
		t.Fatalf("after destroyAll: %+v", st)
	}
}

func TestCookiesExports(t *testing.T) {
	b := New()
	s := testServers(t)
	in := req(s.HTTP+"/cookies", map[string]any{"sessionId": "jar"})
	if out := doRequest(t, b, in); out.Cookies["a"] != "1" || len(out.Headers["Set-Cookie"]) != 2 {
		t.Fatalf("%+v", out)
	}
	_, out := b.GetCookiesFromSession(mustJSON(t, map[string]any{"sessionId": "jar", "url": s.HTTP + "/"}))
	if got := decode[cookiesOutput](t, out); len(got.Cookies) != 2 {
		t.Fatalf("%s", out)
	}
	_, out = b.GetCookiesFromSession(mustJSON(t, map[string]any{"sessionId": "nope", "url": s.HTTP}))
	if r := decode[Response](t, out); r.ErrorCode != CodeUnknownSession {
		t.Fatalf("%s", out)
	}
}

func TestInfoListsProfilesAndDefault(t *testing.T) {
	_, out := New().GetInfo()
	info := decode[Info](t, out)
	if info.DefaultProfile != "chrome_150" || len(info.Profiles) < 80 || info.TLSClientVersion == "" {
		t.Fatalf("%+v", info)
	}
}

func TestPrefetchReturnsSmallBodiesInOneCall(t *testing.T) {
	b := New()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			in := req(base+"/bytes?n=3000", map[string]any{"prefetchBytes": 65536, "prefetchTimeoutMs": 2000})
			_, out := b.RequestStream(mustJSON(t, in))
			r := decode[Response](t, out)
			if !r.EOF || r.StreamID != "" || !bytes.Equal(dataURLBytes(t, r.Body), pattern(3000)) {
				t.Fatalf("eof %v stream %q body %d", r.EOF, r.StreamID, r.BodyBytes)
			}
			assertNoLeftovers(t, b)
		})
	}
}

func TestPrefetchLeavesTheRestToReadStream(t *testing.T) {
	b := New()
	s := testServers(t)
	in := req(s.H2+"/bytes?n=1000000", map[string]any{"prefetchBytes": 10000, "prefetchTimeoutMs": 2000})
	_, out := b.RequestStream(mustJSON(t, in))
	r := decode[Response](t, out)
	head := dataURLBytes(t, r.Body)
	if r.EOF || r.StreamID == "" || len(head) < 10000 {
		t.Fatalf("eof %v stream %q head %d", r.EOF, r.StreamID, len(head))
	}
	if got := append(head, drain(t, b, r.StreamID, 20*time.Second)...); !bytes.Equal(got, pattern(1000000)) {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestPrefetchIsBoundedInTimeAndReportsBodyErrors(t *testing.T) {
	b := New()
	s := testServers(t)
	start := time.Now()
	in := req(s.HTTP+"/slowbody?delay_ms=3000", map[string]any{"prefetchBytes": 10000, "prefetchTimeoutMs": 100})
	_, out := b.RequestStream(mustJSON(t, in))
	r := decode[Response](t, out)
	if elapsed := time.Since(start); elapsed > time.Second || r.StreamID == "" || r.EOF || r.BodyBytes != 0 {
		t.Fatalf("after %s: %+v", elapsed, r)
	}
	b.CancelStream(mustJSON(t, map[string]any{"streamId": r.StreamID}))

	in = req(s.HTTP+"/truncate?declared=5000&send=100", map[string]any{"prefetchBytes": 10000, "prefetchTimeoutMs": 2000})
	_, out = b.RequestStream(mustJSON(t, in))
	r = decode[Response](t, out)
	if r.BodyErrorCode != CodeDataLoss || r.StreamID != "" || len(dataURLBytes(t, r.Body)) != 100 {
		t.Fatalf("truncated: %+v", r)
	}
	assertNoLeftovers(t, b)
}

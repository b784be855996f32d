package testserver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrapy-tlsclient/native/testserver"
)

var (
	goodAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pass"))
	badAuth  = "Basic " + base64.StdEncoding.EncodeToString([]byte("user:nope"))
)

// hostPort returns the host:port of a base URL.
func hostPort(base string) string {
	_, hp, _ := strings.Cut(base, "://")
	return hp
}

// viaProxy returns a client that reaches every URL through the proxy,
// authenticating as user if not nil.
func viaProxy(t *testing.T, s *testserver.Servers, proxy string, user *url.Userinfo) *http.Client {
	t.Helper()
	u, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	u.User = user
	tr := &http.Transport{
		Proxy:             http.ProxyURL(u),
		TLSClientConfig:   &tls.Config{RootCAs: s.CertPool()},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       testTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkEntries compares the proxy log with want, ignoring the error
// messages except that failures must have one.
func checkEntries(t *testing.T, s *testserver.Servers, want ...testserver.ProxyEntry) {
	t.Helper()
	got := s.ProxyEntries()
	for i := range got {
		// Forwarded statuses other than 200 come from the origin.
		failed, known := got[i].Status != 0, true
		if got[i].Proxy != "socks5" {
			switch got[i].Status {
			case 400, 407, 502:
				failed = true
			case 200:
				failed = false
			default:
				known = false
			}
		}
		if known && failed != (got[i].Error != "") {
			t.Errorf("entry %d: status %d with error %q", i, got[i].Status, got[i].Error)
		}
		got[i].Error = ""
	}
	if want == nil {
		want = []testserver.ProxyEntry{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("proxy log\n %+v\nwant\n %+v", got, want)
	}
}

// headerValues returns the values of the echoed header name.
func headerValues(e testserver.EchoReply, name string) []string {
	var values []string
	for _, f := range e.Headers {
		if strings.EqualFold(f[0], name) {
			values = append(values, f[1])
		}
	}
	return values
}

func TestProxies(t *testing.T) {
	s := start(t)
	user := url.UserPassword("user", "pass")
	wrong := url.UserPassword("user", "nope")
	https, plain, h2 := hostPort(s.HTTPS), hostPort(s.HTTP), hostPort(s.H2)
	localhost := "localhost:" + strings.Split(https, ":")[1]
	type entry = testserver.ProxyEntry
	cases := []struct {
		name    string
		proxy   string
		user    *url.Userinfo
		url     string
		header  http.Header
		wantErr bool // the request fails; else it gets status
		status  int
		proto   int // expected HTTP major version of the response
		entry   entry
	}{
		{name: "connect https", proxy: s.Proxy, url: s.HTTPS + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "proxy", Method: "CONNECT", Target: https, Status: 200}},
		{name: "connect h2", proxy: s.Proxy, url: s.H2 + "/echo", status: 200, proto: 2,
			entry: entry{Proxy: "proxy", Method: "CONNECT", Target: h2, Status: 200}},
		{name: "forward get", proxy: s.Proxy, url: s.HTTP + "/echo?a=1", status: 200, proto: 1,
			header: http.Header{"Proxy-Authorization": {goodAuth}},
			entry:  entry{Proxy: "proxy", Method: "GET", Target: s.HTTP + "/echo?a=1", ProxyAuthorization: goodAuth, Status: 200}},
		{name: "forward status", proxy: s.Proxy, url: s.HTTP + "/status/404", status: 404, proto: 1,
			entry: entry{Proxy: "proxy", Method: "GET", Target: s.HTTP + "/status/404", Status: 404}},
		{name: "forward post", proxy: s.Proxy, url: s.HTTP + "/echo", status: 200, proto: 1,
			header: http.Header{"X-Method": {"POST"}},
			entry:  entry{Proxy: "proxy", Method: "POST", Target: s.HTTP + "/echo", Status: 200}},
		{name: "connect refused", proxy: s.Proxy, url: "https://127.0.0.1:1/", wantErr: true,
			entry: entry{Proxy: "proxy", Method: "CONNECT", Target: "127.0.0.1:1", Status: 502}},
		{name: "forward refused", proxy: s.Proxy, url: "http://127.0.0.1:1/", status: 502, proto: 1,
			entry: entry{Proxy: "proxy", Method: "GET", Target: "http://127.0.0.1:1/", Status: 502}},

		{name: "auth connect without credentials", proxy: s.ProxyAuth, url: s.HTTPS + "/echo", wantErr: true,
			entry: entry{Proxy: "proxy_auth", Method: "CONNECT", Target: https, Status: 407}},
		{name: "auth get without credentials", proxy: s.ProxyAuth, url: s.HTTP + "/echo", status: 407, proto: 1,
			entry: entry{Proxy: "proxy_auth", Method: "GET", Target: s.HTTP + "/echo", Status: 407}},
		{name: "auth connect wrong credentials", proxy: s.ProxyAuth, user: wrong, url: s.HTTPS + "/echo", wantErr: true,
			entry: entry{Proxy: "proxy_auth", Method: "CONNECT", Target: https, ProxyAuthorization: badAuth, Status: 407}},
		{name: "auth get wrong credentials", proxy: s.ProxyAuth, user: wrong, url: s.HTTP + "/echo", status: 407, proto: 1,
			entry: entry{Proxy: "proxy_auth", Method: "GET", Target: s.HTTP + "/echo", ProxyAuthorization: badAuth, Status: 407}},
		{name: "auth connect", proxy: s.ProxyAuth, user: user, url: s.HTTPS + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "proxy_auth", Method: "CONNECT", Target: https, ProxyAuthorization: goodAuth, Status: 200}},
		{name: "auth get", proxy: s.ProxyAuth, user: user, url: s.HTTP + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "proxy_auth", Method: "GET", Target: s.HTTP + "/echo", ProxyAuthorization: goodAuth, Status: 200}},

		{name: "tls connect", proxy: s.ProxyTLS, url: s.HTTPS + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "proxy_tls", Method: "CONNECT", Target: https, Status: 200}},
		{name: "tls connect h2", proxy: s.ProxyTLS, url: s.H2 + "/echo", status: 200, proto: 2,
			entry: entry{Proxy: "proxy_tls", Method: "CONNECT", Target: h2, Status: 200}},
		{name: "tls get", proxy: s.ProxyTLS, url: s.HTTP + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "proxy_tls", Method: "GET", Target: s.HTTP + "/echo", Status: 200}},

		{name: "socks5 https", proxy: s.Socks5, url: s.HTTPS + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: https, Status: 0}},
		{name: "socks5 http", proxy: s.Socks5, url: s.HTTP + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: plain, Status: 0}},
		{name: "socks5 auth domain", proxy: s.Socks5, user: user, url: "https://" + localhost + "/echo", status: 200, proto: 1,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: localhost, SocksUser: "user", Status: 0}},
		{name: "socks5 auth h2", proxy: s.Socks5, user: user, url: s.H2 + "/echo", status: 200, proto: 2,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: h2, SocksUser: "user", Status: 0}},
		{name: "socks5 wrong credentials", proxy: s.Socks5, user: wrong, url: s.HTTPS + "/echo", wantErr: true,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", SocksUser: "user", Status: 1}},
		{name: "socks5 refused", proxy: s.Socks5, url: "http://127.0.0.1:1/", wantErr: true,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: "127.0.0.1:1", Status: 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearProxyLog()
			c := viaProxy(t, s, tc.proxy, tc.user)
			method, body := "GET", io.Reader(nil)
			if tc.header.Get("X-Method") == "POST" {
				method, body = "POST", strings.NewReader("payload")
			}
			req, err := http.NewRequest(method, tc.url, body)
			if err != nil {
				t.Fatal(err)
			}
			for name, values := range tc.header {
				req.Header[name] = values
			}
			resp, err := c.Do(req)
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want an error", resp.StatusCode)
				}
				checkEntries(t, s, tc.entry)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.ProtoMajor != tc.proto {
				t.Fatalf("%s %d %.200q, want HTTP/%d %d", resp.Proto, resp.StatusCode, data, tc.proto, tc.status)
			}
			if tc.status == http.StatusProxyAuthRequired {
				if got := resp.Header.Get("Proxy-Authenticate"); got != `Basic realm="test"` {
					t.Errorf("Proxy-Authenticate %q", got)
				}
			}
			if tc.status == 200 {
				e := decodeEcho(t, data)
				if e.Method != method || !strings.HasPrefix(tc.url, "http") || !strings.HasSuffix(tc.url, e.Path) {
					t.Errorf("echo %s %s for %s", e.Method, e.Path, tc.url)
				}
				// The proxy's credentials and hop-by-hop headers stay
				// with the proxy.
				for _, name := range []string{"Proxy-Authorization", "Proxy-Connection"} {
					if v := headerValues(e, name); v != nil {
						t.Errorf("the origin got %s: %q", name, v)
					}
				}
				if method == "POST" && e.BodyLen != int64(len("payload")) {
					t.Errorf("body length %d", e.BodyLen)
				}
			}
			checkEntries(t, s, tc.entry)
		})
	}
}

// TestForwardHeaders checks what the proxy changes in a forwarded request.
func TestForwardHeaders(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		name  string
		proxy string
		auth  string
	}{
		{"proxy", s.Proxy, ""},
		{"proxy_auth", s.ProxyAuth, goodAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearProxyLog()
			conn := dialRaw(t, s, target{tc.name, tc.proxy, 1})
			br := bufio.NewReader(conn)
			head := "GET " + s.HTTP + "/echo HTTP/1.1\r\nHost: " + hostPort(s.HTTP) + "\r\n" +
				"X-First: 1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: gone\r\nProxy-Connection: keep-alive\r\n" +
				"Keep-Alive: timeout=5\r\nTe: trailers\r\nProxy-Authorization: " + goodAuth + "\r\nX-Last: 2\r\n\r\n"
			// Twice on one connection: the proxy keeps it alive.
			for i := range 2 {
				write(t, conn, head)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %v", i, resp.StatusCode, err)
				}
				e := decodeEcho(t, data)
				var names []string
				for _, f := range e.Headers {
					names = append(names, strings.ToLower(f[0]))
				}
				// No User-Agent or Accept-Encoding is added either.
				if want := []string{"host", "x-first", "x-last"}; !sameSet(names, want) {
					t.Errorf("request %d: the origin got %q, want %q", i, e.Headers, want)
				}
			}
			want := testserver.ProxyEntry{Proxy: tc.name, Method: "GET", Target: s.HTTP + "/echo", ProxyAuthorization: goodAuth, Status: 200}
			checkEntries(t, s, want, want)
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestForwardStreams checks that forwarded bodies are streamed and that a
// truncated origin response reaches the client truncated.
func TestForwardStreams(t *testing.T) {
	s := start(t)
	c := viaProxy(t, s, s.Proxy, nil)

	resp, err := c.Get(s.HTTP + "/sse?events=0&interval_ms=10")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil || line != "id: 0\n" {
		t.Errorf("first SSE line %q, %v", line, err)
	}

	resp, err = c.Get(s.HTTP + "/truncate?declared=100&send=50")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(data) > 50 {
		t.Errorf("truncated body: %d bytes, %v", len(data), err)
	}
}

// TestConnectRaw tunnels plain HTTP, as tls-client does for http:// URLs,
// and checks the answers of the HTTP proxies to CONNECT byte for byte.
func TestConnectRaw(t *testing.T) {
	s := start(t)
	origin := hostPort(s.HTTP)
	for _, tc := range []struct {
		name   string
		proxy  string
		auth   string // Proxy-Authorization of the CONNECT
		target string
		status int
	}{
		{"proxy", s.Proxy, "", origin, 200},
		{"proxy with credentials", s.Proxy, goodAuth, origin, 200},
		{"proxy_auth", s.ProxyAuth, goodAuth, origin, 200},
		{"proxy_auth lowercase scheme", s.ProxyAuth, "basic " + strings.Fields(goodAuth)[1], origin, 200},
		{"proxy_auth without credentials", s.ProxyAuth, "", origin, 407},
		{"proxy_auth wrong credentials", s.ProxyAuth, badAuth, origin, 407},
		{"proxy_auth not basic", s.ProxyAuth, "Bearer x", origin, 407},
		{"proxy_tls", s.ProxyTLS, "", origin, 200},
		{"closed port", s.Proxy, "", "127.0.0.1:1", 502},
		{"no port", s.Proxy, "", "127.0.0.1", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearProxyLog()
			conn := dialRaw(t, s, target{tc.name, tc.proxy, 1})
			connect := "CONNECT " + tc.target + " HTTP/1.1\r\nHost: " + tc.target + "\r\n"
			if tc.auth != "" {
				connect += "Proxy-Authorization: " + tc.auth + "\r\n"
			}
			connect += "\r\n"
			get := "GET /echo HTTP/1.1\r\nHost: origin\r\nX-B: 1\r\nx-a: 2\r\n\r\n"
			if tc.status == 200 {
				// Send the request through the tunnel without waiting
				// for the proxy's answer.
				write(t, conn, connect+get)
			} else {
				write(t, conn, connect)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			want := testserver.ProxyEntry{Proxy: "proxy", Method: "CONNECT", Target: tc.target, ProxyAuthorization: tc.auth, Status: tc.status}
			if tc.proxy == s.ProxyAuth {
				want.Proxy = "proxy_auth"
			} else if tc.proxy == s.ProxyTLS {
				want.Proxy = "proxy_tls"
			}
			checkEntries(t, s, want)
			if tc.status == 407 {
				if got := resp.Header.Get("Proxy-Authenticate"); got != `Basic realm="test"` {
					t.Errorf("Proxy-Authenticate %q", got)
				}
			}
			if tc.status != 200 {
				return
			}
			// Two requests on the tunnel, the second after the first.
			checkRawResponse(t, br, 0, [][2]string{{"Host", "origin"}, {"X-B", "1"}, {"x-a", "2"}})
			write(t, conn, "GET /echo HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n")
			checkRawResponse(t, br, 1, [][2]string{{"Host", "origin"}, {"Connection", "close"}})
			// The origin closed, so the proxy closes the tunnel.
			if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("tunnel still open after the origin closed: %d, %v", n, err)
			}
		})
	}
}

// socksDial opens a connection to the SOCKS5 proxy.
func socksDial(t *testing.T, s *testserver.Servers) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: testTimeout}
	conn, err := d.Dial("tcp", hostPort(s.Socks5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// socksAddr encodes ATYP, DST.ADDR and DST.PORT of host:port.
func socksAddr(t *testing.T, addr string) []byte {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if ip := net.ParseIP(host); ip == nil {
		b = append([]byte{3, byte(len(host))}, host...)
	} else if ip4 := ip.To4(); ip4 != nil {
		b = append([]byte{1}, ip4...)
	} else {
		b = append([]byte{4}, ip...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(p))
}

// echoListener accepts connections on addr and sends back what they send.
func echoListener(t *testing.T, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(testTimeout))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), nil
}

// TestSocks5Raw speaks SOCKS5 byte by byte, for what a client library does
// not send.
func TestSocks5Raw(t *testing.T) {
	s := start(t)
	echo4, err := echoListener(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo6, err6 := echoListener(t, "[::1]:0")
	echoName := "localhost:" + strings.Split(echo4, ":")[1]
	login := append([]byte{1, 4}, "user"...)
	login = append(append(login, 4), "pass"...)
	wrongLogin := append([]byte{1, 4}, "user"...)
	wrongLogin = append(append(wrongLogin, 4), "nope"...)
	type entry = testserver.ProxyEntry

	for _, tc := range []struct {
		name      string
		methods   []byte // offered authentication methods
		method    byte   // the method the proxy should choose
		login     []byte // RFC 1929 request, if method is 2
		authReply byte   // the RFC 1929 status
		cmd       byte
		addr      []byte // ATYP, DST.ADDR, DST.PORT; nil for socksAddr(target)
		target    string
		rep       byte // REP of the reply
		entry     entry
		needIPv6  bool
	}{
		{name: "ipv4 no auth", methods: []byte{0}, method: 0, cmd: 1, target: echo4, rep: 0,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: echo4}},
		{name: "domain password", methods: []byte{0, 2}, method: 2, login: login, cmd: 1, target: echoName, rep: 0,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: echoName, SocksUser: "user"}},
		{name: "ipv6", methods: []byte{2}, method: 2, login: login, cmd: 1, target: echo6, rep: 0, needIPv6: true,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: echo6, SocksUser: "user"}},
		{name: "wrong password", methods: []byte{2, 0}, method: 2, login: wrongLogin, authReply: 1,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", SocksUser: "user", Status: 1}},
		{name: "no acceptable method", methods: []byte{1}, method: 0xff,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Status: 255}},
		{name: "bind", methods: []byte{0}, method: 0, cmd: 2, target: echo4, rep: 7,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: echo4, Status: 7}},
		{name: "address type", methods: []byte{0}, method: 0, cmd: 1, addr: []byte{9, 0, 0}, rep: 8,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Status: 8}},
		{name: "refused", methods: []byte{0}, method: 0, cmd: 1, target: "127.0.0.1:1", rep: 5,
			entry: entry{Proxy: "socks5", Method: "SOCKS5", Target: "127.0.0.1:1", Status: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needIPv6 && err6 != nil {
				t.Skipf("no IPv6 loopback: %v", err6)
			}
			s.ClearProxyLog()
			conn := socksDial(t, s)
			br := bufio.NewReader(conn)
			expect := func(what string, want []byte) {
				t.Helper()
				got := make([]byte, len(want))
				if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s: % x, %v; want % x", what, got, err, want)
				}
			}
			expectEOF := func() {
				t.Helper()
				if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
					t.Errorf("connection still open: %d, %v", n, err)
				}
			}
			if _, err := conn.Write(append([]byte{5, byte(len(tc.methods))}, tc.methods...)); err != nil {
				t.Fatal(err)
			}
			expect("method", []byte{5, tc.method})
			if tc.method == 0xff {
				expectEOF()
				checkEntries(t, s, tc.entry)
				return
			}
			if tc.method == 2 {
				if _, err := conn.Write(tc.login); err != nil {
					t.Fatal(err)
				}
				expect("auth status", []byte{1, tc.authReply})
				if tc.authReply != 0 {
					expectEOF()
					checkEntries(t, s, tc.entry)
					return
				}
			}
			addr := tc.addr
			if addr == nil {
				addr = socksAddr(t, tc.target)
			}
			request := append([]byte{5, tc.cmd, 0}, addr...)
			if tc.rep == 0 {
				// Data right behind the request must not get lost.
				request = append(request, "early "...)
			}
			if _, err := conn.Write(request); err != nil {
				t.Fatal(err)
			}
			reply := make([]byte, 4)
			if _, err := io.ReadFull(br, reply); err != nil {
				t.Fatal(err)
			}
			if reply[0] != 5 || reply[1] != tc.rep || reply[2] != 0 {
				t.Fatalf("reply % x, want REP %d", reply, tc.rep)
			}
			bound := map[byte]int{1: 4 + 2, 4: 16 + 2}[reply[3]]
			if bound == 0 {
				t.Fatalf("reply address type %d", reply[3])
			}
			if _, err := io.ReadFull(br, make([]byte, bound)); err != nil {
				t.Fatal(err)
			}
			checkEntries(t, s, tc.entry)
			if tc.rep != 0 {
				expectEOF()
				return
			}
			if _, err := conn.Write([]byte("late")); err != nil {
				t.Fatal(err)
			}
			expect("echo", []byte("early late"))
			// Half-closing ends the tunnel.
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			expectEOF()
		})
	}
}

// TestProxyLogEndpoint reads and clears the log over HTTP.
func TestProxyLogEndpoint(t *testing.T) {
	s := start(t)
	c := client(t, s)
	resp, err := viaProxy(t, s, s.Proxy, nil).Get(s.HTTP + "/status/200")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []testserver.ProxyEntry{{Proxy: "proxy", Method: "GET", Target: s.HTTP + "/status/200", Status: 200}}

	getLog := func(tg target) (testserver.ProxyLogReply, []byte) {
		t.Helper()
		resp, body := do(t, c, tg, "GET", "/proxy-log", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var reply testserver.ProxyLogReply
		if err := json.Unmarshal(body, &reply); err != nil {
			t.Fatal(err)
		}
		return reply, body
	}
	for _, tg := range targets(s) {
		if reply, _ := getLog(tg); !reflect.DeepEqual(reply.Entries, want) {
			t.Errorf("%s: entries %+v, want %+v", tg.name, reply.Entries, want)
		}
	}
	var raw map[string][]map[string]any
	if _, body := getLog(targets(s)[0]); json.Unmarshal(body, &raw) != nil || len(raw["entries"]) != 1 {
		t.Fatalf("log %s", body)
	}
	keys := []string{}
	for k := range raw["entries"][0] {
		keys = append(keys, k)
	}
	if wantKeys := []string{"proxy", "method", "target", "proxy_authorization", "socks_user", "status", "error"}; !sameSet(keys, wantKeys) {
		t.Errorf("entry keys %q, want %q", keys, wantKeys)
	}

	plain := targets(s)[0]
	for _, tc := range []struct {
		method, path string
		status       int
		clears       bool
	}{
		{"PUT", "/proxy-log", 405, false},
		{"GET", "/proxy-log/clear", 405, false},
		{"DELETE", "/proxy-log", 204, true},
		{"POST", "/proxy-log/clear", 204, true},
	} {
		s.ClearProxyLog()
		resp, err := viaProxy(t, s, s.Proxy, nil).Get(s.HTTP + "/status/200")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp, _ := do(t, c, plain, tc.method, tc.path, nil, nil); resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		reply, body := getLog(plain)
		if cleared := len(reply.Entries) == 0; cleared != tc.clears {
			t.Errorf("%s %s: log %s", tc.method, tc.path, body)
		}
		if tc.clears && !bytes.Contains(body, []byte(`"entries":[]`)) {
			t.Errorf("empty log %s", body)
		}
	}

	// /echo keeps its wire headers on a connection that read the log.
	conn := dialRaw(t, s, plain)
	br := bufio.NewReader(conn)
	write(t, conn, "GET /proxy-log HTTP/1.1\r\nHost: a\r\n\r\nGET /echo HTTP/1.1\r\nHost: b\r\nX-Z: 1\r\n\r\n")
	checkRawResponse(t, br, 0, nil)
	checkRawResponse(t, br, 1, [][2]string{{"Host", "b"}, {"X-Z", "1"}})
}

// TestProxiesClose checks that Close ends tunnels and forwarded requests.
func TestProxiesClose(t *testing.T) {
	s, err := testserver.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	user := url.UserPassword("user", "pass")
	requests := []struct {
		proxy string
		user  *url.Userinfo
		url   string
	}{
		{s.Proxy, nil, s.HTTPS + "/stall?n=1"},
		{s.Proxy, nil, s.HTTP + "/stall?n=1"},
		{s.ProxyAuth, user, s.H2 + "/stall?n=1"},
		{s.ProxyTLS, nil, s.HTTPS + "/stall?n=1"},
		{s.ProxyTLS, nil, s.HTTP + "/stall?n=1"},
		{s.Socks5, user, s.HTTPS + "/stall?n=1"},
	}
	started := make(chan error, len(requests))
	errs := make(chan error, len(requests))
	for _, r := range requests {
		c := viaProxy(t, s, r.proxy, r.user)
		c.Timeout = 0 // Close must end the requests, not the timeout.
		go func() {
			resp, err := c.Get(r.url)
			started <- err
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	timeout := time.After(testTimeout)
	for range requests {
		select {
		case err := <-started:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("requests did not start")
		}
	}
	if n := len(s.ProxyEntries()); n != len(requests) {
		t.Errorf("%d entries for %d requests", n, len(requests))
	}
	closeEndsStalledRequests(t, s, errs, len(requests), timeout)
	for _, p := range []string{s.Proxy, s.ProxyAuth, s.ProxyTLS, s.Socks5} {
		if conn, err := net.DialTimeout("tcp", hostPort(p), testTimeout); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections", p)
		}
	}
}

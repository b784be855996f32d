package testserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The fault servers of [Start] misbehave on purpose, for tests of how a
// client copes: connections reset or closed at chosen points, bodies cut
// short, heads and bodies that stall, oversized and malformed heads, HTTP/2
// RST_STREAM and GOAWAY, TLS handshakes that fail or stall and proxies that
// refuse, demand credentials or drop the CONNECT. net/http cannot produce
// most of these, so they write raw bytes (HTTP/1.1) and raw frames (HTTP/2)
// on the connections they accept.
//
// Their base URLs are in [Servers].Faults.URLs and, as a JSON object, at
// /faults of the ordinary servers (the same map):
//
//	http           HTTP/1.1 in plain text; the fault is the request's path
//	https          the same over TLS (ALPN http/1.1)
//	h2             HTTP/2 over TLS (ALPN h2); the fault is the :path. A
//	               client that does not negotiate h2 gets the HTTP/1.1 faults.
//	tls_alert      TLS: answers the ClientHello with a handshake_failure alert
//	tls_close      TLS: closes the connection after the ClientHello
//	tls_reset      TLS: resets the connection after the ClientHello
//	tls_stall      TLS: never answers the ClientHello
//	tls_plaintext  TLS: answers the ClientHello with a plain HTTP/1.1 400
//	proxy_403      HTTP proxy: answers every request, CONNECT too, with 403
//	proxy_407      HTTP proxy: 407 with Proxy-Authenticate, whatever is sent
//	proxy_close    HTTP proxy: closes the connection without an answer
//	proxy_reset    HTTP proxy: resets the connection without an answer
//	proxy_stall    HTTP proxy: never answers
//	proxy_200_close HTTP proxy: answers 200 to CONNECT, then closes the tunnel
//
// HTTP/1.1 paths (the query values shown are the defaults; sizes are capped
// at 16 MiB):
//
//	/ok?n=100                     200 with n bytes of the /bytes pattern
//	/close-before-headers         closes after reading the request
//	/reset-before-headers         resets after reading the request
//	/reset-mid-headers            resets in the middle of a header line
//	/reset-mid-body?declared=100000&send=5000
//	                              Content-Length: declared, send bytes, reset
//	/truncate-length?declared=100000&send=5000
//	                              Content-Length: declared, send bytes, close
//	/truncate-chunked?send=5000   chunked, send bytes in 1000-byte chunks,
//	                              close without the last chunk
//	/bad-chunk?send=5000          chunked, send bytes, then a chunk-size line
//	                              that is no number, close
//	/close-delimited?send=5000    no Content-Length, no chunks: send, close
//	/slow-headers?interval_ms=100 a header byte every interval, no end
//	/stall-body?declared=100000&send=5000
//	                              Content-Length: declared, send bytes, stall
//	/huge-headers?size=1048576&line=1024
//	                              headers of about size bytes in lines of
//	                              about line bytes, then a 2-byte body "ok"
//	/bad-status-code              "HTTP/1.1 abc OK"
//	/bad-status-line              a status line without an HTTP version
//	/bad-header                   a header line without a colon
//	/bad-content-length           "Content-Length: abc"
//	/early-hints?n=8              n "103 Early Hints" heads, then a 200 "ok"
//	/content-length-list?list=5,5 "Content-Length: " and list (commas get a
//	                              space after them), then the 5 bytes "hello"
//
// HTTP/2 paths (h2), on stream s of the request:
//
//	/ok?n=100                      200 with n bytes
//	/rst-before-headers            RST_STREAM(INTERNAL_ERROR), no HEADERS
//	/rst-mid-body?declared=100000&send=5000
//	                               HEADERS with content-length declared,
//	                               send bytes of DATA, RST_STREAM(INTERNAL_ERROR)
//	/goaway-mid-body?code=2&declared=100000&send=5000
//	                               the same, then GOAWAY(last stream s, code)
//	                               and the connection closed
//	/reset-mid-body?declared=100000&send=5000
//	                               the same, then the TCP connection reset
//	/goaway-unanswered?last=below  GOAWAY(NO_ERROR) with last stream id 0
//	                               (the request refused unprocessed), or
//	                               with last=at, s (it may still be
//	                               answered); no answer, the connection
//	                               left open
//	/goaway-slow-answer?frames=4&interval_ms=1000
//	                               GOAWAY(NO_ERROR) with last stream id s,
//	                               then the answer "ok" in frames frames
//	                               (HEADERS, DATA "o", empty DATA ..., "k"
//	                               with END_STREAM), one every interval
//	/truncate?declared=100000&send=5000
//	                               content-length declared, send bytes, END_STREAM
//	/stall-body?declared=100000&send=5000
//	                               content-length declared, send bytes, stall
//	/slow-headers                  HEADERS without END_HEADERS, no CONTINUATION
//	/huge-headers?size=1048576&line=1024
//	                               a header block of about size bytes in
//	                               HEADERS and CONTINUATION frames, then "ok"
//	/bad-status                    ":status: abc"
//	/no-status                     a header block without :status
//	/early-hints?n=8               n 103 heads, then a 200 "ok"
//	/content-length-list?list=5,5  content-length: list (as for HTTP/1.1),
//	                               then the 5 bytes "hello"
//
// Every connection lives at most faultConnLife; stalls end when the client
// leaves, the connection's time is up or the servers close. Mid-stream
// resets and closes wait faultResetDelay after the last bytes sent, so that
// the client has read them.

const (
	faultConnLife    = 30 * time.Second
	faultHeadLimit   = 64 << 10
	faultHeadTimeout = 10 * time.Second
	faultMaxSize     = 16 << 20
	faultResetDelay  = 300 * time.Millisecond
	faultMaxFrames   = 10000
	faultStallDrain  = 1 << 20 // bytes read from a stalled client at most
	// faultMaxEarlyHints is enough 103 heads (about 60 bytes each over
	// HTTP/1.1, 120 counted over HTTP/2) to pass the 10 MiB a client holds
	// all heads of one response to, so that the bound can be shown.
	faultMaxEarlyHints  = 1 << 18
	faultEarlyHintsLink = "Link: </style.css>; rel=preload; as=style"
)

// FaultServers are the running fault servers.
type FaultServers struct {
	// URLs maps the names above to base URLs, like http://127.0.0.1:PORT.
	URLs map[string]string

	listeners []*faultListener
}

// faultListener accepts connections and hands each to serve.
type faultListener struct {
	ln      net.Listener
	serve   func(ctx context.Context, c net.Conn)
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
	tracked tracker
}

// startFaultServers starts every fault server on 127.0.0.1; the TLS ones
// present cert.
func startFaultServers(cert tls.Certificate) (*FaultServers, error) {
	f := &FaultServers{URLs: map[string]string{}}
	h1TLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	h2TLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	specs := []struct {
		name, scheme string
		serve        func(context.Context, net.Conn)
	}{
		{"http", "http", func(ctx context.Context, c net.Conn) { serveH1Fault(ctx, c, c) }},
		{"https", "https", func(ctx context.Context, c net.Conn) { serveTLSFault(ctx, c, h1TLS) }},
		{"h2", "https", func(ctx context.Context, c net.Conn) { serveTLSFault(ctx, c, h2TLS) }},
	}
	for _, mode := range []string{"alert", "close", "reset", "stall", "plaintext"} {
		specs = append(specs, struct {
			name, scheme string
			serve        func(context.Context, net.Conn)
		}{"tls_" + mode, "https", func(ctx context.Context, c net.Conn) { serveHandshakeFault(ctx, c, mode) }})
	}
	for _, mode := range []string{"403", "407", "close", "reset", "stall", "200_close"} {
		specs = append(specs, struct {
			name, scheme string
			serve        func(context.Context, net.Conn)
		}{"proxy_" + mode, "http", func(ctx context.Context, c net.Conn) { serveProxyFault(ctx, c, mode) }})
	}
	for _, spec := range specs {
		l, err := listenFault(spec.serve)
		if err != nil {
			f.close()
			return nil, err
		}
		f.listeners = append(f.listeners, l)
		f.URLs[spec.name] = spec.scheme + "://" + l.ln.Addr().String()
	}
	return f, nil
}

// close stops the listeners, ends every connection and waits for their
// goroutines. It accepts a nil receiver.
func (f *FaultServers) close() {
	if f == nil {
		return
	}
	for _, l := range f.listeners {
		l.close()
	}
}

func listenFault(serve func(context.Context, net.Conn)) (*faultListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &faultListener{ln: ln, serve: serve, ctx: ctx, stop: stop, done: make(chan struct{})}
	go l.run()
	return l, nil
}

func (l *faultListener) run() {
	defer close(l.done)
	l.tracked.serve(l.ctx, l.ln, func(c net.Conn) {
		defer c.Close()
		// The connection's time is up at faultConnLife at the latest.
		ctx, cancel := context.WithTimeout(l.ctx, faultConnLife)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		defer stop()
		l.serve(ctx, c)
	})
}

func (l *faultListener) close() {
	l.stop()
	_ = l.ln.Close()
	<-l.done
	l.tracked.close()
}

// withFaultIndex serves the fault servers' URLs as JSON at /faults next to
// the endpoints of next.
func withFaultIndex(f *FaultServers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/faults" {
			next.ServeHTTP(w, r)
			return
		}
		urls := map[string]string{}
		if f != nil {
			urls = f.URLs
		}
		writeJSON(w, urls)
	})
}

// -- connection helpers -------------------------------------------------------

// faultTCP returns the TCP connection under c.
func faultTCP(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// faultReset closes c's TCP connection with a RST (SO_LINGER 0), without a
// TLS close_notify.
func faultReset(c net.Conn) {
	raw := faultTCP(c)
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// faultClose closes c's TCP connection with a FIN, without a TLS
// close_notify, like a server that crashed.
func faultClose(c net.Conn) {
	_ = faultTCP(c).Close()
}

// faultWaitForClient reads and discards what the client sends until it closes
// the connection or the connection's time is up (which closes it); a stall.
func faultWaitForClient(c net.Conn) {
	_, _ = io.Copy(io.Discard, io.LimitReader(c, faultStallDrain))
}

// pause waits d, or less if ctx ends; it reports whether d passed.
func faultPause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// faultReadHead reads an HTTP/1.1 request head and returns its request line.
func faultReadHead(br *bufio.Reader) (string, error) {
	var first string
	total := 0
	for i := 0; ; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		total += len(line)
		if total > faultHeadLimit || i > 1000 {
			return "", errors.New("request head too large")
		}
		text := strings.TrimRight(string(line), "\r\n")
		if i == 0 {
			first = text
			continue
		}
		if text == "" {
			return first, nil
		}
	}
}

// faultQuery holds a request's path and query values.
type faultQuery struct {
	path  string
	query url.Values
}

func faultTarget(target string) faultQuery {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return faultQuery{path: target}
	}
	return faultQuery{path: u.Path, query: u.Query()}
}

// size returns the query value name as a size in [0, faultMaxSize].
func (q faultQuery) size(name string, def int) int {
	n, err := strconv.Atoi(q.query.Get(name))
	if err != nil {
		return def
	}
	return min(max(n, 0), faultMaxSize)
}

// contentLengthList is the list query value as a Content-Length value:
// "5,5" becomes "5, 5"; "5, 5" where absent.
func (q faultQuery) contentLengthList() string {
	list := q.query.Get("list")
	if list == "" {
		list = "5,5"
	}
	return strings.ReplaceAll(list, ",", ", ")
}

// payload returns n bytes of the /bytes pattern: byte i is i%256.
func faultPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// -- HTTP/1.1 -----------------------------------------------------------------

// serveTLSFault completes the handshake on c and serves the faults of the
// negotiated protocol.
func serveTLSFault(ctx context.Context, c net.Conn, config *tls.Config) {
	tc := tls.Server(c, config)
	hctx, cancel := context.WithTimeout(ctx, faultHeadTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		serveH2Fault(ctx, tc)
		return
	}
	serveH1Fault(ctx, tc, c)
}

// serveH1Fault reads one request from c and answers with the fault its
// path names. raw is the TCP connection under c.
func serveH1Fault(ctx context.Context, c, raw net.Conn) {
	_ = raw.SetReadDeadline(time.Now().Add(faultHeadTimeout))
	br := bufio.NewReader(c)
	line, err := faultReadHead(br)
	if err != nil {
		return
	}
	_ = raw.SetReadDeadline(time.Time{})
	parts := strings.Fields(line)
	if len(parts) != 3 {
		return
	}
	q := faultTarget(parts[1])
	bw := bufio.NewWriter(c)
	send := func(s string, body ...[]byte) bool {
		_, _ = bw.WriteString(s)
		for _, b := range body {
			_, _ = bw.Write(b)
		}
		return bw.Flush() == nil
	}
	declared, sent := q.size("declared", 100000), q.size("send", 5000)
	lengthHead := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", declared)

	switch q.path {
	case "/ok":
		n := q.size("n", 100)
		send(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n), faultPayload(n))
		faultClose(c)
	case "/close-before-headers":
		faultClose(c)
	case "/reset-before-headers":
		faultReset(c)
	case "/reset-mid-headers":
		if send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Partial: abc") {
			faultPause(ctx, faultResetDelay)
		}
		faultReset(c)
	case "/reset-mid-body":
		if send(lengthHead, faultPayload(sent)) {
			faultPause(ctx, faultResetDelay)
		}
		faultReset(c)
	case "/truncate-length":
		if send(lengthHead, faultPayload(sent)) {
			faultPause(ctx, faultResetDelay)
		}
		faultClose(c)
	case "/truncate-chunked":
		if sendChunked(send, faultPayload(sent)) {
			faultPause(ctx, faultResetDelay)
		}
		faultClose(c)
	case "/bad-chunk":
		// Good chunks, then a chunk-size line that is no number.
		if sendChunked(send, faultPayload(sent)) && send("zz\r\n") {
			faultPause(ctx, faultResetDelay)
		}
		faultClose(c)
	case "/close-delimited":
		// Neither Content-Length nor chunks: the close ends the body.
		if send("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n", faultPayload(sent)) {
			faultPause(ctx, faultResetDelay)
		}
		faultClose(c)
	case "/slow-headers":
		interval := time.Duration(q.size("interval_ms", 100)) * time.Millisecond
		interval = max(interval, time.Millisecond)
		if !send("HTTP/1.1 200 OK\r\nX-Slow: ") {
			return
		}
		for i := 0; i < int(faultConnLife/interval); i++ {
			if !faultPause(ctx, interval) || !send("a") {
				return
			}
		}
	case "/stall-body":
		if send(lengthHead, faultPayload(sent)) {
			faultWaitForClient(c)
		}
	case "/huge-headers":
		size, lineLen := q.size("size", 1<<20), max(q.size("line", 1024), 16)
		var head bytes.Buffer
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n")
		for i := 0; head.Len() < size; i++ {
			name := fmt.Sprintf("X-Huge-%d: ", i)
			head.WriteString(name)
			head.Write(bytes.Repeat([]byte("h"), max(lineLen-len(name)-2, 1)))
			head.WriteString("\r\n")
		}
		head.WriteString("\r\nok")
		send(head.String())
		faultClose(c)
	case "/bad-status-code":
		send("HTTP/1.1 abc OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		faultClose(c)
	case "/bad-status-line":
		send("HELLO\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		faultClose(c)
	case "/bad-header":
		send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nThis line has no colon\r\nConnection: close\r\n\r\nok")
		faultClose(c)
	case "/bad-content-length":
		send("HTTP/1.1 200 OK\r\nContent-Length: abc\r\nConnection: close\r\n\r\nok")
		faultClose(c)
	case "/early-hints":
		for range min(q.size("n", 8), faultMaxEarlyHints) {
			_, _ = bw.WriteString("HTTP/1.1 103 Early Hints\r\n" + faultEarlyHintsLink + "\r\n\r\n")
		}
		send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		faultClose(c)
	case "/content-length-list":
		send("HTTP/1.1 200 OK\r\nContent-Length: " + q.contentLengthList() + "\r\nConnection: close\r\n\r\nhello")
		faultClose(c)
	default:
		send("HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\nConnection: close\r\n\r\nunknown fault")
		faultClose(c)
	}
}

// -- HTTP/2 -------------------------------------------------------------------

// serveH2Fault speaks HTTP/2 on c and answers each request with the fault
// its :path names, one at a time.
func serveH2Fault(ctx context.Context, c *tls.Conn) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = faultHeadLimit
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	encode := func(fields ...string) []byte {
		block.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return append([]byte(nil), block.Bytes()...)
	}
	if fr.WriteSettings() != nil {
		return
	}
	for range faultMaxFrames {
		frame, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := frame.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.PingFrame:
			if !f.IsAck() && fr.WritePing(true, f.Data) != nil {
				return
			}
		case *http2.GoAwayFrame:
			return
		case *http2.MetaHeadersFrame:
			if !h2Fault(ctx, c, fr, encode, f.StreamID, faultTarget(f.PseudoValue("path"))) {
				return
			}
		}
	}
}

// h2Fault answers stream id with the fault q names; false when the
// connection is done.
func h2Fault(ctx context.Context, c *tls.Conn, fr *http2.Framer, encode func(...string) []byte, id uint32, q faultQuery) bool {
	declared, sent := q.size("declared", 100000), q.size("send", 5000)
	headers := func(block []byte, endStream bool) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: endStream, EndHeaders: true})
	}
	// data sends b in frames of the default maximum frame size.
	data := func(b []byte, endStream bool) error {
		for first := true; first || len(b) > 0; first = false {
			n := min(len(b), 16384)
			if err := fr.WriteData(id, endStream && n == len(b), b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
	// partial sends the head announcing declared bytes and sent of them.
	partial := func(endStream bool) bool {
		return headers(encode(":status", "200", "content-length", strconv.Itoa(declared)), false) == nil &&
			data(faultPayload(sent), endStream) == nil
	}

	switch q.path {
	case "/ok":
		n := min(q.size("n", 100), 65535) // within the initial flow-control window
		return headers(encode(":status", "200", "content-length", strconv.Itoa(n)), false) == nil &&
			data(faultPayload(n), true) == nil
	case "/rst-before-headers":
		return fr.WriteRSTStream(id, http2.ErrCodeInternal) == nil
	case "/rst-mid-body":
		if !partial(false) || !faultPause(ctx, faultResetDelay) {
			return false
		}
		return fr.WriteRSTStream(id, http2.ErrCodeInternal) == nil
	case "/goaway-mid-body":
		code := http2.ErrCode(q.size("code", int(http2.ErrCodeInternal)))
		if partial(false) && faultPause(ctx, faultResetDelay) {
			_ = fr.WriteGoAway(id, code, nil)
			faultPause(ctx, 50*time.Millisecond)
		}
		faultClose(c)
		return false
	case "/goaway-unanswered":
		last := id
		if q.query.Get("last") == "below" {
			last = 0
		}
		return fr.WriteGoAway(last, http2.ErrCodeNo, nil) == nil
	case "/early-hints":
		for range min(q.size("n", 8), faultMaxEarlyHints) {
			link := strings.TrimPrefix(faultEarlyHintsLink, "Link: ")
			if headers(encode(":status", "103", "link", link), false) != nil {
				return false
			}
		}
		return headers(encode(":status", "200", "content-length", "2"), false) == nil && data([]byte("ok"), true) == nil
	case "/content-length-list":
		return headers(encode(":status", "200", "content-length", q.contentLengthList()), false) == nil &&
			data([]byte("hello"), true) == nil
	case "/goaway-slow-answer":
		if fr.WriteGoAway(id, http2.ErrCodeNo, nil) != nil {
			return false
		}
		frames, interval := max(q.size("frames", 4), 3), time.Duration(q.size("interval_ms", 1000))*time.Millisecond
		for i := range frames {
			if !faultPause(ctx, interval) {
				return false
			}
			var err error
			switch i {
			case 0:
				err = headers(encode(":status", "200", "content-length", "2"), false)
			case 1:
				err = fr.WriteData(id, false, []byte("o"))
			case frames - 1:
				err = fr.WriteData(id, true, []byte("k"))
			default:
				err = fr.WriteData(id, false, nil)
			}
			if err != nil {
				return false
			}
		}
		return true
	case "/reset-mid-body":
		if partial(false) {
			faultPause(ctx, faultResetDelay)
		}
		faultReset(c)
		return false
	case "/truncate":
		return partial(true)
	case "/stall-body":
		// Later frames of the client (WINDOW_UPDATE, RST_STREAM) are read
		// by the caller's loop; this stream gets nothing more.
		return partial(false)
	case "/slow-headers":
		block := encode(":status", "200", "x-slow", "never finished")
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:len(block)/2]}) == nil {
			// Nothing but CONTINUATION may follow: stall the connection.
			faultWaitForClient(c)
		}
		return false
	case "/huge-headers":
		size, lineLen := q.size("size", 1<<20), max(q.size("line", 1024), 16)
		fields := []string{":status", "200", "content-length", "2"}
		for i, total := 0, 0; total < size; i++ {
			name := fmt.Sprintf("x-huge-%d", i)
			fields = append(fields, name, strings.Repeat("h", max(lineLen-len(name), 1)))
			total += lineLen
		}
		block := encode(fields...)
		n := min(len(block), 16384)
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:n], EndHeaders: n == len(block)}) != nil {
			return false
		}
		for block = block[n:]; len(block) > 0; block = block[n:] {
			n = min(len(block), 16384)
			if fr.WriteContinuation(id, n == len(block), block[:n]) != nil {
				return false
			}
		}
		return data([]byte("ok"), true) == nil
	case "/bad-status":
		return headers(encode(":status", "abc", "content-length", "2"), false) == nil && data([]byte("ok"), true) == nil
	case "/no-status":
		return headers(encode("content-length", "2"), false) == nil && data([]byte("ok"), true) == nil
	default:
		return headers(encode(":status", "404", "content-length", "13"), false) == nil &&
			data([]byte("unknown fault"), true) == nil
	}
}

// -- TLS handshakes and proxies -------------------------------------------------

// tlsAlertHandshakeFailure is a TLS 1.2 record with a fatal
// handshake_failure alert.
var tlsAlertHandshakeFailure = []byte{21, 3, 3, 0, 2, 2, 40}

// skipClientHello reads the first TLS record the client sends.
func skipClientHello(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(faultHeadTimeout))
	head := make([]byte, 5)
	if _, err := io.ReadFull(c, head); err != nil {
		return err
	}
	if head[0] != 22 {
		return errors.New("not a TLS handshake record")
	}
	_, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(head[3:])))
	_ = c.SetReadDeadline(time.Time{})
	return err
}

func serveHandshakeFault(ctx context.Context, c net.Conn, mode string) {
	if skipClientHello(c) != nil {
		return
	}
	switch mode {
	case "alert":
		_, _ = c.Write(tlsAlertHandshakeFailure)
		faultPause(ctx, 50*time.Millisecond)
		faultClose(c)
	case "close":
		faultClose(c)
	case "reset":
		faultReset(c)
	case "stall":
		faultWaitForClient(c)
	case "plaintext":
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		faultPause(ctx, 50*time.Millisecond)
		faultClose(c)
	}
}

// serveProxyFault reads a proxy request (CONNECT or absolute-URI) and
// answers as mode says.
func serveProxyFault(ctx context.Context, c net.Conn, mode string) {
	_ = c.SetReadDeadline(time.Now().Add(faultHeadTimeout))
	if _, err := faultReadHead(bufio.NewReader(c)); err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	switch mode {
	case "403":
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden")
		faultClose(c)
	case "407":
		_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\n"+
			"Proxy-Authenticate: Basic realm=\"faults\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		faultClose(c)
	case "close":
		faultClose(c)
	case "reset":
		faultReset(c)
	case "stall":
		faultWaitForClient(c)
	case "200_close":
		_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		faultPause(ctx, 50*time.Millisecond)
		faultClose(c)
	}
}

// sendChunked sends a chunked 200 head and body in 1000-byte chunks, without
// the last (empty) chunk: the caller decides how the body ends.
func sendChunked(send func(s string, body ...[]byte) bool, body []byte) bool {
	ok := send("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	for len(body) > 0 && ok {
		n := min(len(body), 1000)
		ok = send(fmt.Sprintf("%x\r\n", n), body[:n], []byte("\r\n"))
		body = body[n:]
	}
	return ok
}

package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// net/http parses request headers into a map, which loses their order, the
// case the client used and the grouping of repeated names. Clients that
// impersonate browsers care about exactly those details, so the HTTP/1.1
// servers keep a copy of the plaintext each connection reads and /echo
// re-parses the head of the current request from it.

// maxCapture bounds the bytes a connection may hold before they are
// attributed to a request. Heads are consumed per request and Content-Length
// bodies are dropped as they arrive, so only chunked bodies and pipelined
// requests can reach it; past it the connection stops reporting wire headers.
const maxCapture = 2 << 20

// handshakeTimeout bounds the TLS handshake that tlsCaptureConn runs before
// net/http reads the first request.
const handshakeTimeout = 10 * time.Second

// captureConn records the bytes that the server reads from a connection.
type captureConn struct {
	net.Conn

	mu      sync.Mutex
	buf     []byte // bytes read but not yet attributed to a request
	skip    int64  // bytes of the current Content-Length body still to drop
	chunked bool   // buf starts with a chunked body to skip before the next head
	lost    bool   // position in the stream is unknown; no more wire headers
}

// tlsCaptureConn wraps a *tls.Conn. net/http only sees the wrapper, so the
// ConnectionState method is what lets it fill in Request.TLS.
type tlsCaptureConn struct {
	*captureConn
}

func (c *captureConn) capture() *captureConn { return c }

func (c *captureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.record(p[:n])
	}
	return n, err
}

func (c *captureConn) record(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return
	}
	if c.skip > 0 {
		d := min(c.skip, int64(len(b)))
		b = b[d:]
		c.skip -= d
	}
	if len(c.buf)+len(b) > maxCapture {
		c.loseTrack()
		return
	}
	c.buf = append(c.buf, b...)
}

func (c *captureConn) loseTrack() {
	c.lost = true
	c.buf = nil
}

// takeHead consumes the head of r, which must be the next request on the
// connection, and returns its header fields as they were sent. ok is false
// once the capture can no longer be trusted for this connection.
func (c *captureConn) takeHead(r *http.Request) (fields [][2]string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return nil, false
	}
	if c.chunked {
		n, ok := chunkedBodyLen(c.buf)
		if !ok {
			c.loseTrack()
			return nil, false
		}
		c.buf = c.buf[n:]
		c.chunked = false
	}
	// net/http tolerates stray CR/LF before a request line (RFC 9112 2.2).
	c.buf = bytes.TrimLeft(c.buf, "\r\n")
	line, fields, n, ok := parseHead(c.buf)
	if !ok || line != r.Method+" "+r.RequestURI+" "+r.Proto {
		// A request that never reached the handler (such as "OPTIONS *")
		// leaves us unable to tell where this one starts.
		c.loseTrack()
		return nil, false
	}
	// Copy so that the head's memory is released rather than kept alive
	// by the tail of the slice.
	c.buf = slices.Clone(c.buf[n:])
	c.expectBody(r)
	return fields, true
}

// expectBody arranges for the body of r to be skipped so that the next
// takeHead starts at the next request's head.
func (c *captureConn) expectBody(r *http.Request) {
	if slices.Contains(r.TransferEncoding, "chunked") {
		c.chunked = true
		return
	}
	if r.ContentLength > 0 {
		d := min(r.ContentLength, int64(len(c.buf)))
		c.buf = c.buf[d:]
		c.skip = r.ContentLength - d
	}
}

// ConnectionState completes the handshake first: net/http asks for the state
// before its first read, when a lazily handshaking tls.Conn has none yet.
// A failed handshake resurfaces on that read and ends the connection.
func (c tlsCaptureConn) ConnectionState() tls.ConnectionState {
	tc := c.Conn.(*tls.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	_ = tc.HandshakeContext(ctx)
	return tc.ConnectionState()
}

// rawConn returns the TCP connection under c, so that closing it drops the
// connection without a TLS close_notify, like a crashing server would.
func rawConn(c net.Conn) net.Conn {
	if cc, ok := c.(interface{ capture() *captureConn }); ok {
		c = cc.capture().Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// captureListener wraps every accepted connection in a capturing one.
type captureListener struct {
	net.Listener
}

func (l captureListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &captureConn{Conn: c}
	if _, ok := c.(*tls.Conn); ok {
		return tlsCaptureConn{cc}, nil
	}
	return cc, nil
}

type captureKey struct{}

// captureContext is the http.Server ConnContext hook that makes a
// connection's capture reachable from its requests.
func captureContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(interface{ capture() *captureConn }); ok {
		return context.WithValue(ctx, captureKey{}, cc.capture())
	}
	return ctx
}

type wireHeadersKey struct{}

// withWireHeaders takes the head of every HTTP/1.x request off its
// connection's capture, not only for /echo: otherwise an /echo following
// another request on a keep-alive connection would find the earlier head.
func withWireHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc, ok := r.Context().Value(captureKey{}).(*captureConn)
		if ok && r.ProtoMajor == 1 {
			if fields, ok := cc.takeHead(r); ok {
				r = r.WithContext(context.WithValue(r.Context(), wireHeadersKey{}, fields))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// wireHeaders returns the header fields of r as sent, if they were captured.
func wireHeaders(r *http.Request) ([][2]string, bool) {
	fields, ok := r.Context().Value(wireHeadersKey{}).([][2]string)
	return fields, ok
}

// nextLine splits b at the first LF and strips an optional CR, accepting the
// same line endings as net/http.
func nextLine(b []byte) (line string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", b, false
	}
	return strings.TrimSuffix(string(b[:i]), "\r"), b[i+1:], true
}

// parseHead parses a request line and header fields up to the empty line and
// returns the number of bytes the head occupies in b.
func parseHead(b []byte) (requestLine string, fields [][2]string, n int, ok bool) {
	rest := b
	requestLine, rest, ok = nextLine(rest)
	if !ok {
		return "", nil, 0, false
	}
	fields = [][2]string{}
	for {
		var line string
		if line, rest, ok = nextLine(rest); !ok {
			return "", nil, 0, false
		}
		switch {
		case line == "":
			return requestLine, fields, len(b) - len(rest), true
		case line[0] == ' ' || line[0] == '\t':
			// Obsolete line folding continues the previous value.
			if len(fields) == 0 {
				return "", nil, 0, false
			}
			last := &fields[len(fields)-1][1]
			*last = strings.TrimSpace(*last + " " + strings.TrimSpace(line))
		default:
			name, value, found := strings.Cut(line, ":")
			if !found {
				return "", nil, 0, false
			}
			fields = append(fields, [2]string{name, strings.Trim(value, " \t")})
		}
	}
}

// chunkedBodyLen returns the length of the chunked body, trailers included,
// at the start of b.
func chunkedBodyLen(b []byte) (int, bool) {
	rest := b
	for {
		line, after, ok := nextLine(rest)
		if !ok {
			return 0, false
		}
		sizeField, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseUint(strings.TrimSpace(sizeField), 16, 62)
		if err != nil {
			return 0, false
		}
		rest = after
		if size == 0 {
			return trailersEnd(b, rest)
		}
		if uint64(len(rest)) < size+2 || !bytes.HasPrefix(rest[size:], []byte("\r\n")) {
			return 0, false
		}
		rest = rest[size+2:]
	}
}

// trailersEnd skips the trailer section that follows the last chunk and
// returns the offset in b just past it.
func trailersEnd(b, rest []byte) (int, bool) {
	for {
		line, after, ok := nextLine(rest)
		if !ok {
			return 0, false
		}
		rest = after
		if line == "" {
			return len(b) - len(rest), true
		}
	}
}

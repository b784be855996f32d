package bridge

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	nethttp "net/http"
	"sync"
	"time"

	"github.com/scrapy-tlsclient/native/fingerprint"
	"github.com/scrapy-tlsclient/native/localcert"
	"golang.org/x/net/http2"
)

// measureServer is a one-shot TLS server on 127.0.0.1 that fingerprints
// the first connection made to it: its raw ClientHello, read before the
// handshake, and on HTTP/2 its preface up to the first header block. It
// answers every request with an empty 200.
type measureServer struct {
	ln        net.Listener
	deadline  time.Time
	tlsConfig *tls.Config
	done      chan struct{} // closed once the serving goroutine returned

	connMu  sync.Mutex
	conn    net.Conn // the connection served, closed by stop
	stopped bool

	// Written by the serving goroutine only; read after done is closed.
	seen measuredConn
}

// measuredConn is what the server learnt of the connection.
type measuredConn struct {
	hello    *fingerprint.ClientHello // nil until a ClientHello parsed
	helloErr error
	protocol string                 // ALPN result, "" before the handshake completes
	h2       *fingerprint.H2Capture // nil unless HTTP/2
}

// startMeasureServer listens on 127.0.0.1 until stop, or until deadline
// for any read or write on the connection.
func startMeasureServer(deadline time.Time) (*measureServer, error) {
	cert, _, err := localcert.New()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &measureServer{
		ln:       ln,
		deadline: deadline,
		tlsConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			// The server's order wins: h2 whenever the client offers it.
			NextProtos: []string{"h2", "http/1.1"},
			// No tickets, so nothing a later client could resume from.
			SessionTicketsDisabled: true,
		},
		done: make(chan struct{}),
		seen: measuredConn{helloErr: errNoConnection},
	}
	go s.serve()
	return s, nil
}

var errNoConnection = newError(CodeInternal, "measureProfile: the client never connected")

func (s *measureServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// serve accepts one connection and serves it until it ends.
func (s *measureServer) serve() {
	defer close(s.done)
	c, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	s.connMu.Lock()
	if s.stopped {
		s.connMu.Unlock()
		return
	}
	s.conn = c
	s.connMu.Unlock()
	if err := c.SetDeadline(s.deadline); err != nil {
		return
	}
	raw, msg, err := fingerprint.ReadClientHello(c)
	if err != nil {
		s.seen.helloErr = err
		return
	}
	s.seen.hello, s.seen.helloErr = fingerprint.ParseClientHello(msg)
	tc := tls.Server(fingerprint.NewReplayConn(c, raw), s.tlsConfig)
	if err := tc.Handshake(); err != nil {
		return
	}
	s.seen.protocol = tc.ConnectionState().NegotiatedProtocol
	if s.seen.protocol != "h2" {
		serveOneHTTP1(tc)
		return
	}
	s.seen.h2 = fingerprint.NewH2Capture(false)
	(&http2.Server{}).ServeConn(&fingerprint.H2TeeConn{Conn: tc, Capture: s.seen.h2}, &http2.ServeConnOpts{
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
			w.WriteHeader(nethttp.StatusOK)
		}),
	})
}

// serveOneHTTP1 answers one HTTP/1.1 request and asks the client to close.
func serveOneHTTP1(c net.Conn) {
	req, err := nethttp.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	_ = req.Body.Close()
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

// stop closes the listener and the connection, waits for the serving
// goroutine and returns what it saw.
func (s *measureServer) stop() measuredConn {
	_ = s.ln.Close()
	s.connMu.Lock()
	s.stopped = true
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.connMu.Unlock()
	<-s.done
	return s.seen
}

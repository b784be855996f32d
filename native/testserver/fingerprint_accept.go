package testserver

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrapy-tlsclient/native/fingerprint"
	"golang.org/x/net/http2"
)

// fingerprintDispatcher accepts the fingerprint server's connections, reads
// each ClientHello, completes the handshake and hands the connection to the
// HTTP/2 or the HTTP/1.1 server according to ALPN.
type fingerprintDispatcher struct {
	ln         net.Listener
	ctx        context.Context // ends when the server stops
	tlsConfig  *tls.Config
	hs         *http.Server // serves HTTP/1.1 from h1Queue; base config of h2
	h2         *http2.Server
	h1Queue    *connQueue
	accepted   *atomic.Int64
	conns      connSet        // TCP connections, closed when the server stops
	wg         sync.WaitGroup // connection goroutines
	onConn     func(*connRecord)
	allStreams bool
}

// acceptLoop runs until the listener is closed (or fails).
func (d *fingerprintDispatcher) acceptLoop() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.accepted.Add(1)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.serveConn(c)
		}()
	}
}

// serveConn runs the handshake of raw and then serves HTTP/2 on it, or hands
// it over to the HTTP/1.1 server, which then owns it.
func (d *fingerprintDispatcher) serveConn(raw net.Conn) {
	if !d.conns.add(raw) {
		_ = raw.Close()
		return
	}
	tc, rec, err := d.handshake(raw)
	if err != nil {
		d.conns.remove(raw)
		_ = raw.Close()
		return
	}
	if rec.state.NegotiatedProtocol == "h2" {
		rec.h2 = fingerprint.NewH2Capture(d.allStreams)
	}
	if d.onConn != nil {
		d.onConn(rec)
	}
	if rec.h2 != nil {
		defer d.conns.remove(raw)
		defer raw.Close()
		d.h2.ServeConn(&fingerprint.H2TeeConn{Conn: tc, Capture: rec.h2}, &http2.ServeConnOpts{
			Context:    context.WithValue(d.ctx, fingerprintKey{}, rec),
			BaseConfig: d.hs,
			Handler:    d.hs.Handler,
		})
		return
	}
	// d.connState forgets raw when the HTTP/1.1 server is done with it.
	if !d.h1Queue.push(&fingerprintH1Conn{tlsCaptureConn{&captureConn{Conn: tc}}, raw, rec}) {
		d.conns.remove(raw)
		_ = raw.Close()
	}
}

// handshake reads the ClientHello off raw, then replays it to a TLS server
// and completes the handshake, all within handshakeTimeout.
func (d *fingerprintDispatcher) handshake(raw net.Conn) (*tls.Conn, *connRecord, error) {
	deadline := time.Now().Add(handshakeTimeout)
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	replay, msg, err := fingerprint.ReadClientHello(raw)
	if err != nil {
		return nil, nil, err
	}
	rec := newConnRecord(msg)
	tc := tls.Server(fingerprint.NewReplayConn(raw, replay), d.tlsConfig)
	ctx, cancel := context.WithDeadline(d.ctx, deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	rec.state = tc.ConnectionState()
	return tc, rec, nil
}

// connState forgets HTTP/1.1 connections once the server is done with them.
func (d *fingerprintDispatcher) connState(c net.Conn, state http.ConnState) {
	if fc, ok := c.(*fingerprintH1Conn); ok && (state == http.StateClosed || state == http.StateHijacked) {
		d.conns.remove(fc.raw)
	}
}

// fingerprintH1Conn is an HTTP/1.1 connection of the fingerprint server:
// the plaintext capture of capture.go plus the connection's record.
type fingerprintH1Conn struct {
	tlsCaptureConn
	raw net.Conn
	rec *connRecord
}

// fingerprintConnContext is the http.Server ConnContext hook that makes the
// record and the wire-header capture reachable from requests.
func fingerprintConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*fingerprintH1Conn); ok {
		ctx = context.WithValue(ctx, fingerprintKey{}, fc.rec)
	}
	return captureContext(ctx, c)
}

// connQueue is a net.Listener whose connections are pushed to it: the
// HTTP/1.1 server accepts from it the connections that ALPN gave to it.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// push waits until c is accepted, or returns false if the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.closed:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// connSet tracks open connections so that stopping the server can close
// them all, including those mid-handshake or served by the HTTP/2 server,
// which http.Server.Close does not know of.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// add returns false once closeAll has run.
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// Package testserver runs loopback HTTP servers for tests of the download
// handler: HTTP/1.1 in plain text, HTTP/1.1 over TLS and HTTP/2 over TLS, all
// on 127.0.0.1 and sharing the endpoints of [Handler], plus forward proxies
// in front of them (see proxy.go).
package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/scrapy-tlsclient/native/localcert"
)

// Servers are the three running test servers and the proxies.
//
// Besides the endpoints of [Handler], the servers answer /proxy-log: GET
// returns {"entries": [...]} (see [ProxyLogReply]), DELETE /proxy-log or
// POST /proxy-log/clear empties the log.
type Servers struct {
	HTTP  string // base URL of plain HTTP/1.1, like http://127.0.0.1:PORT
	HTTPS string // HTTP/1.1 over TLS; ALPN offers only http/1.1
	H2    string // HTTP/2 over TLS; ALPN offers only h2

	// Fingerprint is a TLS server, like https://localhost:PORT, that answers
	// every request with its connection's fingerprints (fingerprint.go).
	Fingerprint string

	// Wall is a TLS server, like https://localhost:PORT, that blocks
	// requests by JA4, header order and rate as bot protection does, and
	// logs a verdict for each (wall.go).
	Wall string

	// URLs of the proxies, without credentials.
	Proxy     string // HTTP proxy, like http://127.0.0.1:PORT
	ProxyAuth string // HTTP proxy requiring ProxyUser:ProxyPassword
	Socks5    string // SOCKS5 proxy, like socks5://127.0.0.1:PORT
	ProxyTLS  string // HTTP proxy over TLS, like https://127.0.0.1:PORT
	// ProxyEcho answers absolute-form requests itself, refuses CONNECT;
	// ProxyConnectOnly tunnels to the TLS servers only (proxy_modes.go).
	ProxyEcho        string
	ProxyConnectOnly string

	CertPEM  []byte // the self-signed certificate of both TLS servers
	CertFile string // path of CertPEM on disk, "" if Start got no directory

	// Faults are the fault-injecting servers (faults.go); their URLs are
	// also served as JSON at /faults.
	Faults *FaultServers

	servers        []*server
	proxies        []proxyServer
	proxyLog       *ProxyLog
	proxyTransport *http.Transport // of the proxies' forwarded requests
	closeOnce      sync.Once
}

// server is one listener with its http.Server.
type server struct {
	url      string
	ln       net.Listener
	srv      *http.Server
	accepted atomic.Int64
	stop     context.CancelFunc // ends the contexts of all requests
	done     chan struct{}      // closed when Serve has returned
}

type serverKey struct{}

// Start starts the servers on 127.0.0.1 with ports chosen by the system. It
// writes the certificate, valid for localhost and 127.0.0.1 for one day, to
// certDir/cert.pem unless certDir is "".
func Start(certDir string) (*Servers, error) {
	cert, certPEM, err := localcert.New()
	if err != nil {
		return nil, fmt.Errorf("testserver: certificate: %w", err)
	}
	s := &Servers{CertPEM: certPEM, proxyLog: &ProxyLog{}}
	if certDir != "" {
		s.CertFile = filepath.Join(certDir, "cert.pem")
		if err := os.WriteFile(s.CertFile, certPEM, 0o644); err != nil {
			return nil, fmt.Errorf("testserver: %w", err)
		}
	}
	if s.Faults, err = startFaultServers(cert); err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	if err := s.startAll(cert); err != nil {
		s.Close()
		return nil, fmt.Errorf("testserver: %w", err)
	}
	if err := s.startProxies(cert); err != nil {
		s.Close()
		return nil, fmt.Errorf("testserver: %w", err)
	}
	return s, nil
}

func (s *Servers) startAll(cert tls.Certificate) error {
	var h1, h2 http.Protocols
	h1.SetHTTP1(true)
	h2.SetHTTP2(true)
	h1Config := recordHellos(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	h2Config := recordHellos(&tls.Config{Certificates: []tls.Certificate{cert}})

	// The HTTP/1.1 servers see the plaintext through captureListener, for
	// /echo's wire-order headers. HTTP/2 needs no capture and must see the
	// *tls.Conn itself to switch protocols, so it uses ServeTLS.
	plain := func(hs *http.Server, ln net.Listener) error { return hs.Serve(captureListener{ln}) }
	https := func(hs *http.Server, ln net.Listener) error {
		return hs.Serve(captureListener{tls.NewListener(ln, h1Config)})
	}
	h2TLS := func(hs *http.Server, ln net.Listener) error {
		hs.TLSConfig = h2Config
		return hs.ServeTLS(ln, "", "")
	}

	for _, spec := range []struct {
		url    *string
		scheme string
		protos http.Protocols
		serve  func(*http.Server, net.Listener) error
	}{
		{&s.HTTP, "http", h1, plain},
		{&s.HTTPS, "https", h1, https},
		{&s.H2, "https", h2, h2TLS},
	} {
		handler := withFaultIndex(s.Faults, withProxyLog(s.proxyLog, Handler()))
		srv, err := startServer(spec.scheme, spec.protos, handler, spec.serve)
		if err != nil {
			return err
		}
		s.servers = append(s.servers, srv)
		*spec.url = srv.url
	}
	fp, err := startFingerprintServer(cert)
	if err != nil {
		return err
	}
	s.servers = append(s.servers, fp)
	s.Fingerprint = fp.url
	wall, err := startWallServer(cert)
	if err != nil {
		return err
	}
	s.servers = append(s.servers, wall)
	s.Wall = wall.url
	return nil
}

// startServer listens on a fresh loopback port and serves handler on it.
func startServer(scheme string, protos http.Protocols, handler http.Handler, serve func(*http.Server, net.Listener) error) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: scheme + "://" + ln.Addr().String(), ln: ln, done: make(chan struct{})}
	base, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.srv = &http.Server{
		Handler:     handler,
		Protocols:   &protos,
		BaseContext: func(net.Listener) context.Context { return context.WithValue(base, serverKey{}, s) },
		ConnContext: captureContext,
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				s.accepted.Add(1)
			}
		},
	}
	go func() {
		defer close(s.done)
		_ = serve(s.srv, ln)
	}()
	return s, nil
}

func (s *server) close() {
	// Cancelling first ends handlers that wait on their request context,
	// such as /stall, which Server.Close does not wait for.
	s.stop()
	_ = s.srv.Close()
	// Serve leaves the listener open if Close came before it started.
	_ = s.ln.Close()
	<-s.done
}

// Close stops all servers and proxies and ends their connections, tunnels
// and requests.
func (s *Servers) Close() {
	s.closeOnce.Do(func() {
		s.closeProxies()
		for _, srv := range s.servers {
			srv.close()
		}
		s.Faults.close()
	})
}

// Accepted returns how many TCP connections the server with the base URL
// (s.HTTP, s.HTTPS or s.H2) has accepted, or -1 for another URL.
func (s *Servers) Accepted(baseURL string) int64 {
	for _, srv := range s.servers {
		if srv.url == baseURL {
			return srv.accepted.Load()
		}
	}
	return -1
}

// CertPool returns a pool that trusts the servers' certificate.
func (s *Servers) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM)
	return pool
}

// Client returns a client for all three servers: it trusts their certificate
// and negotiates HTTP/2 where offered.
func (s *Servers) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.CertPool()},
		// A custom TLS config turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2: true,
	}}
}

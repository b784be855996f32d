package testserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

// The fingerprint server is a TLS server on 127.0.0.1 that answers every
// request with the fingerprints of the connection it came on (see
// [FingerprintReply]): JA3, JA3N and JA4 of the ClientHello, the Akamai
// fingerprint of the HTTP/2 preamble, and the headers in wire order. Its
// URL names localhost, not the address, so that clients send SNI.
//
// Each connection has its ClientHello read raw before the handshake
// (package fingerprint); then HTTP/2 connections are served by an
// http2.Server on a conn that copies the plaintext to an H2Capture, and
// HTTP/1.1 ones by an http.Server through the wire-header capture of
// capture.go. Each connection's record travels in its context, so nothing
// outlives the connection.

// startFingerprintServer starts the fingerprint server with certificate
// cert.
func startFingerprintServer(cert tls.Certificate) (*server, error) {
	return startFingerprintServerWith(fingerprintOptions{
		cert: cert,
		// The server's order wins, so h2 whenever the client offers it.
		nextProtos: []string{"h2", "http/1.1"},
		handler:    http.HandlerFunc(handleFingerprint),
	})
}

// fingerprintOptions let the browser capture (browser_capture.go) reuse
// the fingerprint server with its own page and ALPN.
type fingerprintOptions struct {
	cert       tls.Certificate
	nextProtos []string
	handler    http.Handler      // gets the wire headers and the record in its context
	onConn     func(*connRecord) // called once per completed handshake
	allStreams bool              // decode every HTTP/2 header block, not just the first
}

func startFingerprintServerWith(opts fingerprintOptions) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s := &server{url: fmt.Sprintf("https://localhost:%d", port), ln: ln, done: make(chan struct{})}

	base, cancel := context.WithCancel(context.Background())
	base = context.WithValue(base, serverKey{}, s)
	var h1 http.Protocols
	h1.SetHTTP1(true)
	d := &fingerprintDispatcher{
		ln:  ln,
		ctx: base,
		tlsConfig: &tls.Config{
			Certificates: []tls.Certificate{opts.cert},
			NextProtos:   opts.nextProtos,
			// Without tickets no client resumes, so every connection shows
			// the full ClientHello of a first visit (no pre_shared_key).
			SessionTicketsDisabled: true,
		},
		h2:         &http2.Server{},
		h1Queue:    newConnQueue(ln.Addr()),
		accepted:   &s.accepted,
		onConn:     opts.onConn,
		allStreams: opts.allStreams,
	}
	s.srv = &http.Server{
		Handler:     withWireHeaders(opts.handler),
		Protocols:   &h1,
		BaseContext: func(net.Listener) context.Context { return base },
		ConnContext: fingerprintConnContext,
		ConnState:   d.connState,
	}
	d.hs = s.srv
	s.stop = func() {
		cancel()
		d.h1Queue.Close()
		d.conns.closeAll()
	}
	go func() {
		defer close(s.done)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = s.srv.Serve(d.h1Queue)
		}()
		d.acceptLoop()
		d.wg.Wait()
		d.h1Queue.Close()
		<-served
	}()
	return s, nil
}

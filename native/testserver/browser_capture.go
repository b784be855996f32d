package testserver

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scrapy-tlsclient/native/fingerprint"
)

// The priority types appear in the JSON of captures and replies, which
// cmd/capture reads as this package's.
type (
	H2Priority       = fingerprint.H2Priority
	H2PriorityUpdate = fingerprint.H2PriorityUpdate
)

// A browser capture runs the fingerprint server with a caller's page
// handler and keeps, for every connection, the raw ClientHello, its
// fingerprints, the HTTP/2 preface and every request's header fields in
// wire order: HTTP/2 header blocks decoded off the connection's plaintext,
// HTTP/1.1 heads as sent, name case included. cmd/capture drives real
// browsers against it.

// CaptureConfig configures [StartCapture].
type CaptureConfig struct {
	Certificate tls.Certificate
	// NextProtos is the ALPN the server offers, in its order of preference:
	// {"h2", "http/1.1"} or {"http/1.1"}.
	NextProtos []string
	Handler    http.Handler // answers every request
}

// CaptureServer is a running browser capture.
type CaptureServer struct {
	URL string // like https://localhost:PORT

	srv *server

	mu    sync.Mutex
	conns []*capturedConn
}

type capturedConn struct {
	id       int
	rec      *connRecord
	at       time.Time
	requests []CapturedRequest // HTTP/1.1 only; HTTP/2 ones come from rec.h2
}

// CapturedConn is one connection of a capture.
type CapturedConn struct {
	ID         int       `json:"id"`
	At         time.Time `json:"at"`
	Protocol   string    `json:"protocol"` // "h2" or "http/1.1"
	SNI        string    `json:"sni"`
	ALPN       []string  `json:"alpn"` // as offered by the client
	TLSVersion string    `json:"tls_version"`
	HelloFingerprints
	ClientHello string     `json:"client_hello"` // hex of the handshake message, header included
	Extensions  []uint16   `json:"extension_order"`
	Akamai      string     `json:"akamai,omitempty"`
	H2          *H2Preface `json:"h2,omitempty"`
	Errors      []string   `json:"errors,omitempty"`

	Requests []CapturedRequest `json:"-"`
}

// H2Preface is what an HTTP/2 client sent before and around its first
// request.
type H2Preface struct {
	Settings          [][2]uint32        `json:"settings"` // id, value in sent order
	WindowUpdate      uint32             `json:"window_update"`
	HasWindowUpdate   bool               `json:"has_window_update"`
	PriorityFrames    []H2Priority       `json:"priority_frames"`
	HeadersPriority   *H2Priority        `json:"headers_priority"`
	PseudoHeaderOrder []string           `json:"pseudo_header_order"`
	LaterPriorities   []H2Priority       `json:"later_priority_frames,omitempty"`
	PriorityUpdates   []H2PriorityUpdate `json:"priority_updates,omitempty"`
}

// CapturedRequest is one request as it came over the wire.
type CapturedRequest struct {
	Conn            int         `json:"connection"`
	At              time.Time   `json:"at"`
	Protocol        string      `json:"protocol"`
	StreamID        uint32      `json:"stream_id,omitempty"`
	Method          string      `json:"method"`
	Path            string      `json:"path"`
	Headers         [][2]string `json:"headers"` // wire order, wire case, pseudo headers included
	HeadersPriority *H2Priority `json:"headers_priority,omitempty"`
}

// StartCapture starts a browser capture on 127.0.0.1, named localhost in
// its URL so that browsers send SNI.
func StartCapture(cfg CaptureConfig) (*CaptureServer, error) {
	cs := &CaptureServer{}
	srv, err := startFingerprintServerWith(fingerprintOptions{
		cert:       cfg.Certificate,
		nextProtos: cfg.NextProtos,
		handler:    cs.recordH1(cfg.Handler),
		onConn:     cs.addConn,
		allStreams: true,
	})
	if err != nil {
		return nil, err
	}
	cs.srv, cs.URL = srv, srv.url
	return cs, nil
}

// Close stops the server and ends its connections.
func (cs *CaptureServer) Close() { cs.srv.close() }

func (cs *CaptureServer) addConn(rec *connRecord) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.conns = append(cs.conns, &capturedConn{id: len(cs.conns) + 1, rec: rec, at: time.Now()})
}

// recordH1 records each HTTP/1.1 request's wire head before next answers.
func (cs *CaptureServer) recordH1(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, _ := r.Context().Value(fingerprintKey{}).(*connRecord)
		if fields, ok := wireHeaders(r); ok && rec != nil && rec.h2 == nil {
			cs.mu.Lock()
			for _, c := range cs.conns {
				if c.rec == rec {
					c.requests = append(c.requests, CapturedRequest{
						Conn: c.id, At: time.Now(), Protocol: "http/1.1",
						Method: r.Method, Path: r.RequestURI, Headers: fields,
					})
				}
			}
			cs.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// Connections returns every connection so far with its requests.
func (cs *CaptureServer) Connections() []CapturedConn {
	cs.mu.Lock()
	conns := slices.Clone(cs.conns)
	h1 := make([][]CapturedRequest, len(conns))
	for i, c := range conns {
		h1[i] = slices.Clone(c.requests)
	}
	cs.mu.Unlock()

	out := make([]CapturedConn, len(conns))
	for i, c := range conns {
		out[i] = c.describe(h1[i])
	}
	return out
}

func (c *capturedConn) describe(h1 []CapturedRequest) CapturedConn {
	rec := c.rec
	out := CapturedConn{
		ID: c.id, At: c.at, Protocol: "http/1.1", TLSVersion: tls.VersionName(rec.state.Version),
		HelloFingerprints: rec.helloFingerprints(),
		ClientHello:       hex.EncodeToString(rec.helloMsg), ALPN: []string{}, Requests: h1,
	}
	if rec.hello != nil {
		out.SNI = rec.hello.ServerName
		out.ALPN = append(out.ALPN, rec.hello.ALPN...)
		out.Extensions = rec.hello.Extensions
	} else {
		out.Errors = append(out.Errors, "ClientHello: "+rec.helloErr.Error())
	}
	if rec.h2 == nil {
		return out
	}
	out.Protocol = "h2"
	pre, err := rec.h2.Preamble()
	streams, later, updates := rec.h2.Captured()
	switch {
	case errors.Is(err, fingerprint.ErrNoHeaderBlock):
		// Browsers open spare connections that never carry a request.
		out.Errors = append(out.Errors, "HTTP/2: no request on this connection")
	case err != nil:
		out.Errors = append(out.Errors, "HTTP/2: "+err.Error())
	default:
		out.Akamai = pre.Akamai()
		out.H2 = preface(pre)
	}
	if out.H2 != nil {
		out.H2.LaterPriorities, out.H2.PriorityUpdates = later, updates
	}
	for _, s := range streams {
		req := CapturedRequest{
			Conn: c.id, At: s.At, Protocol: "h2", StreamID: s.StreamID,
			Headers: s.Headers, HeadersPriority: s.HeadersPriority,
		}
		for _, f := range s.Headers {
			switch f[0] {
			case ":method":
				req.Method = f[1]
			case ":path":
				req.Path = f[1]
			}
		}
		out.Requests = append(out.Requests, req)
	}
	return out
}

func preface(pre fingerprint.H2Preamble) *H2Preface {
	p := &H2Preface{
		Settings:        [][2]uint32{},
		WindowUpdate:    pre.WindowUpdate,
		HasWindowUpdate: pre.HasWindowUpdate,
		PriorityFrames:  append([]H2Priority{}, pre.Priorities...),
		HeadersPriority: pre.HeadersPriority,
	}
	for _, s := range pre.Settings {
		p.Settings = append(p.Settings, [2]uint32{uint32(s.ID), s.Value})
	}
	p.PseudoHeaderOrder = []string{}
	for _, f := range pre.Headers {
		if strings.HasPrefix(f[0], ":") {
			p.PseudoHeaderOrder = append(p.PseudoHeaderOrder, f[0])
		}
	}
	return p
}

package bridge

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	http "github.com/bogdanfinn/fhttp"
	"github.com/bogdanfinn/fhttp/httptrace"
	tls_client "github.com/bogdanfinn/tls-client"
	utls "github.com/bogdanfinn/utls"
)

// call is one request in flight, from its start until its body is read,
// written, drained or cancelled.
//
// A call's context is cancelled only to abort it before its headers
// arrive. Cancelling the context of a finished request makes fhttp close
// the connection that request dialled (measured: 1000 requests at 16 in
// flight opened ~60 connections instead of 16), so a finished call leaves
// its context alone, and an abort after the headers closes the body
// instead (HTTP/2: RST_STREAM of that stream only).
type call struct {
	id        string
	input     *RequestInput
	ctx       context.Context
	cancelCtx context.CancelCauseFunc
	deadline  *time.Timer
	session   *session
	client    tls_client.HttpClient
	ephemeral bool
	logger    *collectingLogger

	mu      sync.Mutex
	body    io.Closer     // set once the headers arrived
	aborted error         // why the call was aborted: errCancelled, errDeadline or errRefusedAgain
	done    chan struct{} // closed on abort

	connMu sync.Mutex
	conn   net.Conn
	// h2Attempts counts the HTTP/2 connections the request was given: more
	// than one means the transport is retrying it (see refusedAgain).
	h2Attempts int

	releaseOnce sync.Once
}

// errDeadline is the abort reason when the per-call deadline passes.
var errDeadline = newError(CodeTimeout, "context deadline exceeded (Client.Timeout exceeded)")

// abort stops the transfer once; the first reason wins.
func (c *call) abort(reason error) {
	c.mu.Lock()
	if c.aborted != nil {
		c.mu.Unlock()
		return
	}
	c.aborted = reason
	body := c.body
	close(c.done)
	c.mu.Unlock()
	if body != nil {
		_ = body.Close()
	} else {
		c.cancelCtx(reason)
	}
}

// attachBody records the response body so that an abort closes it; false
// if the call was aborted meanwhile (the body is then closed here).
func (c *call) attachBody(body io.Closer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted != nil {
		_ = body.Close()
		return false
	}
	c.body = body
	return true
}

// abortReason is nil unless the call was aborted.
func (c *call) abortReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted
}

// release ends the call: a call that did not complete is aborted, the
// deadline timer stops, and a client built for this call only gives its
// connections back.
func (c *call) release(completed bool) {
	c.releaseOnce.Do(func() {
		if c.deadline != nil {
			c.deadline.Stop()
		}
		if !completed {
			c.abort(errCancelled)
		}
		if c.ephemeral && c.session != nil {
			c.session.close()
		}
	})
}

// maxH2Attempts bounds how often one request is sent over HTTP/2. fhttp's
// transport resends a request the server refused unprocessed (a GOAWAY
// whose last stream id is below the request's stream, or REFUSED_STREAM)
// up to seven times, backing off 1, 2, 4 ... 32 s, about a minute in all.
// Chrome resends such a request on a new connection and fails it with
// ERR_HTTP2_SERVER_REFUSED_STREAM when the server refuses again
// (net/http/http_network_transaction.cc, HandleIOError); so do we: one
// retry, which fhttp makes at once, and the next attempt fails the call.
const maxH2Attempts = 2

// errRefusedAgain ends a request the server refused on every attempt.
var errRefusedAgain = newError(CodeConnectionLost,
	fmt.Sprintf("the server refused the request unprocessed %d times (HTTP/2 GOAWAY or REFUSED_STREAM)", maxH2Attempts))

func (c *call) gotConn(info httptrace.GotConnInfo) {
	c.session.conns.add(info.Conn)
	c.connMu.Lock()
	c.conn = info.Conn
	refused := false
	if negotiatedH2(info.Conn) {
		c.h2Attempts++
		refused = c.h2Attempts > maxH2Attempts
	}
	c.connMu.Unlock()
	if refused {
		c.abort(errRefusedAgain)
	}
}

func negotiatedH2(conn net.Conn) bool {
	stater, ok := conn.(interface{ ConnectionState() utls.ConnectionState })
	return ok && stater.ConnectionState().NegotiatedProtocol == "h2"
}

// connectionInfo reports the peer address and TLS details of the
// connection the response came on.
func (c *call) connectionInfo(withCert bool) (string, *TLSInfo) {
	c.connMu.Lock()
	conn := c.conn
	c.connMu.Unlock()
	if conn == nil {
		return "", nil
	}
	remote := ""
	if addr := conn.RemoteAddr(); addr != nil {
		remote = addr.String()
	}
	stater, ok := conn.(interface{ ConnectionState() utls.ConnectionState })
	if !ok {
		return remote, nil
	}
	state := stater.ConnectionState()
	info := &TLSInfo{
		Version:            tls.VersionName(state.Version),
		CipherSuite:        tls.CipherSuiteName(state.CipherSuite),
		NegotiatedProtocol: state.NegotiatedProtocol,
		ServerName:         state.ServerName,
	}
	if withCert && len(state.PeerCertificates) > 0 {
		info.PeerCertificate = base64.StdEncoding.EncodeToString(state.PeerCertificates[0].Raw)
	}
	return remote, info
}

// Bridge holds the library's process-wide state: sessions, calls in
// flight and open streams.
type Bridge struct {
	sessions    *sessionRegistry
	completions *completionQueues
	buffers     *bufferRegistry
	webSockets  *webSockets

	mu         sync.Mutex
	calls      map[string]*call
	streams    map[string]*stream
	tombstones map[string]time.Time

	nextID         atomic.Uint64
	streamsOpened  atomic.Int64
	streamsClosed  atomic.Int64
	callsStarted   atomic.Int64
	callsCancelled atomic.Int64
}

// New returns an empty bridge.
func New() *Bridge {
	return &Bridge{
		sessions:    newSessionRegistry(),
		completions: newCompletionQueues(),
		buffers:     newBufferRegistry(),
		webSockets:  &webSockets{sockets: map[string]*wsConn{}},
		calls:       map[string]*call{},
		streams:     map[string]*stream{},
		tombstones:  map[string]time.Time{},
	}
}

// newID makes envelope and stream ids: unique within the process, which is
// all freeMemory and the stream registry need, and cheaper than a UUID.
func (b *Bridge) newID() string {
	return "t" + strconv.FormatUint(b.nextID.Add(1), 36)
}

// Tombstones remember cancelStream calls for ids not (yet) known, so a
// cancel that overtakes its requestStream still wins. Bounded in count and
// age.
const (
	maxTombstones = 4096
	tombstoneTTL  = 5 * time.Minute
)

func (b *Bridge) addTombstoneLocked(id string) {
	now := time.Now()
	if len(b.tombstones) >= maxTombstones {
		for k, t := range b.tombstones {
			if now.Sub(t) > tombstoneTTL || len(b.tombstones) >= maxTombstones {
				delete(b.tombstones, k)
			}
		}
	}
	b.tombstones[id] = now
}

// startCall validates the input, picks the client and registers the call so
// that cancelStream(streamId) and destroyAll reach it.
func (b *Bridge) startCall(in *RequestInput) (*call, error) {
	deadline, noDeadline, err := requestDeadline(in)
	if err != nil {
		return nil, err
	}
	var logger *collectingLogger
	var tlsLogger tls_client.Logger = tls_client.NewNoopLogger()
	if in.WithDebug {
		logger = &collectingLogger{}
		tlsLogger = logger
	}
	session, ephemeral, err := b.sessions.sessionFor(in, tlsLogger)
	if err != nil {
		return nil, err
	}
	ctx, cancelCtx := context.WithCancelCause(context.Background())
	id := in.StreamID
	if id == "" {
		id = b.newID()
	}
	c := &call{id: id, input: in, ctx: ctx, cancelCtx: cancelCtx, session: session, client: session.client, ephemeral: ephemeral,
		logger: logger, done: make(chan struct{})}
	if !noDeadline {
		c.deadline = time.AfterFunc(deadline, func() { c.abort(errDeadline) })
	}

	b.mu.Lock()
	_, cancelled := b.tombstones[id]
	_, duplicate := b.calls[id]
	if !cancelled && !duplicate {
		b.calls[id] = c
	}
	delete(b.tombstones, id)
	b.mu.Unlock()
	if cancelled || duplicate {
		c.release(false)
		if duplicate {
			return nil, newError(CodeInvalidInput, fmt.Sprintf("streamId %q is already in use", id))
		}
		return nil, newError(CodeCancelled, "request cancelled before it started")
	}
	b.callsStarted.Add(1)
	return c, nil
}

func (b *Bridge) endCall(c *call, completed bool) {
	b.mu.Lock()
	if b.calls[c.id] == c {
		delete(b.calls, c.id)
	}
	b.mu.Unlock()
	c.release(completed)
}

// cancelCall aborts a call or stream by id; unknown ids leave a tombstone.
func (b *Bridge) cancelCall(id string) {
	if b.cancelWebSocket(id) {
		return
	}
	b.mu.Lock()
	c, ok := b.calls[id]
	if ok {
		delete(b.calls, id)
	} else {
		b.addTombstoneLocked(id)
	}
	s, isStream := b.streams[id]
	if isStream {
		delete(b.streams, id)
	}
	b.mu.Unlock()
	if ok {
		b.callsCancelled.Add(1)
		c.release(false)
	}
	if isStream {
		s.output.close()
		s.call.release(false)
		b.streamsClosed.Add(1)
	}
}

// send builds the native request and runs it until the response headers
// arrive.
func (b *Bridge) send(c *call) (*http.Response, error) {
	req, err := buildRequest(c.input)
	if err != nil {
		return nil, err
	}
	trace := &httptrace.ClientTrace{GotConn: c.gotConn}
	header, http2Only := req.Header, c.input.HTTP2OnlyHeaders
	if len(http2Only) > 0 {
		trace.GotConn = func(info httptrace.GotConnInfo) {
			c.gotConn(info)
			dropHTTP2OnlyOn(header, http2Only, info.Conn)
		}
	}
	req = req.WithContext(httptrace.WithClientTrace(c.ctx, trace))
	if c.logger != nil {
		c.logger.Debug("request %s %s headers %v", req.Method, req.URL.String(), req.Header)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if reason := c.abortReason(); reason != nil {
			return nil, reason
		}
		return nil, fmt.Errorf("failed to do request: %w", err)
	}
	if !c.attachBody(resp.Body) {
		return nil, c.abortReason()
	}
	if c.logger != nil {
		c.logger.Debug("response %s %d headers %v", resp.Proto, resp.StatusCode, resp.Header)
	}
	return resp, nil
}

func buildRequest(in *RequestInput) (*http.Request, error) {
	if in.RequestMethod == "" || in.RequestURL == "" {
		return nil, newError(CodeInvalidInput, "no request url or request method provided")
	}
	var body io.Reader
	if len(in.rawRequestBody) > 0 {
		body = bytes.NewReader(in.rawRequestBody)
	} else if in.RequestBody != nil && *in.RequestBody != "" {
		raw := []byte(*in.RequestBody)
		if in.IsByteRequest {
			decoded, err := base64.StdEncoding.DecodeString(*in.RequestBody)
			if err != nil {
				return nil, newError(CodeInvalidInput, "failed to base64 decode request body: "+err.Error())
			}
			raw = decoded
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(in.RequestMethod, in.RequestURL, body)
	if err != nil {
		return nil, newError(CodeInvalidURL, "failed to create request object: "+err.Error())
	}
	switch strings.ToLower(req.URL.Scheme) {
	case "http", "https":
	default:
		return nil, newError(CodeUnsupportedScheme, fmt.Sprintf("invalid URL scheme: [%s] in %q", req.URL.Scheme, in.RequestURL))
	}
	if req.URL.Host == "" {
		return nil, newError(CodeInvalidURL, fmt.Sprintf("failed to create request object: no host in URL %q", in.RequestURL))
	}
	headersFrom := in
	if in.Latin1Headers && in.HeadersList != nil {
		pairs, err := latin1Pairs(in.HeadersList)
		if err != nil {
			return nil, err
		}
		local := *in
		local.HeadersList = pairs
		headersFrom = &local
	}
	header, order, host, hostName := requestHeaders(headersFrom)
	if host != "" {
		req.Host = host
	}
	if in.RequestHostOverride != nil {
		req.Host = *in.RequestHostOverride
	}
	if in.HeadersList != nil {
		// headersList is the exact header block; the patched fhttp adds
		// no User-Agent of its own (third_party/fhttp/PATCHES.md).
		order = placeHost(header, order, hostName, req.Host)
	} else if !in.RawBody && !hasHeader(header, "Accept-Encoding") && req.Method != http.MethodHead &&
		!hasHeader(header, "Range") && !(in.TransportOptions != nil && in.TransportOptions.DisableCompression) {
		// Upstream's transport adds this when the caller does not; ours
		// has compression off (we decode ourselves), so add it here.
		header["Accept-Encoding"] = []string{"gzip, deflate, br"}
	}
	header[http.HeaderOrderKey] = order
	req.Header = header
	for _, c := range in.RequestCookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return req, nil
}

// requestHeaders turns either headersList (ordered, repeatable) or
// upstream's headers+headerOrder into a header map with an order key.
// Content-Length is left out of the map because Go computes it (a caller's
// copy would be sent in addition), but keeps its place in headersList's
// order, where Go's value then goes. Host becomes the request's Host;
// hostName is its name as headersList spells it, "" if it has none.
func requestHeaders(in *RequestInput) (header http.Header, order []string, host, hostName string) {
	header = http.Header{}
	seen := map[string]bool{}
	add := func(name, value string) {
		lower := strings.ToLower(name)
		switch lower {
		case "content-length":
		case "host":
			if hostName == "" {
				hostName = name
			}
			host = value
		default:
			header[name] = append(header[name], value)
		}
		if !seen[lower] {
			seen[lower] = true
			order = append(order, lower)
		}
	}
	if in.HeadersList != nil {
		for _, pair := range in.HeadersList {
			add(pair[0], pair[1])
		}
		return header, order, host, hostName
	}
	for name, value := range in.Headers {
		if strings.EqualFold(name, "content-length") {
			continue
		}
		if strings.EqualFold(name, "host") {
			host = value
			continue
		}
		header[name] = []string{value}
	}
	return header, in.HeaderOrder, host, ""
}

func hasHeader(h http.Header, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// responseMeta fills everything of the envelope but the body.
func (b *Bridge) responseMeta(c *call, resp *http.Response) Response {
	out := Response{
		ID:           b.newID(),
		Status:       resp.StatusCode,
		Headers:      resp.Header,
		UsedProtocol: resp.Proto,
		Cookies:      cookiesFor(c.client, resp.Request),
	}
	if out.Headers == nil {
		out.Headers = map[string][]string{}
	}
	if c.input.Latin1Headers {
		out.Headers = latin1Header(out.Headers)
	}
	out.CloseDelimited = resp.ProtoMajor == 1 && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 &&
		resp.Request != nil && resp.Request.Method != http.MethodHead &&
		resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified && resp.StatusCode >= 200
	if resp.Request != nil && resp.Request.URL != nil {
		out.Target = resp.Request.URL.String()
	}
	if c.input.SessionID != nil && *c.input.SessionID != "" {
		out.SessionID = *c.input.SessionID
	}
	out.RemoteAddress, out.TLS = c.connectionInfo(c.input.WithPeerCertificate)
	return out
}

// bodyReader returns the body as the caller asked for it: untouched for
// rawBody, otherwise decoded by Content-Encoding with the then-wrong
// Content-Encoding/Content-Length headers removed.
func bodyReader(in *RequestInput, resp *http.Response) io.ReadCloser {
	if in.RawBody || (in.TransportOptions != nil && in.TransportOptions.DisableCompression) {
		return resp.Body
	}
	encoding := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch encoding {
	case "gzip", "br", "deflate", "zstd":
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		return http.DecompressBodyByType(resp.Body, encoding)
	}
	return resp.Body
}

func (b *Bridge) errorResponse(in *RequestInput, err error) Response {
	out := Response{ID: b.newID(), Body: err.Error(), ErrorCode: errorCode(err)}
	if in != nil && in.SessionID != nil && *in.SessionID != "" {
		out.SessionID = *in.SessionID
	}
	return out
}

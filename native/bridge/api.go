package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	http "github.com/bogdanfinn/fhttp"
	"golang.org/x/net/html/charset"
)

// Version is this library's own version, reported by getInfo.
const Version = "0.1.0"

// Capabilities lists the ABI features getInfo reports, so a binding can
// tell this library from a stock upstream one.
var Capabilities = []string{
	"request", "requestStream", "readStream", "readStreamAll", "cancelStream",
	"destroySession", "destroyAll", "getCookiesFromSession", "addCookiesToSession",
	"getInfo", "getStats", "attachCompletionSocket", "dropCompletionQueue",
	"headersList", "rawBody", "streamIdInput", "readStreamMaxBytes", "remoteAddress",
	"tlsInfo", "peerCertificate", "errorCode", "debugLog", "negativeTimeout",
	"perRequestDeadline", "streamOutputTruncate", "unknownProfileError",
	"binaryBuffers", "readStreamOutputPath", "registerProfiles",
	"sslKeyLogFile", "measureProfile", "latin1Headers", "webSocket", "readStreamInto",
}

func (b *Bridge) parseInput(payload []byte) (*RequestInput, error) {
	// A JSON null decodes into nothing without an error: refuse it as the
	// non-object it is (found by FuzzRequestInput).
	if string(bytes.TrimSpace(payload)) == "null" {
		return nil, newError(CodeInvalidInput, "the request input must be a JSON object, got null")
	}
	in := &RequestInput{}
	if err := json.Unmarshal(payload, in); err != nil {
		return nil, newError(CodeInvalidInput, err.Error())
	}
	return in, nil
}

// parseInputWithBody parses a request input whose body, if any, comes as
// raw bytes beside it: base64 inside the JSON costs a 50 MB upload about
// seven times its size in memory on the way, raw bytes about twice.
func (b *Bridge) parseInputWithBody(payload, body []byte) (*RequestInput, error) {
	in, err := b.parseInput(payload)
	if err != nil || len(body) == 0 {
		return in, err
	}
	if in.RequestBody != nil && *in.RequestBody != "" {
		return nil, newError(CodeInvalidInput, "a request body came both in requestBody and as the frame's body")
	}
	in.rawRequestBody = body
	return in, nil
}

// Request runs one request to completion: upstream's `request` export.
func (b *Bridge) Request(payload []byte) (string, []byte) { return b.requestOp(payload).parts() }

func (b *Bridge) requestOp(payload []byte) answer { return b.requestWithBody(payload, nil) }

// requestWithBody is request with the request body given as raw bytes
// (a submission frame's body) instead of inside the JSON.
func (b *Bridge) requestWithBody(payload, body []byte) answer {
	in, err := b.parseInputWithBody(payload, body)
	if err != nil {
		return responseAnswer(b.errorResponse(nil, err))
	}
	return responseAnswer(b.request(in))
}

func (b *Bridge) request(in *RequestInput) Response {
	c, err := b.startCall(in)
	if err != nil {
		return b.errorResponse(in, err)
	}
	completed := false
	defer func() { b.endCall(c, completed) }()
	resp, err := b.send(c)
	if err != nil {
		return b.withDebug(c, b.errorResponse(in, err))
	}
	body := bodyReader(in, resp)
	defer body.Close()
	out := b.responseMeta(c, resp)
	if in.StreamOutputPath != nil && *in.StreamOutputPath != "" {
		n, err := writeBodyToFile(c, body, *in.StreamOutputPath)
		if err != nil {
			return b.withDebug(c, b.errorResponse(in, b.bodyError(c, err)))
		}
		out.BodyBytes = n
		b.setBody(in, &out, resp.Header, nil)
		completed = true
		return b.withDebug(c, out)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return b.withDebug(c, b.errorResponse(in, b.bodyError(c, err)))
	}
	out.BodyBytes = int64(len(data))
	b.setBody(in, &out, resp.Header, data)
	completed = true
	return b.withDebug(c, out)
}

// bodyError names why a body read failed: our own cancel or deadline
// rather than the transport's wording of it.
func (b *Bridge) bodyError(c *call, err error) error {
	if reason := c.abortReason(); reason != nil {
		return reason
	}
	return err
}

func (b *Bridge) withDebug(c *call, out Response) Response {
	out.DebugLog = c.logger.snapshot()
	return out
}

// writeBodyToFile writes the exact body bytes to path, starting the file
// over (upstream appends, so a retry would follow a partial first
// attempt).
func writeBodyToFile(c *call, body io.Reader, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_TRUNC|os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return 0, newError(CodeFile, err.Error())
	}
	blockSize := defaultStreamBlockSize
	if c.input.StreamOutputBlockSize != nil && *c.input.StreamOutputBlockSize > 0 {
		blockSize = *c.input.StreamOutputBlockSize
	}
	n, copyErr := io.CopyBuffer(onlyWriter{f}, body, make([]byte, blockSize))
	if copyErr == nil && c.input.StreamOutputEOFSymbol != nil {
		_, copyErr = f.WriteString(*c.input.StreamOutputEOFSymbol)
	}
	closeErr := f.Close()
	if copyErr != nil {
		return n, copyErr
	}
	if closeErr != nil {
		return n, newError(CodeFile, closeErr.Error())
	}
	return n, nil
}

// onlyWriter hides *os.File's ReadFrom so CopyBuffer uses our block size.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		err = newError(CodeFile, err.Error())
	}
	return n, err
}

// setBody puts a whole body into the envelope: as upstream does
// (encodeBody), or with binaryBody in a buffer holding the bytes that body
// would have carried (for text, the UTF-8 transcoding, exact bytes
// included: JSON would have replaced invalid UTF-8).
func (b *Bridge) setBody(in *RequestInput, out *Response, header http.Header, data []byte) {
	if !in.BinaryBody {
		out.Body = encodeBody(in, header, data)
		return
	}
	if !in.IsByteResponse && len(data) > 0 {
		data = []byte(encodeBody(in, header, data))
	}
	out.Body = ""
	if len(data) > 0 {
		out.BodyBuffer = b.newBuffer(data)
	}
}

// encodeBody renders a body for the envelope: a base64 data URL for byte
// responses (upstream's shape), else text transcoded to UTF-8 by charset
// as upstream does. The whole body is read before transcoding, so a
// truncated body is an error, never a short success (upstream's text mode
// swallows truncation under 1 KiB).
func encodeBody(in *RequestInput, header http.Header, data []byte) string {
	if in.IsByteResponse {
		return "data:" + http.DetectContentType(data) + ";base64," + base64.StdEncoding.EncodeToString(data)
	}
	if len(data) == 0 {
		return ""
	}
	reader, err := charset.NewReader(bytes.NewReader(data), header.Get("Content-Type"))
	if err != nil {
		return string(data)
	}
	text, err := io.ReadAll(reader)
	if err != nil {
		return string(data)
	}
	return string(text)
}

// RequestStream starts a request and returns as soon as its headers
// arrive; the body is read with ReadStream / ReadStreamAll.
func (b *Bridge) RequestStream(payload []byte) (string, []byte) {
	return b.requestStreamOp(payload).parts()
}

func (b *Bridge) requestStreamOp(payload []byte) answer { return b.requestStreamWithBody(payload, nil) }

// requestStreamWithBody is requestStream with the request body given as
// raw bytes (a submission frame's body) instead of inside the JSON.
func (b *Bridge) requestStreamWithBody(payload, requestBody []byte) answer {
	in, err := b.parseInputWithBody(payload, requestBody)
	if err != nil {
		return responseAnswer(b.errorResponse(nil, err))
	}
	c, err := b.startCall(in)
	if err != nil {
		return responseAnswer(b.errorResponse(in, err))
	}
	resp, err := b.send(c)
	if err != nil {
		b.endCall(c, false)
		return responseAnswer(b.withDebug(c, b.errorResponse(in, err)))
	}
	body := bodyReader(in, resp)
	meta := b.responseMeta(c, resp)
	meta.StreamID = c.id
	expected := int64(-1)
	if body == resp.Body { // not decoded: Content-Length counts what is read
		expected = resp.ContentLength
	}
	s := newStream(c, body, meta, expected)

	b.mu.Lock()
	_, stillRunning := b.calls[c.id]
	if stillRunning {
		b.streams[c.id] = s
	}
	b.mu.Unlock()
	if !stillRunning {
		// cancelStream or destroyAll won the race while headers arrived.
		c.release(false)
		return responseAnswer(b.withDebug(c, b.errorResponse(in, errCancelled)))
	}
	b.streamsOpened.Add(1)
	out := b.withDebug(c, meta)
	if in.PrefetchBytes > 0 {
		b.prefetch(s, &out)
	}
	return responseAnswer(out)
}

// prefetch moves the first body bytes into the requestStream envelope. A
// body that ends (or fails) within the prefetch releases the stream at
// once, so the caller needs no further call.
func (b *Bridge) prefetch(s *stream, out *Response) {
	in := s.call.input
	deadline := time.Now().Add(time.Duration(max(in.PrefetchTimeoutMs, 0)) * time.Millisecond)
	var data []byte
	s.readMu.Lock()
	for len(data) < in.PrefetchBytes {
		wait := int(time.Until(deadline) / time.Millisecond)
		ev, got := s.next(max(wait, 0))
		if !got {
			break
		}
		if ev.eof {
			out.EOF = true
			break
		}
		if ev.err != nil {
			err := b.bodyError(s.call, ev.err)
			out.BodyError, out.BodyErrorCode = err.Error(), errorCode(err)
			break
		}
		data = append(data, ev.data...)
		if wait <= 0 {
			data = join(s.gather(data, in.PrefetchBytes))
			break
		}
	}
	s.readMu.Unlock()
	switch {
	case in.BinaryBody && len(data) == 0:
	case in.BinaryBody && len(data) >= in.BinaryMin:
		out.BodyBuffer = b.newBuffer(data)
	default:
		out.Body = prefetchedBody(in, data)
	}
	out.BodyBytes = int64(len(data))
	if out.EOF || out.BodyError != "" {
		b.finishStream(s, out.EOF)
		out.StreamID = ""
	}
}

func prefetchedBody(in *RequestInput, data []byte) string {
	if in.IsByteResponse {
		return "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(data)
	}
	return string(data)
}

func (b *Bridge) lookupStream(id string) (*stream, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.streams[id]
	return s, ok
}

// finishStream removes a stream that reached its end (completed: the whole
// body was delivered) and releases it.
func (b *Bridge) finishStream(s *stream, completed bool) {
	b.mu.Lock()
	_, ok := b.streams[s.call.id]
	if ok {
		delete(b.streams, s.call.id)
	}
	if b.calls[s.call.id] == s.call {
		delete(b.calls, s.call.id)
	}
	b.mu.Unlock()
	if ok {
		b.streamsClosed.Add(1)
	}
	s.output.close()
	s.call.release(completed)
}

// ReadStream returns the next piece of a stream's body.
func (b *Bridge) ReadStream(payload []byte) (string, []byte) { return b.readStreamOp(payload).parts() }

func (b *Bridge) readStreamOp(payload []byte) answer {
	var in readStreamInput
	if err := json.Unmarshal(payload, &in); err != nil {
		return responseAnswer(b.errorResponse(nil, newError(CodeInvalidInput, err.Error())))
	}
	out := StreamChunk{ID: b.newID(), StreamID: in.StreamID}
	s, ok := b.lookupStream(in.StreamID)
	if !ok {
		out.Error, out.ErrorCode = "unknown streamId: "+in.StreamID, CodeUnknownStream
		return chunkAnswer(out)
	}
	if reason := in.intoProblem(); reason != "" {
		out.Error, out.ErrorCode = reason, CodeInvalidInput
		return chunkAnswer(out)
	}
	s.readMu.Lock()
	var ev streamEvent
	var got bool
	var pieces [][]byte
	var written int
	var writeErr error
	switch {
	case in.OutputPath != "":
		// Under readMu, so that reads append in order.
		ev, got, written, writeErr = s.fill(in)
	case in.IntoLength > 0:
		ev, got, written = s.fillMemory(lentMemory(in.IntoAddress, in.IntoLength), in.TimeoutMs)
	default:
		ev, got = s.next(in.TimeoutMs)
		if got && !ev.terminal() {
			pieces = s.gather(ev.data, in.MaxBytes)
		}
	}
	s.readMu.Unlock()
	switch {
	case writeErr != nil:
		b.finishStream(s, false)
		out.Error, out.ErrorCode = writeErr.Error(), errorCode(writeErr)
	case written > 0:
		// A fill that met the end leaves it for the next read: one
		// outcome per answer.
		out.Written = written
	case !got:
		out.Timeout = true
	case ev.eof:
		if err := s.output.close(); err != nil {
			b.finishStream(s, false)
			out.Error, out.ErrorCode = err.Error(), errorCode(err)
			break
		}
		b.finishStream(s, true)
		out.EOF = true
	case ev.err != nil:
		err := b.bodyError(s.call, ev.err)
		b.finishStream(s, false)
		out.Error, out.ErrorCode = err.Error(), errorCode(err)
	case in.Binary && totalLen(pieces) >= in.BinaryMin:
		// The pump never writes to data it has sent, so the pieces can be
		// held until taken.
		out.ChunkBuffer, out.ChunkLength = b.newBuffer(pieces...), totalLen(pieces)
	default:
		out.Chunk = base64.StdEncoding.EncodeToString(join(pieces))
	}
	return chunkAnswer(out)
}

// ReadStreamAll drains what is left of a stream into a normal envelope.
func (b *Bridge) ReadStreamAll(payload []byte) (string, []byte) {
	return b.readStreamAllOp(payload).parts()
}

func (b *Bridge) readStreamAllOp(payload []byte) answer {
	var in streamIDInput
	if err := json.Unmarshal(payload, &in); err != nil {
		return responseAnswer(b.errorResponse(nil, newError(CodeInvalidInput, err.Error())))
	}
	s, ok := b.lookupStream(in.StreamID)
	if !ok {
		return responseAnswer(b.errorResponse(nil, newError(CodeUnknownStream, "unknown streamId: "+in.StreamID)))
	}
	var body bytes.Buffer
	s.readMu.Lock()
	var failure error
	for {
		ev, _ := s.next(-1)
		if ev.eof {
			break
		}
		if ev.err != nil {
			failure = b.bodyError(s.call, ev.err)
			break
		}
		body.Write(ev.data)
	}
	s.readMu.Unlock()
	b.finishStream(s, failure == nil)
	if failure != nil {
		return responseAnswer(b.errorResponse(s.call.input, failure))
	}
	out := s.meta
	out.ID = b.newID()
	out.BodyBytes = int64(body.Len())
	b.setBody(s.call.input, &out, s.meta.Headers, body.Bytes())
	return responseAnswer(out)
}

// CancelStream aborts a stream, or a call still waiting for headers;
// idempotent, and an id not seen yet is remembered for a while.
func (b *Bridge) CancelStream(payload []byte) (string, []byte) {
	var in streamIDInput
	if err := json.Unmarshal(payload, &in); err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		return out.ID, marshal(out)
	}
	if in.StreamID != "" {
		b.cancelCall(in.StreamID)
	}
	out := successOutput{ID: b.newID(), Success: true}
	return out.ID, marshal(out)
}

// DestroySession closes a session's idle connections and forgets it.
func (b *Bridge) DestroySession(payload []byte) (string, []byte) {
	var in sessionInput
	if err := json.Unmarshal(payload, &in); err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		return out.ID, marshal(out)
	}
	b.sessions.remove(in.SessionID)
	out := successOutput{ID: b.newID(), Success: true}
	return out.ID, marshal(out)
}

// DestroyAll cancels every call and stream, closes every session and
// releases every body buffer not taken yet.
func (b *Bridge) DestroyAll() (string, []byte) {
	b.mu.Lock()
	ids := make([]string, 0, len(b.calls)+len(b.streams))
	for id := range b.calls {
		ids = append(ids, id)
	}
	for id := range b.streams {
		if _, ok := b.calls[id]; !ok {
			ids = append(ids, id)
		}
	}
	b.mu.Unlock()
	for _, id := range ids {
		b.cancelCall(id)
	}
	b.mu.Lock()
	for _, id := range ids {
		delete(b.tombstones, id)
	}
	b.mu.Unlock()
	b.closeAllWebSockets()
	b.sessions.removeAll()
	b.buffers.discardAll()
	out := successOutput{ID: b.newID(), Success: true}
	return out.ID, marshal(out)
}

// GetCookiesFromSession returns a session jar's cookies for a URL.
func (b *Bridge) GetCookiesFromSession(payload []byte) (string, []byte) {
	return b.sessionCookies(payload, false)
}

// AddCookiesToSession adds cookies to a session jar, then returns them.
func (b *Bridge) AddCookiesToSession(payload []byte) (string, []byte) {
	return b.sessionCookies(payload, true)
}

func (b *Bridge) sessionCookies(payload []byte, add bool) (string, []byte) {
	var in cookiesInput
	if err := json.Unmarshal(payload, &in); err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidInput, err.Error()))
		return out.ID, marshal(out)
	}
	client, ok := b.sessions.get(in.SessionID)
	if !ok {
		out := b.errorResponse(nil, newError(CodeUnknownSession, "no client found for sessionId: "+in.SessionID))
		return out.ID, marshal(out)
	}
	req, err := http.NewRequest(http.MethodGet, in.URL, nil)
	if err != nil {
		out := b.errorResponse(nil, newError(CodeInvalidURL, err.Error()))
		return out.ID, marshal(out)
	}
	out := cookiesOutput{ID: b.newID()}
	if client.GetCookieJar() == nil {
		return out.ID, marshal(out)
	}
	if add {
		cookies := make([]*http.Cookie, 0, len(in.Cookies))
		for _, c := range in.Cookies {
			cookies = append(cookies, c.toHTTP())
		}
		client.SetCookies(req.URL, cookies)
	}
	out.Cookies = []Cookie{}
	for _, c := range client.GetCookies(req.URL) {
		out.Cookies = append(out.Cookies, cookieFromHTTP(c))
	}
	return out.ID, marshal(out)
}

// Info is getInfo's answer.
type Info struct {
	ID               string   `json:"id"`
	Version          string   `json:"version"`
	TLSClientVersion string   `json:"tlsClientVersion"`
	GoVersion        string   `json:"goVersion"`
	DefaultProfile   string   `json:"defaultProfile"`
	Profiles         []string `json:"profiles"`
	Capabilities     []string `json:"capabilities"`
}

// GetInfo reports versions, capabilities and the valid profile names.
func (b *Bridge) GetInfo() (string, []byte) {
	out := Info{
		ID: b.newID(), Version: Version, GoVersion: runtime.Version(),
		TLSClientVersion: moduleVersion("github.com/bogdanfinn/tls-client"),
		DefaultProfile:   DefaultProfileName(), Profiles: ProfileNames(), Capabilities: Capabilities,
	}
	return out.ID, marshal(out)
}

func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			return dep.Version
		}
	}
	return "unknown"
}

// Stats is getStats' answer: live counts for tests, stats and leak checks.
type Stats struct {
	ID             string `json:"id"`
	Sessions       int    `json:"sessions"`
	CallsInFlight  int    `json:"callsInFlight"`
	StreamsOpen    int    `json:"streamsOpen"`
	StreamsOpened  int64  `json:"streamsOpened"`
	StreamsClosed  int64  `json:"streamsClosed"`
	CallsStarted   int64  `json:"callsStarted"`
	CallsCancelled int64  `json:"callsCancelled"`
	// Submissions not completed yet plus completions not written yet.
	CompletionsPending int `json:"completionsPending"`
	// Cancels remembered for ids not (yet) seen.
	Tombstones int `json:"tombstones"`
	Goroutines int `json:"goroutines"`
	// Body buffers (binary reads) neither taken nor released, and their
	// size: nonzero at rest means a caller dropped handles.
	UntakenBuffers     int   `json:"untakenBuffers"`
	UntakenBufferBytes int64 `json:"untakenBufferBytes"`
	// WebSocketsOpen counts the WebSockets opened and not yet released.
	WebSocketsOpen int `json:"webSocketsOpen"`
}

// GetStats reports the bridge's live counters.
func (b *Bridge) GetStats() (string, []byte) {
	b.mu.Lock()
	out := Stats{ID: b.newID(), CallsInFlight: len(b.calls), StreamsOpen: len(b.streams), Tombstones: len(b.tombstones)}
	b.mu.Unlock()
	out.Sessions = b.sessions.count()
	out.StreamsOpened = b.streamsOpened.Load()
	out.StreamsClosed = b.streamsClosed.Load()
	out.CallsStarted = b.callsStarted.Load()
	out.CallsCancelled = b.callsCancelled.Load()
	out.Goroutines = runtime.NumGoroutine()
	out.CompletionsPending = b.completions.pending()
	out.UntakenBuffers, out.UntakenBufferBytes = b.buffers.stats()
	out.WebSocketsOpen = b.webSockets.count()
	return out.ID, marshal(out)
}

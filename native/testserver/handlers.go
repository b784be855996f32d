package testserver

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on query parameters, so that a typo in a test cannot make the
// server send or wait for practically ever.
const (
	maxBytes  = 4 << 30
	maxDelay  = 120 * time.Second
	maxChunks = 100000
)

const (
	pieceSize  = 16 << 10 // unit of writing and flushing large bodies
	maxBodyB64 = 64 << 10 // /echo returns bodies up to this size verbatim
	maxServed  = 64 << 20 // /serve sends back bodies up to this size
)

// Handler returns the endpoints of the test servers:
//
//	/echo, /echo/...  request as JSON, see [EchoReply]
//	/bytes?n=1024&chunked=0        n bytes, byte i = i%256
//	/gzip?n=1024, /deflate?n=1024  the /bytes payload gzip- or zlib-encoded
//	POST /serve?encoding=br        the request body as the response body,
//	                               labelled with that Content-Encoding
//	/stream?chunks=5&size=1024&interval_ms=0
//	/sse?events=3&interval_ms=0    events=0 streams until the client leaves
//	/slow?delay_ms=1000            waits before the headers, then "ok"
//	/slowbody?delay_ms=1000&n=2    headers now, n bytes 'x' after the delay
//	/stall?n=1024                  announces 2n bytes, sends n, never ends
//	/truncate?declared=100&send=50&chunked=0
//	/status/{code}                 status code (200-999), body "status {code}";
//	                               204 and 304 have none (?length=N announces N)
//	/redirect?to=/echo&code=302    redirect with a Set-Cookie, empty body
//	/cookies                       two Set-Cookie and two X-Dup headers
//	/conns                         {"accepted": N} for the serving server
//	/ranges?key=K&n=N&cuts=C       a file served with Range/If-Range, cut C times;
//	                               /ranges/log?key=K says what was sent (ranges.go)
//
// The values shown are the defaults. Sizes above 4 GiB, delays above 120 s
// and more than 100000 chunks or events are answered with 400.
//
// Connection counting and wire-order headers need the servers of [Start];
// under another server /conns answers 501 and /echo reports sorted headers.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", handleEcho)
	mux.HandleFunc("/echo/", handleEcho)
	mux.HandleFunc("/bytes", handleBytes)
	mux.HandleFunc("/gzip", handleEncoded("gzip", func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }))
	mux.HandleFunc("/deflate", handleEncoded("deflate", func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) }))
	mux.HandleFunc("POST /serve", handleServe)
	mux.HandleFunc("/stream", handleStream)
	mux.HandleFunc("/sse", handleSSE)
	mux.HandleFunc("/slow", handleSlow)
	mux.HandleFunc("/slowbody", handleSlowBody)
	mux.HandleFunc("/stall", handleStall)
	mux.HandleFunc("/truncate", handleTruncate)
	mux.HandleFunc("/status/{code}", handleStatus)
	mux.HandleFunc("/redirect", handleRedirect)
	mux.HandleFunc("/cookies", handleCookies)
	mux.HandleFunc("/conns", handleConns)
	mux.HandleFunc("/tls", handleTLS)
	registerLive(mux)
	registerRanges(mux)
	registerWebSocket(mux)
	return withWireHeaders(mux)
}

// EchoReply is the JSON body of /echo.
//
// On HTTP/1.1 connections of [Start], Headers lists the header fields in
// wire order with their original case, repeated names as separate entries,
// Host included, and HeaderOrder is "wire". On HTTP/2, and whenever the
// wire bytes are unavailable, Headers comes from Request.Header: sorted by
// name, names lower-cased, one entry per value, no Host (see the Host field);
// HeaderOrder is then "sorted".
type EchoReply struct {
	Method      string      `json:"method"`
	Path        string      `json:"path"` // RequestURI: path and query as received
	Proto       string      `json:"proto"`
	Host        string      `json:"host"`
	Remote      string      `json:"remote"` // the client's ip:port, as the server saw it
	Headers     [][2]string `json:"headers"`
	HeaderOrder string      `json:"header_order"`
	BodyLen     int64       `json:"body_len"`
	BodySHA256  string      `json:"body_sha256"`
	BodyB64     string      `json:"body_b64"` // "" if the body exceeds 64 KiB
}

func handleEcho(w http.ResponseWriter, r *http.Request) {
	reply := EchoReply{
		Method: r.Method,
		Path:   r.RequestURI,
		Proto:  r.Proto,
		Host:   r.Host,
		Remote: r.RemoteAddr,
	}
	if fields, ok := wireHeaders(r); ok {
		reply.Headers, reply.HeaderOrder = fields, "wire"
	} else {
		reply.Headers, reply.HeaderOrder = sortedHeaders(r.Header), "sorted"
	}
	// Hash while reading so that large uploads need no memory.
	sum := sha256.New()
	prefix := &prefixBuffer{limit: maxBodyB64 + 1}
	n, err := io.Copy(io.MultiWriter(sum, prefix), r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	reply.BodyLen = n
	reply.BodySHA256 = hex.EncodeToString(sum.Sum(nil))
	if n <= maxBodyB64 {
		reply.BodyB64 = base64.StdEncoding.EncodeToString(prefix.b)
	}
	writeJSON(w, reply)
}

func sortedHeaders(h http.Header) [][2]string {
	fields := [][2]string{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			fields = append(fields, [2]string{strings.ToLower(name), v})
		}
	}
	return fields
}

// prefixBuffer keeps the first limit bytes written to it and discards the rest.
type prefixBuffer struct {
	b     []byte
	limit int
}

func (p *prefixBuffer) Write(b []byte) (int, error) {
	if room := p.limit - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func handleBytes(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	n := q.int("n", 1024, maxBytes)
	chunked := q.flag("chunked")
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if !chunked {
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_ = writeRepeated(r.Context(), w, pattern, n, nil)
		return
	}
	// Flushing every piece keeps net/http from buffering the whole body
	// and so from adding a Content-Length.
	rc := http.NewResponseController(w)
	_ = writeRepeated(r.Context(), w, pattern, n, rc.Flush)
}

// handleEncoded serves the /bytes payload compressed. The body is compressed
// into memory first to announce its Content-Length; the payload repeats every
// 256 bytes, so it shrinks about 250-fold (4 GiB take 16 MiB).
func handleEncoded(encoding string, newWriter func(io.Writer) io.WriteCloser) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := query(r)
		n := q.int("n", 1024, maxBytes)
		if q.failed(w) {
			return
		}
		var body bytes.Buffer
		zw := newWriter(&body)
		if err := writeRepeated(r.Context(), zw, pattern, n, nil); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Encoding", encoding)
		h.Set("Content-Length", strconv.Itoa(body.Len()))
		_, _ = w.Write(body.Bytes())
	}
}

// handleServe answers with the request's own body, labelled with the
// Content-Encoding the query names, exactly as it came: tests craft hostile
// encoded bodies (bombs, gzip members and zstd frames in a row, streams cut
// short) and the server sends them untouched.
func handleServe(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxServed+1))
	if err != nil || len(body) > maxServed {
		http.Error(w, "a /serve body is read whole, up to 64 MiB", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if encoding := r.URL.Query().Get("encoding"); encoding != "" {
		h.Set("Content-Encoding", encoding)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func handleStream(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	chunks := q.int("chunks", 5, maxChunks)
	size := q.int("size", 1024, maxBytes)
	interval := q.duration("interval_ms", 0)
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rc := http.NewResponseController(w)
	block := make([]byte, min(size, pieceSize))
	for j := range chunks {
		if j > 0 && !sleep(r.Context(), interval) {
			return
		}
		for i := range block {
			block[i] = 'a' + byte(j%26)
		}
		if writeRepeated(r.Context(), w, block, size, nil) != nil || rc.Flush() != nil {
			return
		}
	}
}

func handleSSE(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	events := q.int("events", 3, maxChunks)
	interval := q.duration("interval_ms", 0)
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for j := int64(0); events == 0 || j < events; j++ {
		if j > 0 && !sleep(r.Context(), interval) {
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", j, j); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

func handleSlow(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	delay := q.duration("delay_ms", time.Second)
	if q.failed(w) {
		return
	}
	if !sleep(r.Context(), delay) {
		// The client is gone. Returning would still send an empty 200, which
		// can reach a client whose cancellation raced with it; abort instead.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

func handleSlowBody(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	delay := q.duration("delay_ms", time.Second)
	n := q.int("n", 2, maxBytes)
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	if http.NewResponseController(w).Flush() != nil || !sleep(r.Context(), delay) {
		return
	}
	_ = writeRepeated(r.Context(), w, bytes.Repeat([]byte{'x'}, int(min(n, pieceSize))), n, nil)
}

func handleStall(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	n := q.int("n", 1024, maxBytes)
	if q.failed(w) {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(2*n, 10))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil || writeRepeated(r.Context(), w, pattern, n, nil) != nil || rc.Flush() != nil {
		return
	}
	<-r.Context().Done()
}

// handleTruncate sends part of a body and then kills the connection (the
// stream on HTTP/2), to exercise clients' detection of incomplete responses.
func handleTruncate(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	declared := q.int("declared", 100, maxBytes)
	send := q.int("send", 50, maxBytes)
	chunked := q.flag("chunked")
	if !chunked && send >= declared {
		q.fail(fmt.Errorf("send=%d must be below declared=%d", send, declared))
	}
	if q.failed(w) {
		return
	}
	if chunked && r.ProtoMajor == 1 {
		truncateChunked(w, send)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if !chunked {
		w.Header().Set("Content-Length", strconv.FormatInt(declared, 10))
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if writeRepeated(r.Context(), w, pattern, send, nil) != nil || rc.Flush() != nil {
		return
	}
	if r.ProtoMajor == 1 {
		if conn, _, err := rc.Hijack(); err == nil {
			_ = rawConn(conn).Close()
			return
		}
	}
	// An HTTP/2 stream cannot be hijacked; this makes the server reset it.
	// First a pause, as the fault server makes (faultResetDelay): a reset
	// right behind the head can reach the client's round trip with it, and
	// its transport then reports either the head or the reset, at random.
	sleep(r.Context(), faultResetDelay)
	panic(http.ErrAbortHandler)
}

// truncateChunked writes a chunked response by hand, since net/http would
// always finish it, and drops the connection before the last chunk.
func truncateChunked(w http.ResponseWriter, send int64) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rawConn(conn).Close()
	_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	if send > 0 {
		_, _ = fmt.Fprintf(bw, "%x\r\n", send)
		_ = writeRepeated(context.Background(), bw, pattern, send, nil)
		_, _ = bw.WriteString("\r\n")
	}
	_ = bw.Flush()
}

func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 999 {
		http.Error(w, "status code must be within 200-999", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if code == http.StatusNoContent || code == http.StatusNotModified {
		// A Content-Length that describes the body a 200 would have had,
		// as a cache validator's 304 may send (RFC 9110 8.6).
		if length := r.URL.Query().Get("length"); length != "" {
			w.Header().Set("Content-Length", length)
		}
		w.WriteHeader(code)
		return
	}
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "status %d", code)
}

func handleRedirect(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	code := q.int("code", http.StatusFound, 399)
	if code < 300 {
		q.fail(fmt.Errorf("code=%d is not a redirect", code))
	}
	if q.failed(w) {
		return
	}
	to := r.URL.Query().Get("to")
	if to == "" {
		to = "/echo"
	}
	// Set directly rather than with http.Redirect, which would add a body.
	w.Header().Set("Location", to)
	w.Header().Set("Set-Cookie", "redirected=1; Path=/")
	w.WriteHeader(int(code))
}

func handleCookies(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Add("Set-Cookie", "a=1; Path=/")
	h.Add("Set-Cookie", "b=2; Path=/")
	h.Add("X-Dup", "one")
	h.Add("X-Dup", "two")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "cookies")
}

func handleConns(w http.ResponseWriter, r *http.Request) {
	s, ok := r.Context().Value(serverKey{}).(*server)
	if !ok {
		http.Error(w, "connection counting needs a server from testserver.Start", http.StatusNotImplemented)
		return
	}
	writeJSON(w, map[string]int64{"accepted": s.accepted.Load()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// pattern is the start of the /bytes payload. Its length is a multiple of
// 256, so every pieceSize-aligned stretch of the payload is a prefix of it.
var pattern = func() []byte {
	b := make([]byte, pieceSize)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// writeRepeated writes n bytes made of block repeated, which must therefore
// be periodic with a period dividing len(block). It writes in pieces so that
// bodies of any size need only the block in memory, and calls flush after
// each piece if flush is not nil.
func writeRepeated(ctx context.Context, w io.Writer, block []byte, n int64, flush func() error) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(n, int64(len(block)))
		if _, err := w.Write(block[:k]); err != nil {
			return err
		}
		n -= k
		if flush != nil {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sleep waits for d unless ctx ends first, which it reports as false.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// params reads query parameters and remembers the first invalid one.
type params struct {
	r   *http.Request
	err error
}

func query(r *http.Request) *params { return &params{r: r} }

func (p *params) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// int returns the non-negative integer parameter name, or def if absent.
func (p *params) int(name string, def, limit int64) int64 {
	s := p.r.URL.Query().Get(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil || v < 0:
		p.fail(fmt.Errorf("%s=%q: want a non-negative integer", name, s))
	case v > limit:
		p.fail(fmt.Errorf("%s=%d exceeds the limit %d", name, v, limit))
	default:
		return v
	}
	return def
}

// duration returns the parameter name, given in milliseconds.
func (p *params) duration(name string, def time.Duration) time.Duration {
	return time.Duration(p.int(name, def.Milliseconds(), maxDelay.Milliseconds())) * time.Millisecond
}

func (p *params) flag(name string) bool {
	v, _ := strconv.ParseBool(p.r.URL.Query().Get(name))
	return v
}

// failed answers 400 if a parameter was invalid.
func (p *params) failed(w http.ResponseWriter) bool {
	if p.err != nil {
		http.Error(w, p.err.Error(), http.StatusBadRequest)
	}
	return p.err != nil
}

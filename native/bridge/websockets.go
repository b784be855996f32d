package bridge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	http "github.com/bogdanfinn/fhttp"
	"github.com/bogdanfinn/websocket"
)

// WebSockets (docs/abi.rst, "WebSockets"): openWebSocket dials with the
// session's client, so the handshake goes out with its profile's
// ClientHello (ALPN http/1.1 only: tls-client's dialTLSForWebsocket, as
// RFC 8441 WebSockets over HTTP/2 are not supported by fhttp) through its
// proxy dialer, and the request's headers in their order. Messages are
// pushed to the completion socket under pushWebSocket's ticket with the
// credit of pushed streams (pushes.go): without credit the reader stops
// reading the socket, so the server is slowed by TCP and nothing is
// dropped.

const (
	// wsBufferSize is the websocket connection's read and write buffer:
	// one frame header plus a TLS record's plaintext fits with room.
	wsBufferSize = 64 << 10
	// wsCloseWait bounds how long a close frame we sent waits for the
	// peer's before the connection is closed anyway (RFC 6455 7.1.1 lets
	// the client close the TCP connection when the server does not).
	wsCloseWait = 2 * time.Second
	// wsControlWait bounds the write of one control frame (close) to a
	// peer that stopped reading.
	wsControlWait = time.Second
	// defaultWSMessageMax bounds one message's size unless the caller
	// gives maxMessageBytes: a peer cannot make one message use unbounded
	// memory.
	defaultWSMessageMax = 64 << 20
)

// The headers the websocket dialer writes itself: a caller's copy would
// be sent twice (Upgrade, Connection) or refused (Key, Version).
var wsDialerHeaders = map[string]bool{
	"upgrade": true, "connection": true, "sec-websocket-key": true, "sec-websocket-version": true,
}

// wsOpenInput is openWebSocket's input: a request input whose URL is
// ws:// or wss://, plus the largest message accepted.
type wsOpenInput struct {
	RequestInput
	MaxMessageBytes int `json:"maxMessageBytes"`
}

type wsIDInput struct {
	WebSocketID string `json:"webSocketId"`
}

type wsPushInput struct {
	WebSocketID string `json:"webSocketId"`
	// Window is the credit the caller grants at the start, in bytes.
	Window int `json:"window"`
}

// wsSendInput is sendWebSocket's input; the message is the submission
// frame's body, raw bytes (UTF-8 for text).
type wsSendInput struct {
	WebSocketID string `json:"webSocketId"`
	// Type is "text" or "binary".
	Type string `json:"type"`
}

type wsCloseInput struct {
	WebSocketID string `json:"webSocketId"`
	Code        int    `json:"code"`
	Reason      string `json:"reason"`
}

// WebSocketEvent is one pushed message, or the end of the connection: the
// peer's close (closed, with its code and reason) or an error.
type WebSocketEvent struct {
	ID          string `json:"id"`
	WebSocketID string `json:"webSocketId"`
	// Type is "text" or "binary"; the message's bytes are in ChunkBuffer.
	Type        string `json:"type,omitempty"`
	ChunkBuffer string `json:"chunkBuffer,omitempty"`
	ChunkLength int    `json:"chunkLength,omitempty"`
	Closed      bool   `json:"closed,omitempty"`
	CloseCode   int    `json:"closeCode,omitempty"`
	CloseReason string `json:"closeReason,omitempty"`
	Error       string `json:"error,omitempty"`
	ErrorCode   string `json:"errorCode,omitempty"`
}

// wsConn is an open WebSocket.
type wsConn struct {
	id      string
	conn    *websocket.Conn
	session *session
	// ephemeral: the session was built for this socket only.
	ephemeral bool

	writeMu sync.Mutex // one writer of data frames at a time

	outMu   sync.Mutex
	outbox  []wsWrite // sends and closes not yet written, in order
	writing bool      // a goroutine is writing the outbox

	creditMu sync.Mutex
	credit   *credit
	queue    string // the completion queue it was opened on

	once    sync.Once
	done    chan struct{}
	reasonM sync.Mutex
	reason  error // why it was released by us (cancel, dropped queue)
	// closeSent: we sent a close frame; the peer's answer ends the socket.
	closeSent bool
}

func (w *wsConn) abortReason() error {
	w.reasonM.Lock()
	defer w.reasonM.Unlock()
	return w.reason
}

// webSockets holds the open sockets by id.
type webSockets struct {
	mu      sync.Mutex
	sockets map[string]*wsConn
}

func (ws *webSockets) get(id string) (*wsConn, bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w, ok := ws.sockets[id]
	return w, ok
}

func (ws *webSockets) all() []*wsConn {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make([]*wsConn, 0, len(ws.sockets))
	for _, w := range ws.sockets {
		out = append(out, w)
	}
	return out
}

func (ws *webSockets) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.sockets)
}

// release closes w's connection and forgets it; code (not 0) is sent in a
// close frame first, so the peer sees a proper close (going away on
// cancel). Idempotent.
func (b *Bridge) releaseWebSocket(w *wsConn, code int, reason error) {
	w.once.Do(func() {
		w.reasonM.Lock()
		w.reason = reason
		sent := w.closeSent
		w.reasonM.Unlock()
		if code != 0 && !sent {
			_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""),
				time.Now().Add(wsControlWait))
		}
		_ = w.conn.Close()
		close(w.done)
		b.webSockets.mu.Lock()
		delete(b.webSockets.sockets, w.id)
		b.webSockets.mu.Unlock()
		if w.ephemeral {
			w.session.close()
		}
	})
}

// cancelWebSocket releases the socket id names with a going-away close
// frame; false if there is none.
func (b *Bridge) cancelWebSocket(id string) bool {
	w, ok := b.webSockets.get(id)
	if ok {
		b.releaseWebSocket(w, websocket.CloseGoingAway, errCancelled)
	}
	return ok
}

// wsHeaders splits the request's headers into what the dialer is given
// and their order (lower-case names, as fhttp's order key wants them).
// Names keep the request's spelling (the browser's HTTP/1.1 case, which
// the caller chose), but for the two the dialer recognises under its own
// spelling: Sec-WebSocket-Extensions (not one it writes itself, so the
// browser's offer goes out as given) and Sec-WebSocket-Protocol.
//
// The order is the request's, or headerOrder when the caller gives one
// with headersList: it also places the headers the dialer writes itself
// (Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version), which
// fhttp's writer then puts where the browser does. Host goes first unless
// the order places it: every browser captured writes it first (Chromium,
// Firefox: native/captures/*-websocket.json).
func wsHeaders(in *RequestInput) http.Header {
	header, order, host, _ := requestHeaders(in)
	if in.HeadersList != nil && len(in.HeaderOrder) > 0 {
		given := order
		order = make([]string, 0, len(in.HeaderOrder)+len(given))
		placed := map[string]bool{}
		for _, name := range append(append([]string{}, in.HeaderOrder...), given...) {
			lower := strings.ToLower(name)
			if !placed[lower] {
				placed[lower] = true
				order = append(order, lower)
			}
		}
	}
	if !slices.Contains(order, "host") {
		order = append([]string{"host"}, order...)
	}
	out := http.Header{}
	for name, values := range header {
		lower := strings.ToLower(name)
		if wsDialerHeaders[lower] || len(values) == 0 {
			continue
		}
		switch lower {
		case "sec-websocket-extensions":
			out["Sec-WebSocket-Extensions"] = values
		case "sec-websocket-protocol":
			out["Sec-Websocket-Protocol"] = values
		default:
			out[name] = append(out[name], values...)
		}
	}
	if host != "" {
		out["Host"] = []string{host}
	}
	out[http.HeaderOrderKey] = order
	return out
}

// openWebSocket dials, answering with the handshake's status and
// headers; a 101 carries the socket's id as streamId. A refused handshake
// (any other status) is an ordinary response with the start of its body.
func (b *Bridge) openWebSocket(payload []byte, queue string) answer {
	var in wsOpenInput
	if string(payload) == "null" {
		return responseAnswer(b.errorResponse(nil, newError(CodeInvalidInput, "the openWebSocket input must be a JSON object")))
	}
	if err := json.Unmarshal(payload, &in); err != nil {
		return responseAnswer(b.errorResponse(nil, newError(CodeInvalidInput, err.Error())))
	}
	req := &in.RequestInput
	lower := strings.ToLower(req.RequestURL)
	if !strings.HasPrefix(lower, "ws://") && !strings.HasPrefix(lower, "wss://") {
		return responseAnswer(b.errorResponse(req, newError(CodeUnsupportedScheme,
			"openWebSocket needs a ws:// or wss:// requestUrl, got "+req.RequestURL)))
	}
	if in.MaxMessageBytes < 0 {
		return responseAnswer(b.errorResponse(req, newError(CodeInvalidInput, "maxMessageBytes must be >= 0 (0: 64 MiB)")))
	}
	id := req.StreamID
	if id == "" {
		id = b.newID()
	}
	if _, taken := b.webSockets.get(id); taken {
		return responseAnswer(b.errorResponse(req, newError(CodeInvalidInput, "webSocketId "+id+" is already in use")))
	}
	timeout, none, err := requestDeadline(req)
	if err != nil {
		return responseAnswer(b.errorResponse(req, err))
	}
	headersFrom := req
	if req.Latin1Headers && req.HeadersList != nil {
		// As buildRequest: each character of a value is one byte.
		pairs, err := latin1Pairs(req.HeadersList)
		if err != nil {
			return responseAnswer(b.errorResponse(req, err))
		}
		local := *req
		local.HeadersList = pairs
		headersFrom = &local
	}
	sess, ephemeral, err := b.sessions.sessionFor(req, nil)
	if err != nil {
		return responseAnswer(b.errorResponse(req, err))
	}
	client := sess.client
	var remote net.Addr
	track := func(c net.Conn, err error) (net.Conn, error) {
		if c != nil {
			sess.conns.add(c)
			remote = c.RemoteAddr()
		}
		return c, err
	}
	tlsDial, plainDial := client.GetTLSDialer(), client.GetDialer()
	if strings.HasPrefix(lower, "wss://") {
		// The browser's ClientHello for a connection offering http/1.1
		// only (websocket_hello.go).
		own, err := websocketTLSDialer(req)
		if err != nil {
			if ephemeral {
				sess.close()
			}
			return responseAnswer(b.errorResponse(req, err))
		}
		if own != nil {
			tlsDial = own
		}
	}
	dialer := &websocket.Dialer{
		ReadBufferSize:  wsBufferSize,
		WriteBufferSize: wsBufferSize,
		Jar:             client.GetCookieJar(),
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return track(tlsDial(ctx, network, addr))
		},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return track(plainDial.DialContext(ctx, network, addr))
		},
	}
	if !none {
		dialer.HandshakeTimeout = timeout
	}
	conn, resp, err := dialer.DialContext(context.Background(), req.RequestURL, wsHeaders(headersFrom))
	if err != nil && resp != nil && resp.StatusCode == http.StatusSwitchingProtocols {
		// A 101 whose Upgrade, Connection or Sec-WebSocket-Accept is wrong.
		err = newError(CodeProtocol, "websocket handshake: the server's 101 is not a valid WebSocket answer: "+err.Error())
		resp = nil
	}
	if err != nil && (resp == nil || !errors.Is(err, websocket.ErrBadHandshake)) {
		if ephemeral {
			sess.close()
		}
		return responseAnswer(b.errorResponse(req, err))
	}
	out := Response{ID: b.newID(), Status: resp.StatusCode, Headers: resp.Header, UsedProtocol: resp.Proto, Target: req.RequestURL}
	if out.Headers == nil {
		out.Headers = map[string][]string{}
	}
	if req.Latin1Headers {
		out.Headers = latin1Header(out.Headers)
	}
	if req.SessionID != nil {
		out.SessionID = *req.SessionID
	}
	if remote != nil {
		out.RemoteAddress = remote.String()
	}
	if conn == nil { // refused: the dialer kept the start of the body
		data, _ := io.ReadAll(resp.Body)
		out.Body, out.BodyBytes = string(data), int64(len(data))
		if req.IsByteResponse {
			out.Body = "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(data)
		}
		if ephemeral {
			sess.close()
		}
		return responseAnswer(out)
	}
	limit := int64(defaultWSMessageMax)
	if in.MaxMessageBytes > 0 {
		limit = int64(in.MaxMessageBytes)
	}
	conn.SetReadLimit(limit)
	w := &wsConn{id: id, conn: conn, session: sess, ephemeral: ephemeral, done: make(chan struct{}), queue: queue}
	b.webSockets.mu.Lock()
	b.webSockets.sockets[id] = w
	b.webSockets.mu.Unlock()
	out.StreamID = id
	return responseAnswer(out)
}

// pushWebSocket reads w's messages and pushes each to q under ticket while
// credit lasts, until the connection ends.
func (b *Bridge) pushWebSocket(q *completionQueue, ticket string, payload []byte) {
	deliver := func(ev WebSocketEvent, final bool) bool {
		c := Completion{Ticket: ticket, Op: "pushWebSocket", Result: marshal(ev), buffer: ev.ChunkBuffer}
		if q.deliver(c, final) {
			return true
		}
		b.buffers.discard(ev.ChunkBuffer)
		return false
	}
	var in wsPushInput
	if err := json.Unmarshal(payload, &in); err != nil {
		deliver(WebSocketEvent{ID: b.newID(), Error: err.Error(), ErrorCode: CodeInvalidInput}, true)
		return
	}
	ev := WebSocketEvent{ID: b.newID(), WebSocketID: in.WebSocketID}
	if in.Window <= 0 {
		ev.Error, ev.ErrorCode = "pushWebSocket needs window > 0", CodeInvalidInput
		deliver(ev, true)
		return
	}
	w, ok := b.webSockets.get(in.WebSocketID)
	if !ok {
		ev.Error, ev.ErrorCode = "unknown webSocketId: "+in.WebSocketID, CodeUnknownStream
		deliver(ev, true)
		return
	}
	allowance := newCredit(in.Window)
	w.creditMu.Lock()
	pushed := w.credit != nil
	if !pushed {
		w.credit = allowance
	}
	w.creditMu.Unlock()
	if pushed {
		ev.Error, ev.ErrorCode = "webSocket "+in.WebSocketID+" is pushed already", CodeInvalidInput
		deliver(ev, true)
		return
	}
	for {
		ev = WebSocketEvent{ID: b.newID(), WebSocketID: in.WebSocketID}
		if _, ok := allowance.available(w.done); !ok {
			b.endWebSocketPush(w, &ev, nil)
			deliver(ev, true)
			return
		}
		kind, data, err := w.conn.ReadMessage()
		if err != nil {
			b.endWebSocketPush(w, &ev, err)
			deliver(ev, true)
			return
		}
		ev.Type = "text"
		if kind == websocket.BinaryMessage {
			ev.Type = "binary"
		}
		if len(data) > 0 {
			ev.ChunkBuffer, ev.ChunkLength = b.newBuffer(data), len(data)
		}
		allowance.spend(max(len(data), 1)) // an empty message costs credit too
		if !deliver(ev, false) {
			// Nobody reads the queue any more: close the socket.
			b.releaseWebSocket(w, websocket.CloseGoingAway, errCancelled)
			return
		}
	}
}

// endWebSocketPush fills the last event: the peer's close, or why the
// connection ended (err, or our own release), and releases the socket.
func (b *Bridge) endWebSocketPush(w *wsConn, ev *WebSocketEvent, err error) {
	var closeErr *websocket.CloseError
	switch {
	case err != nil && errors.As(err, &closeErr) && closeErr.Code != websocket.CloseAbnormalClosure:
		// gorilla's close handler answered the peer's close frame already.
		// 1005: a close frame without a code (reported as none).
		ev.Closed, ev.CloseCode, ev.CloseReason = true, closeErr.Code, closeErr.Text
		if closeErr.Code == websocket.CloseNoStatusReceived {
			ev.CloseCode = 0
		}
		b.releaseWebSocket(w, 0, nil)
	case w.abortReason() != nil:
		ev.Error, ev.ErrorCode = w.abortReason().Error(), errorCode(w.abortReason())
	default:
		select {
		case <-w.done: // released meanwhile (cancel, destroyAll)
			reason := w.abortReason()
			if reason == nil {
				reason = errCancelled
			}
			ev.Error, ev.ErrorCode = reason.Error(), errorCode(reason)
			return
		default:
		}
		if err == nil {
			err = errCancelled
		}
		if errors.As(err, &closeErr) { // 1006: gorilla's name for EOF without a close frame
			err = io.ErrUnexpectedEOF
		}
		// Abrupt: the connection ended without a close frame.
		code := errorCode(err)
		if code == CodeOther || code == CodeDataLoss {
			code = CodeConnectionLost
		}
		ev.Error, ev.ErrorCode = "websocket connection lost without a close frame: "+err.Error(), code
		b.releaseWebSocket(w, 0, err)
	}
}

// wsWrite is a send or a close, in the order the caller submitted them.
type wsWrite struct {
	queue  *completionQueue
	op     string
	ticket string
	kind   int // websocket.TextMessage, BinaryMessage or CloseMessage
	data   []byte
	code   int
}

// enqueueWebSocketWrite queues a sendWebSocket or closeWebSocket
// submission for its socket's writer. Submissions run in goroutines of
// their own, in any order; a socket's writes must keep the caller's
// order, so they are queued here, by the goroutine reading submissions.
// A large send is paced by TCP: it completes once written.
func (b *Bridge) enqueueWebSocketWrite(queue *completionQueue, op, ticket string, payload, body []byte) {
	item, w, err := b.parseWebSocketWrite(op, payload, body)
	if err != nil {
		go queue.push(Completion{Ticket: ticket, Op: op, Result: marshal(b.errorResponse(nil, err))})
		return
	}
	item.queue, item.ticket = queue, ticket
	w.outMu.Lock()
	w.outbox = append(w.outbox, item)
	start := !w.writing
	w.writing = true
	w.outMu.Unlock()
	if start {
		go b.drainWebSocketWrites(w)
	}
}

func (b *Bridge) drainWebSocketWrites(w *wsConn) {
	for {
		w.outMu.Lock()
		if len(w.outbox) == 0 {
			w.writing = false
			w.outMu.Unlock()
			return
		}
		item := w.outbox[0]
		w.outbox[0] = wsWrite{}
		w.outbox = w.outbox[1:]
		w.outMu.Unlock()
		result := b.performWebSocketWrite(w, item)
		item.queue.push(Completion{Ticket: item.ticket, Op: item.op, Result: result.json})
	}
}

// parseWebSocketWrite checks a send or close input and finds its socket.
func (b *Bridge) parseWebSocketWrite(op string, payload, body []byte) (wsWrite, *wsConn, error) {
	item := wsWrite{op: op}
	var id string
	if op == "closeWebSocket" {
		var in wsCloseInput
		if err := json.Unmarshal(payload, &in); err != nil {
			return item, nil, newError(CodeInvalidInput, err.Error())
		}
		if in.Code != websocket.CloseNormalClosure && (in.Code < 3000 || in.Code > 4999) {
			return item, nil, newError(CodeInvalidInput,
				"closeWebSocket code must be 1000 or 3000-4999 (RFC 6455 7.4), got "+strconv.Itoa(in.Code))
		}
		if len(in.Reason) > 123 {
			return item, nil, newError(CodeInvalidInput,
				"closeWebSocket reason must be at most 123 bytes (a control frame's payload is 125)")
		}
		item.kind, item.code, item.data, id = websocket.CloseMessage, in.Code, []byte(in.Reason), in.WebSocketID
	} else {
		var in wsSendInput
		if err := json.Unmarshal(payload, &in); err != nil {
			return item, nil, newError(CodeInvalidInput, err.Error())
		}
		switch in.Type {
		case "text":
			if !utf8.Valid(body) {
				return item, nil, newError(CodeInvalidInput, "sendWebSocket text must be UTF-8 (RFC 6455 5.6)")
			}
			item.kind, item.data = websocket.TextMessage, body
		case "binary":
			item.kind, item.data = websocket.BinaryMessage, body
		default:
			return item, nil, newError(CodeInvalidInput, "sendWebSocket type must be text or binary, got "+in.Type)
		}
		id = in.WebSocketID
	}
	w, ok := b.webSockets.get(id)
	if !ok {
		return item, nil, newError(CodeUnknownStream, "unknown webSocketId: "+id)
	}
	return item, w, nil
}

// performWebSocketWrite writes one message, or the close frame (the
// peer's answering close then ends the pushed messages, closed with its
// code; a peer that does not answer within wsCloseWait is cut off).
func (b *Bridge) performWebSocketWrite(w *wsConn, item wsWrite) answer {
	var err error
	if item.kind == websocket.CloseMessage {
		w.reasonM.Lock()
		already := w.closeSent
		w.closeSent = true
		w.reasonM.Unlock()
		if !already {
			err = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(item.code, string(item.data)),
				time.Now().Add(wsControlWait))
			time.AfterFunc(wsCloseWait, func() { b.releaseWebSocket(w, 0, nil) })
		}
	} else {
		w.writeMu.Lock()
		err = w.conn.WriteMessage(item.kind, item.data)
		w.writeMu.Unlock()
	}
	if err != nil {
		if reason := w.abortReason(); reason != nil {
			err = reason
		}
		return responseAnswer(b.errorResponse(nil, err))
	}
	return answer{json: marshal(successOutput{ID: b.newID(), Success: true})}
}

// grantWebSocketCredit adds credit to a pushed WebSocket; false if id names
// none.
func (b *Bridge) grantWebSocketCredit(id string, n int) bool {
	w, ok := b.webSockets.get(id)
	if !ok {
		return false
	}
	w.creditMu.Lock()
	c := w.credit
	w.creditMu.Unlock()
	if c != nil {
		c.grant(n)
	}
	return true
}

// closeWebSocketsOf releases the sockets opened on a dropped queue: nobody
// reads their messages, and a quiet socket would otherwise stay open
// until its next message found the queue gone.
func (b *Bridge) closeWebSocketsOf(queue string) {
	for _, w := range b.webSockets.all() {
		w.creditMu.Lock()
		mine := w.queue == queue
		w.creditMu.Unlock()
		if mine {
			b.releaseWebSocket(w, websocket.CloseGoingAway, errCancelled)
		}
	}
}

// closeAllWebSockets releases every socket with a going-away close frame
// (destroyAll).
func (b *Bridge) closeAllWebSockets() {
	for _, w := range b.webSockets.all() {
		b.releaseWebSocket(w, websocket.CloseGoingAway, errCancelled)
	}
}

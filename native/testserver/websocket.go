package testserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A WebSocket server (RFC 6455) of its own, so that tests control every
// frame: fragmentation, pings, close codes, an abrupt drop. It accepts
// permessage-deflate (RFC 7692) only when asked, and only when offered:
//
//	?deflate=1         without context takeover either way, which it says
//	                   in its answer
//	?deflate=takeover  with context takeover both ways (an answer without
//	                   parameters): it compresses with one flate stream for
//	                   the whole connection and reads the client's messages
//	                   with the window of those before; with
//	                   &client_max_window_bits=N it also limits the client's
//	                   window, and closes with 1002 on a compressed message
//	                   from the client, whose window it cannot check
//
// Endpoints, on every server of [Handler] (plain and TLS):
//
//	/ws/echo      echoes each message with its type; ?frag=N sends the
//	              echo in frames of at most N bytes
//	/ws/headers   first sends the handshake's headers in wire order as a
//	              JSON text message ([][2]string), then echoes
//	/ws/send      sends ?n= messages of ?size= bytes (text, or binary with
//	              ?binary=1), then closes with 1000 "done"
//	/ws/close     closes with ?code= and ?reason= after the first message
//	/ws/drop      sends "bye", then cuts the TCP connection (no close frame)
//	/ws/ping      pings with ?payload=, and on the pong sends the text
//	              "pong:" + its payload, then echoes
//	/ws/ticks     sends ?rate= text messages per second for ?seconds=, each
//	              {"n": N, "sent_ns": NANOSECONDS} with the wall-clock time
//	              it is written, then closes with 1000 (benchmarks)
//
// With ?tag=NAME, the codes of the close frames the client sends are
// recorded; GET /ws-closes?tag=NAME answers them as a JSON list. With a
// tag, ?opens=N refuses handshakes (503) after the first N under it, and
// /ws/send records its longest single write (how long a client that stops
// reading held the server back): GET /ws-stalls?tag=NAME answers
// {"opens": N, "longest_write_ms": MS}.
//
// Every endpoint answers a close frame with the same code and ends.

const (
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	// wsMessageMax bounds one message a test sends: 16 MiB messages and
	// their framing fit.
	wsMessageMax = 64 << 20
)

func registerWebSocket(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws/{mode}", handleWebSocket)
	mux.HandleFunc("GET /ws-closes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, closeLog.codes(r.URL.Query().Get("tag")))
	})
	mux.HandleFunc("GET /ws-stalls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, tagLog.get(r.URL.Query().Get("tag")))
	})
}

// tagLog counts the handshakes and the longest write of /ws/send, by tag.
var tagLog = &wsTagLog{byTag: map[string]wsTagRecord{}}

type wsTagLog struct {
	mu    sync.Mutex
	byTag map[string]wsTagRecord
}

type wsTagRecord struct {
	Opens          int     `json:"opens"`
	LongestWriteMs float64 `json:"longest_write_ms"`
}

// open counts a handshake under tag and says whether it is within limit
// (limit <= 0: no limit).
func (l *wsTagLog) open(tag string, limit int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	record := l.byTag[tag]
	record.Opens++
	l.byTag[tag] = record
	return limit <= 0 || record.Opens <= limit
}

func (l *wsTagLog) wrote(tag string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	record := l.byTag[tag]
	record.LongestWriteMs = max(record.LongestWriteMs, float64(took)/float64(time.Millisecond))
	l.byTag[tag] = record
}

func (l *wsTagLog) get(tag string) wsTagRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byTag[tag]
}

// closeLog records the close codes clients sent, by tag.
var closeLog = &wsCloseLog{byTag: map[string][]int{}}

type wsCloseLog struct {
	mu    sync.Mutex
	byTag map[string][]int
}

func (l *wsCloseLog) add(tag string, code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byTag[tag] = append(l.byTag[tag], code)
}

func (l *wsCloseLog) codes(tag string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int{}, l.byTag[tag]...)
}

// wsServerConn is one accepted WebSocket.
type wsServerConn struct {
	conn    net.Conn
	rw      *bufio.ReadWriter
	deflate bool
	tag     string // records the client's close code under it (closeLog)

	// With context takeover (?deflate=takeover): one flate stream for
	// every message sent, the window of the messages received, and the
	// client's window size when limited (else 0).
	takeover   bool
	fw         *flate.Writer
	fbuf       bytes.Buffer
	window     []byte
	clientBits int
}

// wsMessage is one message or control frame read.
type wsMessage struct {
	op   byte
	data []byte
}

const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

func handleWebSocket(w http.ResponseWriter, r *http.Request) {
	wire, _ := wireHeaders(r)
	q := r.URL.Query()
	if tag := q.Get("tag"); tag != "" && !tagLog.open(tag, atoiOr(q.Get("opens"), 0)) {
		http.Error(w, "no more WebSockets under this tag", http.StatusServiceUnavailable)
		return
	}
	ws, err := upgradeWebSocket(w, r)
	if err != nil {
		return
	}
	defer ws.conn.Close()
	ws.tag = q.Get("tag")
	switch r.PathValue("mode") {
	case "echo":
		ws.echo(atoiOr(q.Get("frag"), 0))
	case "headers":
		data, _ := json.Marshal(wire)
		if ws.write(opText, data, 0) == nil {
			ws.echo(0)
		}
	case "send":
		n, size := atoiOr(q.Get("n"), 1), atoiOr(q.Get("size"), 16)
		op := byte(opText)
		if q.Get("binary") == "1" {
			op = opBinary
		}
		for i := 0; i < n; i++ {
			started := time.Now()
			if ws.write(op, numbered(i, size), 0) != nil {
				return
			}
			if ws.tag != "" {
				tagLog.wrote(ws.tag, time.Since(started))
			}
		}
		ws.closeWith(1000, "done")
	case "close":
		if _, err := ws.readMessage(); err == nil {
			ws.closeWith(atoiOr(q.Get("code"), 1000), q.Get("reason"))
		}
	case "drop":
		_ = ws.write(opText, []byte("bye"), 0)
		if tcp, ok := underlyingTCP(ws.conn); ok {
			_ = tcp.SetLinger(0) // a reset, not even a FIN after data
		}
	case "ticks":
		ws.ticks(atoiOr(q.Get("rate"), 100), atoiOr(q.Get("seconds"), 1))
	case "ping":
		payload := []byte(q.Get("payload"))
		if ws.writeFrame(true, opPing, payload) != nil {
			return
		}
		m, err := ws.readMessage()
		if err != nil || m.op != opPong {
			return
		}
		if ws.write(opText, append([]byte("pong:"), m.data...), 0) == nil {
			ws.echo(0)
		}
	}
}

// ticks sends rate messages a second on a fixed schedule (a late one goes
// out at once, so the rate holds when the client reads slowly for a
// while), until seconds have passed, then closes.
func (ws *wsServerConn) ticks(rate, seconds int) {
	if rate <= 0 || seconds <= 0 {
		ws.closeWith(1000, "done")
		return
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	total := rate * seconds
	for i := 0; i < total; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		message := fmt.Appendf(nil, `{"n": %d, "sent_ns": %d}`, i, time.Now().UnixNano())
		if ws.write(opText, message, 0) != nil {
			return
		}
	}
	ws.closeWith(1000, "done")
}

// numbered is message i of /ws/send: its number, then filler up to size.
func numbered(i, size int) []byte {
	head := []byte(strconv.Itoa(i) + ":")
	if size <= len(head) {
		return head
	}
	out := make([]byte, size)
	copy(out, head)
	for j := len(head); j < size; j++ {
		out[j] = byte('a' + (i+j)%26)
	}
	return out
}

func atoiOr(s string, fallback int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return fallback
}

// underlyingTCP finds the TCP connection under TLS.
func underlyingTCP(c net.Conn) (*net.TCPConn, bool) {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v, true
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil, false
		}
	}
}

func upgradeWebSocket(w http.ResponseWriter, r *http.Request) (*wsServerConn, error) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" ||
		r.Header.Get("Sec-WebSocket-Version") != "13" {
		http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
		return nil, errors.New("not a handshake")
	}
	mode := r.URL.Query().Get("deflate")
	deflate := (mode == "1" || mode == "takeover") &&
		strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	takeover := deflate && mode == "takeover"
	clientBits := 0
	if takeover {
		clientBits = atoiOr(r.URL.Query().Get("client_max_window_bits"), 0)
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	head.WriteString("Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
	switch {
	case clientBits != 0:
		head.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=" + strconv.Itoa(clientBits) + "\r\n")
	case takeover:
		head.WriteString("Sec-WebSocket-Extensions: permessage-deflate\r\n")
	case deflate:
		head.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	head.WriteString("\r\n")
	if _, err := rw.Write(head.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	ws := &wsServerConn{conn: conn, rw: rw, deflate: deflate, takeover: takeover, clientBits: clientBits}
	if takeover {
		ws.fw, _ = flate.NewWriter(&ws.fbuf, flate.BestSpeed)
	}
	return ws, nil
}

// echo sends back every message until the peer closes.
func (ws *wsServerConn) echo(frag int) {
	for {
		m, err := ws.readMessage()
		if err != nil {
			return
		}
		if ws.write(m.op, m.data, frag) != nil {
			return
		}
	}
}

// readMessage returns the next data message, or a pong; it answers pings,
// and a close frame by echoing its code (then io.EOF).
func (ws *wsServerConn) readMessage() (wsMessage, error) {
	var msg wsMessage
	var compressed, started bool
	for {
		fin, rsv1, op, data, err := ws.readFrame()
		if err != nil {
			return msg, err
		}
		switch op {
		case opPing:
			if err := ws.writeFrame(true, opPong, data); err != nil {
				return msg, err
			}
			continue
		case opPong:
			return wsMessage{op: opPong, data: data}, nil
		case opClose:
			if ws.tag != "" {
				code := 1005 // RFC 6455 7.1.5: a close frame without a code
				if len(data) >= 2 {
					code = int(binary.BigEndian.Uint16(data))
				}
				closeLog.add(ws.tag, code)
			}
			_ = ws.writeFrame(true, opClose, data)
			return msg, io.EOF
		case opText, opBinary:
			if started {
				return msg, errors.New("new message inside a fragmented one")
			}
			started, msg.op, compressed = true, op, rsv1
		case opContinuation:
			if !started {
				return msg, errors.New("continuation without a message")
			}
		}
		msg.data = append(msg.data, data...)
		if len(msg.data) > wsMessageMax {
			return msg, errors.New("message too large")
		}
		if fin {
			if compressed {
				if ws.clientBits != 0 {
					_ = ws.writeFrame(true, opClose, append([]byte{0x03, 0xea}, "compressed beyond the window"...))
					return msg, errors.New("a compressed message from a client whose window is limited")
				}
				// With context takeover the client's message may refer
				// back into the ones before it: their window is the
				// reader's dictionary.
				var dict []byte
				if ws.takeover {
					dict = ws.window
				}
				inflated, err := io.ReadAll(flate.NewReaderDict(io.MultiReader(bytes.NewReader(msg.data),
					bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})), dict))
				if err != nil {
					return msg, err
				}
				msg.data = inflated
				// Only what went through the client's flate stream is in
				// its window: messages it sent uncompressed are not.
				if ws.takeover {
					ws.window = append(ws.window, msg.data...)
					if over := len(ws.window) - 1<<15; over > 0 {
						ws.window = append([]byte(nil), ws.window[over:]...)
					}
				}
			}
			return msg, nil
		}
	}
}

func (ws *wsServerConn) readFrame() (fin, rsv1 bool, op byte, data []byte, err error) {
	var head [2]byte
	if _, err = io.ReadFull(ws.rw, head[:]); err != nil {
		return
	}
	fin, rsv1, op = head[0]&0x80 != 0, head[0]&0x40 != 0, head[0]&0x0f
	masked := head[1]&0x80 != 0
	size := uint64(head[1] & 0x7f)
	switch size {
	case 126:
		var ext [2]byte
		if _, err = io.ReadFull(ws.rw, ext[:]); err != nil {
			return
		}
		size = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err = io.ReadFull(ws.rw, ext[:]); err != nil {
			return
		}
		size = binary.BigEndian.Uint64(ext[:])
	}
	if size > wsMessageMax {
		err = fmt.Errorf("frame of %d bytes", size)
		return
	}
	if !masked {
		err = errors.New("client frame not masked")
		return
	}
	var mask [4]byte
	if _, err = io.ReadFull(ws.rw, mask[:]); err != nil {
		return
	}
	data = make([]byte, size)
	if _, err = io.ReadFull(ws.rw, data); err != nil {
		return
	}
	for i := range data {
		data[i] ^= mask[i%4]
	}
	return
}

// write sends a data message, compressed if deflate was agreed, in frames
// of at most frag bytes (0: one frame).
func (ws *wsServerConn) write(op byte, data []byte, frag int) error {
	rsv1 := false
	switch {
	case ws.takeover:
		// The connection's one flate stream: a message may refer back
		// into the ones sent before it.
		ws.fbuf.Reset()
		_, _ = ws.fw.Write(data)
		_ = ws.fw.Flush()
		data = bytes.Clone(bytes.TrimSuffix(ws.fbuf.Bytes(), []byte{0, 0, 0xff, 0xff}))
		rsv1 = true
	case ws.deflate:
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
		_, _ = fw.Write(data)
		_ = fw.Flush()
		data = bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
		rsv1 = true
	}
	if frag <= 0 || frag >= len(data) {
		return ws.writeFrameFlags(true, rsv1, op, data)
	}
	for start := 0; start < len(data); start += frag {
		end := min(start+frag, len(data))
		frameOp := byte(opContinuation)
		if start == 0 {
			frameOp = op
		}
		if err := ws.writeFrameFlags(end == len(data), rsv1 && start == 0, frameOp, data[start:end]); err != nil {
			return err
		}
	}
	return nil
}

func (ws *wsServerConn) writeFrame(fin bool, op byte, data []byte) error {
	return ws.writeFrameFlags(fin, false, op, data)
}

func (ws *wsServerConn) writeFrameFlags(fin, rsv1 bool, op byte, data []byte) error {
	first := op
	if fin {
		first |= 0x80
	}
	if rsv1 {
		first |= 0x40
	}
	head := []byte{first}
	switch n := len(data); {
	case n < 126:
		head = append(head, byte(n))
	case n <= 0xffff:
		head = append(head, 126, byte(n>>8), byte(n))
	default:
		head = append(head, 127)
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	if _, err := ws.rw.Write(head); err != nil {
		return err
	}
	if _, err := ws.rw.Write(data); err != nil {
		return err
	}
	return ws.rw.Flush()
}

// closeWith sends a close frame and waits (bounded) for the peer's.
func (ws *wsServerConn) closeWith(code int, reason string) {
	payload := binary.BigEndian.AppendUint16(nil, uint16(code))
	payload = append(payload, reason...)
	if ws.writeFrame(true, opClose, payload) != nil {
		return
	}
	_ = ws.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, op, _, err := ws.readFrame()
		if err != nil || op == opClose {
			return
		}
	}
}

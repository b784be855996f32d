package bridge

import (
	"net"
	"strings"
	"testing"
	"time"

	http "github.com/bogdanfinn/fhttp"
	tls "github.com/bogdanfinn/utls"
)

// openWS opens a WebSocket over the completion socket and starts pushing
// its messages under ticket "m"; it returns the socket's id.
func openWS(t *testing.T, ours net.Conn, queue, url string) string {
	t.Helper()
	id := "ws-" + strings.NewReplacer("/", "-", ":", "-", "?", "-").Replace(url)
	writeSubmissions(t, ours, map[string]any{"queue": queue, "op": "openWebSocket", "ticket": "open",
		"input": req(url, map[string]any{"streamId": id})})
	frames := readFrames(t, ours, 1, 10*time.Second)
	frame, ok := frames["open"]
	if !ok {
		t.Fatalf("open %s: %+v", url, frames)
	}
	opened := decode[Response](t, frame.Result)
	if opened.Status != 101 || opened.StreamID != id {
		t.Fatalf("open %s: %+v", url, opened)
	}
	writeSubmissions(t, ours, map[string]any{"queue": queue, "op": "pushWebSocket", "ticket": "m",
		"input": map[string]any{"webSocketId": id, "window": 1 << 20}})
	return id
}

// nextWSEvent reads the next pushed WebSocket event and its body.
func nextWSEvent(t *testing.T, ours net.Conn) (WebSocketEvent, []byte) {
	t.Helper()
	if err := ours.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := readFrame(ours)
		if err != nil {
			t.Fatal(err)
		}
		if c.Ticket == "m" {
			return decode[WebSocketEvent](t, c.Result), c.body
		}
	}
}

func wsOpen(t *testing.T, b *Bridge) int {
	t.Helper()
	_, out := b.GetStats()
	return decode[Stats](t, out).WebSocketsOpen
}

func TestAWebSocketEchoesAndClosesWithItsCode(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	for _, base := range []string{s.HTTP, s.HTTPS} {
		url := "ws" + strings.TrimPrefix(base, "http") + "/ws/echo"
		id := openWS(t, ours, "", url)
		writeWithBody(t, ours, map[string]any{"op": "sendWebSocket", "ticket": "s1", "input": map[string]any{"webSocketId": id, "type": "text"}}, []byte("héllo"))
		writeWithBody(t, ours, map[string]any{"op": "sendWebSocket", "ticket": "s2", "input": map[string]any{"webSocketId": id, "type": "binary"}}, []byte{0, 1, 255})
		var got []string
		for len(got) < 2 {
			ev, body := nextWSEvent(t, ours)
			if ev.Error != "" || ev.Closed {
				t.Fatalf("%s: %+v", url, ev)
			}
			got = append(got, ev.Type+":"+string(body))
		}
		if got[0] != "text:héllo" || got[1] != "binary:\x00\x01\xff" {
			t.Fatalf("%s: %q", url, got)
		}
		writeSubmissions(t, ours, map[string]any{"op": "closeWebSocket", "ticket": "c",
			"input": map[string]any{"webSocketId": id, "code": 4000, "reason": "done"}})
		ev, _ := nextWSEvent(t, ours)
		if !ev.Closed || ev.CloseCode != 4000 || ev.CloseReason != "done" {
			t.Fatalf("%s: after close: %+v", url, ev)
		}
		waitFor(t, func() bool { return wsOpen(t, b) == 0 })
		assertNoBuffers(t, b)
	}
}

func TestAnAbruptDropIsAnError(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "")
	openWS(t, ours, "", "wss"+strings.TrimPrefix(s.HTTPS, "https")+"/ws/drop")
	if ev, body := nextWSEvent(t, ours); string(body) != "bye" {
		t.Fatalf("first: %+v %q", ev, body)
	}
	ev, _ := nextWSEvent(t, ours)
	if ev.Closed || ev.ErrorCode != CodeConnectionLost {
		t.Fatalf("after the drop: %+v", ev)
	}
	waitFor(t, func() bool { return wsOpen(t, b) == 0 })
}

func TestDestroyAllAndDroppedQueuesReleaseWebSockets(t *testing.T) {
	b := New()
	s := testServers(t)
	ours := socketPair(t, b, "q1")
	id := openWS(t, ours, "q1", "ws"+strings.TrimPrefix(s.HTTP, "http")+"/ws/echo")
	// An echo read proves the push started before destroyAll.
	writeWithBody(t, ours, map[string]any{"queue": "q1", "op": "sendWebSocket", "ticket": "s",
		"input": map[string]any{"webSocketId": id, "type": "text"}}, []byte("x"))
	if ev, body := nextWSEvent(t, ours); string(body) != "x" {
		t.Fatalf("echo: %+v", ev)
	}
	b.DestroyAll()
	if ev, _ := nextWSEvent(t, ours); ev.ErrorCode != CodeCancelled {
		t.Fatalf("after destroyAll: %+v", ev)
	}
	waitFor(t, func() bool { return wsOpen(t, b) == 0 })

	other := socketPair(t, b, "q2")
	openWS(t, other, "q2", "ws"+strings.TrimPrefix(s.HTTP, "http")+"/ws/echo")
	if wsOpen(t, b) != 1 {
		t.Fatal("not open")
	}
	b.DropCompletionQueue(mustJSON(t, map[string]any{"queue": "q2"}))
	waitFor(t, func() bool { return wsOpen(t, b) == 0 })
	assertNoBuffers(t, b)
}

func TestWebSocketInputIsChecked(t *testing.T) {
	b := New()
	s := testServers(t)
	out := b.openWebSocket(mustJSON(t, req(s.HTTP+"/ws/echo", nil)), "")
	if r := decode[Response](t, out.json); r.ErrorCode != CodeUnsupportedScheme {
		t.Fatalf("http URL: %+v", r)
	}
	_, _, err := b.parseWebSocketWrite("closeWebSocket", mustJSON(t, map[string]any{"webSocketId": "x", "code": 1006}), nil)
	if errorCode(err) != CodeInvalidInput || !strings.Contains(err.Error(), "1000 or 3000-4999") {
		t.Fatalf("close code 1006: %v", err)
	}
	_, _, err = b.parseWebSocketWrite("sendWebSocket", mustJSON(t, map[string]any{"webSocketId": "x", "type": "json"}), nil)
	if errorCode(err) != CodeInvalidInput {
		t.Fatalf("type json: %v", err)
	}
	_, _, err = b.parseWebSocketWrite("sendWebSocket", mustJSON(t, map[string]any{"webSocketId": "x", "type": "text"}), []byte{0xff})
	if errorCode(err) != CodeInvalidInput {
		t.Fatalf("text that is not UTF-8: %v", err)
	}
	_, _, err = b.parseWebSocketWrite("sendWebSocket", mustJSON(t, map[string]any{"webSocketId": "x", "type": "text"}), nil)
	if errorCode(err) != CodeUnknownStream {
		t.Fatalf("unknown socket: %v", err)
	}
}

// wsHeaders keeps the request's header names as given (the browser's
// HTTP/1.1 case) and takes the order from headerOrder, which also places
// the headers the dialer writes itself; Host goes first unless placed.
func TestWSHeadersPlaceTheDialersHeadersByHeaderOrder(t *testing.T) {
	in := &RequestInput{
		HeadersList: [][2]string{
			{"User-Agent", "agent"}, {"Origin", "https://a.test"}, {"sec-ch-ua", `"x"`},
			{"Connection", "Upgrade"}, {"Sec-WebSocket-Extensions", "permessage-deflate"},
		},
		HeaderOrder: []string{"connection", "user-agent", "upgrade", "origin", "sec-websocket-version",
			"sec-websocket-key", "sec-websocket-extensions"},
	}
	h := wsHeaders(in)
	want := []string{"host", "connection", "user-agent", "upgrade", "origin", "sec-websocket-version",
		"sec-websocket-key", "sec-websocket-extensions", "sec-ch-ua"}
	if got := h[http.HeaderOrderKey]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order %v, want %v", got, want)
	}
	if _, ok := h["sec-ch-ua"]; !ok {
		t.Errorf("sec-ch-ua renamed: %v", h)
	}
	if _, ok := h["Connection"]; ok {
		t.Errorf("Connection passed to the dialer, which writes its own: %v", h)
	}
	// Under the dialer's non-canonical spelling, which it passes through.
	if v := h["Sec-WebSocket-Extensions"]; len(v) != 1 || v[0] != "permessage-deflate" {
		t.Errorf("extensions: %v", h)
	}

	// Without headerOrder: the list's order, Host first.
	in.HeaderOrder = nil
	if got := wsHeaders(in)[http.HeaderOrderKey]; got[0] != "host" || got[1] != "user-agent" {
		t.Errorf("order %v", got)
	}
}

// A Chrome ClientHello on a WebSocket's connection: ALPN http/1.1 and no
// ALPS, as BoringSSL sends it; a hello without ALPS (Firefox) is left to
// tls-client's own WebSocket dial.
func TestTheWebSocketHelloDropsALPSForHTTP1(t *testing.T) {
	hello, changed, err := http1OnlyHello(tls.HelloChrome_133)
	if err != nil || !changed {
		t.Fatalf("chrome: changed %v, err %v", changed, err)
	}
	spec, err := hello.ToSpec()
	if err != nil {
		t.Fatal(err)
	}
	original, _ := tls.UTLSIdToSpec(tls.HelloChrome_133)
	if len(spec.Extensions) != len(original.Extensions)-1 {
		t.Errorf("%d extensions, want the %d of Chrome's less ALPS", len(spec.Extensions), len(original.Extensions))
	}
	for _, ext := range spec.Extensions {
		switch e := ext.(type) {
		case *tls.ApplicationSettingsExtension, *tls.ApplicationSettingsExtensionNew:
			t.Errorf("ALPS left in: %T", e)
		case *tls.ALPNExtension:
			if strings.Join(e.AlpnProtocols, ",") != "http/1.1" {
				t.Errorf("ALPN %v", e.AlpnProtocols)
			}
		}
	}
	if _, changed, err := http1OnlyHello(tls.HelloFirefox_120); changed || err != nil {
		t.Errorf("firefox: changed %v, err %v", changed, err)
	}
}

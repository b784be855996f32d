package main

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The test page makes the browser send each kind of request once, all to
// the capture server: the page itself (a navigation typed by the user, so
// sec-fetch-site none), its style sheet, the font the style sheet names,
// a script, an image, an iframe, then from the script two fetch() calls,
// an XMLHttpRequest, a WebSocket offering two subprotocols (after setting a
// cookie, so that the handshake shows where it carries both), an
// <a download> click, a click on a link whose response is an attachment,
// and last a click on a same-origin link, whose page reports done.

// kinds maps each path of the page to the kind of request it stands for.
var kinds = map[string]string{
	"/":                    "navigate",
	"/style.css":           "style",
	"/font.woff2":          "font",
	"/script.js":           "script",
	"/image.png":           "image",
	"/frame.html":          "iframe",
	"/fetch-default":       "fetch",
	"/fetch-json":          "fetch-json",
	"/xhr":                 "xhr",
	"/websocket":           "websocket",
	"/download-attr.bin":   "download-attribute",
	"/download-attachment": "download-attachment",
	"/page2":               "navigate-same-origin",
	"/done":                "done-signal",
	"/favicon.ico":         "favicon",
}

// kindOf tags a request path; the query is ignored.
func kindOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	if k, ok := kinds[path]; ok {
		return k
	}
	return "other"
}

const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>capture</title>
<link rel="stylesheet" href="/style.css">
<script src="/script.js"></script>
</head><body>
<p class="f">Capture page</p>
<img src="/image.png" alt="">
<iframe src="/frame.html"></iframe>
<a id="dl-attr" href="/download-attr.bin" download>download</a>
<a id="dl-disp" href="/download-attachment">attachment</a>
<a id="next" href="/page2">next</a>
</body></html>
`

const styleCSS = `@font-face { font-family: "Capture"; src: url("/font.woff2") format("woff2"); }
.f { font-family: "Capture", sans-serif; }
`

// The steps wait for each other so that every request is sent exactly once
// and the navigation away comes last.
const scriptJS = `const sleep = ms => new Promise(r => setTimeout(r, ms));
window.addEventListener("load", async () => {
  try { await document.fonts.ready; } catch (e) {}
  try { await (await fetch("/fetch-default")).text(); } catch (e) {}
  try { await (await fetch("/fetch-json", {headers: {"Accept": "application/json"}})).text(); } catch (e) {}
  await new Promise(done => {
    const x = new XMLHttpRequest();
    x.open("GET", "/xhr");
    x.onloadend = done;
    x.send();
  });
  // A cookie first, to show where the handshake carries it; the requests
  // after this one carry it too.
  document.cookie = "capture=1; path=/; SameSite=Lax";
  await new Promise(done => {
    const t = setTimeout(done, 3000);
    try {
      const ws = new WebSocket("wss://" + location.host + "/websocket", ["capture.v1", "capture.v2"]);
      ws.onclose = () => { clearTimeout(t); done(); };
    } catch (e) { clearTimeout(t); done(); }
  });
  document.getElementById("dl-attr").click();
  await sleep(1500);
  document.getElementById("dl-disp").click();
  await sleep(1500);
  document.getElementById("next").click();
});
`

const page2HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>page 2</title></head><body>
<p>done</p>
<script>setTimeout(() => fetch("/done"), 500);</script>
</body></html>
`

// onePixelPNG is a valid 1x1 PNG, so that the image loads.
var onePixelPNG, _ = base64.StdEncoding.DecodeString(
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// pageHandler serves the test page and closes done at the first /done.
type pageHandler struct {
	done chan struct{}
	once sync.Once
}

func newPageHandler() *pageHandler { return &pageHandler{done: make(chan struct{})} }

func (p *pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nothing may be cached: every run must send every request.
	w.Header().Set("Cache-Control", "no-store")
	body, ctype := "", "text/plain"
	switch kindOf(r.URL.Path) {
	case "navigate":
		body, ctype = indexHTML, "text/html; charset=utf-8"
	case "style":
		body, ctype = styleCSS, "text/css"
	case "font":
		// Not a real font: the browser has sent its request either way.
		body, ctype = "wOF2", "font/woff2"
	case "script":
		body, ctype = scriptJS, "text/javascript"
	case "image":
		body, ctype = string(onePixelPNG), "image/png"
	case "iframe":
		body, ctype = "<!doctype html><p>frame</p>", "text/html; charset=utf-8"
	case "fetch", "fetch-json", "xhr":
		body, ctype = `{"ok":true}`, "application/json"
	case "websocket":
		acceptWebSocket(w, r)
		return
	case "download-attribute":
		body, ctype = "download\n", "application/octet-stream"
	case "download-attachment":
		w.Header().Set("Content-Disposition", `attachment; filename="attachment.bin"`)
		body, ctype = "attachment\n", "application/octet-stream"
	case "navigate-same-origin":
		body, ctype = page2HTML, "text/html; charset=utf-8"
	case "done-signal":
		p.once.Do(func() { close(p.done) })
		body = "ok"
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write([]byte(body))
}

// acceptWebSocket completes the browser's WebSocket handshake (RFC 6455
// 4.2.2: the first subprotocol offered, no extension) and closes at once
// with 1000, so that the page's step ends as soon as the handshake, already
// recorded, is done.
func acceptWebSocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	hj, ok := w.(http.Hijacker)
	if key == "" || !ok {
		http.Error(w, "not a WebSocket handshake over HTTP/1.1", http.StatusBadRequest)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	if offered := r.Header.Get("Sec-WebSocket-Protocol"); offered != "" {
		first, _, _ := strings.Cut(offered, ",")
		head += "Sec-WebSocket-Protocol: " + strings.TrimSpace(first) + "\r\n"
	}
	_, _ = rw.WriteString(head + "\r\n")
	// A close frame, FIN + opcode 8, payload 2 bytes: code 1000.
	_, _ = rw.Write([]byte{0x88, 0x02, 0x03, 0xe8})
	_ = rw.Flush()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = rw.Read(make([]byte, 64)) // the browser's close frame
}

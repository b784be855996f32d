package testserver

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The wall is a TLS server on localhost that behaves like a bot-protection
// front: it sees each request's JA4 (from the raw ClientHello, as the
// fingerprint server does) and its headers in wire order, and answers with
// a page or with a vendor's block page, by rules set with POST
// /wall/config (see [WallConfig]):
//
//   - a JA4 in block_ja4: 403 and Cloudflare's "Just a moment..." challenge;
//   - a header order in block_header_orders: 403 and a DataDome captcha;
//   - a path in block_paths: 403 and Akamai's "Access Denied" for anyone;
//   - more than rate_limit requests of one identity (JA4, User-Agent and
//     client hints together) within window_seconds: 429 with Retry-After.
//
// Every request gets a verdict in the log (GET /wall/log, [WallVerdict]):
// what it presented, the known identity it matches as a whole if any, and
// what the wall answered. A request is coherent when its JA4, User-Agent,
// sec-ch-ua and sec-ch-ua-platform are all those of one identity listed in
// the config: no mix of two browsers.

// WallIdentity is one coherent browser identity as the wall knows it: a
// request is that identity only if it matches every field ("" for a client
// hint the browser does not send).
type WallIdentity struct {
	Name            string `json:"name"`
	JA4             string `json:"ja4"`
	UserAgent       string `json:"user_agent"`
	SecChUa         string `json:"sec_ch_ua"`
	SecChUaPlatform string `json:"sec_ch_ua_platform"`
}

// WallConfig holds the wall's rules. Posting one clears the log and the
// rate counters.
type WallConfig struct {
	Identities        []WallIdentity `json:"identities"`
	BlockJA4          []string       `json:"block_ja4"`
	BlockHeaderOrders [][]string     `json:"block_header_orders"`
	BlockPaths        []string       `json:"block_paths"`
	// RateLimit is the number of requests one identity may send within
	// WindowSeconds; 0: no limit. WindowSeconds 0 means a minute.
	RateLimit     int     `json:"rate_limit"`
	WindowSeconds float64 `json:"window_seconds"`
	// RetryAfter is the Retry-After of a rate-limit answer, in seconds;
	// 0: none sent.
	RetryAfter int `json:"retry_after"`
}

// WallVerdict is the wall's record of one request.
type WallVerdict struct {
	Seq             int      `json:"seq"`
	At              float64  `json:"at"` // Unix seconds when the request was answered
	Method          string   `json:"method"`
	Path            string   `json:"path"`
	Protocol        string   `json:"protocol"`
	JA4             string   `json:"ja4"`
	UserAgent       string   `json:"user_agent"`
	SecChUa         string   `json:"sec_ch_ua"`
	SecChUaPlatform string   `json:"sec_ch_ua_platform"`
	HeaderOrder     []string `json:"header_order"` // lower-case, no pseudo headers
	// Identity is the name of the known identity the request matches as a
	// whole, "" for none; Coherent is Identity != "".
	Identity string `json:"identity"`
	Coherent bool   `json:"coherent"`
	Status   int    `json:"status"`
	// Block is the rule that blocked the request: "ja4", "header_order",
	// "path", "rate_limit", or "" when the page was served.
	Block string `json:"block"`
}

// wallLogLimit bounds the log: a test crawl sends a few thousand requests.
const wallLogLimit = 200_000

type wall struct {
	mu     sync.Mutex
	config WallConfig
	log    []WallVerdict
	seen   map[string][]time.Time // identity key -> request times in the window
	// used holds, per HTTP/2 connection, the streams already matched to a
	// request, so two requests for one path get their own header blocks.
	used map[*connRecord]map[uint32]bool
	now  func() time.Time
}

func newWall() *wall {
	return &wall{seen: map[string][]time.Time{}, used: map[*connRecord]map[uint32]bool{}, now: time.Now}
}

// startWallServer starts the wall with certificate cert.
func startWallServer(cert tls.Certificate) (*server, error) {
	return startFingerprintServerWith(fingerprintOptions{
		cert:       cert,
		nextProtos: []string{"h2", "http/1.1"},
		handler:    newWall(),
		allStreams: true,
	})
}

func (wl *wall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/wall/config":
		wl.serveConfig(w, r)
	case "/wall/log":
		wl.mu.Lock()
		entries := slices.Clone(wl.log)
		wl.mu.Unlock()
		writeJSON(w, map[string][]WallVerdict{"entries": entries})
	default:
		wl.servePage(w, r)
	}
}

func (wl *wall) serveConfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a WallConfig", http.StatusMethodNotAllowed)
		return
	}
	var config WallConfig
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&config); err != nil {
		http.Error(w, "bad wall config: "+err.Error(), http.StatusBadRequest)
		return
	}
	if config.RateLimit < 0 || config.WindowSeconds < 0 || config.RetryAfter < 0 {
		http.Error(w, "bad wall config: rate_limit, window_seconds and retry_after must be 0 or more", http.StatusBadRequest)
		return
	}
	wl.mu.Lock()
	wl.config = config
	wl.log = nil
	wl.seen = map[string][]time.Time{}
	wl.used = map[*connRecord]map[uint32]bool{}
	wl.mu.Unlock()
	writeJSON(w, map[string]bool{"ok": true})
}

func (wl *wall) servePage(w http.ResponseWriter, r *http.Request) {
	rec, _ := r.Context().Value(fingerprintKey{}).(*connRecord)
	if rec == nil {
		http.Error(w, "no fingerprint recorded for this connection", http.StatusInternalServerError)
		return
	}
	wl.mu.Lock()
	defer wl.mu.Unlock()
	v := WallVerdict{Seq: len(wl.log) + 1, Method: r.Method, Path: r.URL.RequestURI(), JA4: rec.ja4.JA4}
	now := wl.now()
	v.At = float64(now.UnixNano()) / 1e9
	fields := wl.fieldsOf(rec, r)
	v.Protocol = "http/1.1"
	if rec.h2 != nil {
		v.Protocol = "h2"
	}
	v.HeaderOrder = []string{}
	for _, f := range fields {
		name := strings.ToLower(f[0])
		if strings.HasPrefix(name, ":") {
			continue
		}
		v.HeaderOrder = append(v.HeaderOrder, name)
		switch name {
		case "user-agent":
			v.UserAgent = f[1]
		case "sec-ch-ua":
			v.SecChUa = f[1]
		case "sec-ch-ua-platform":
			v.SecChUaPlatform = f[1]
		}
	}
	for _, id := range wl.config.Identities {
		if id.JA4 == v.JA4 && id.UserAgent == v.UserAgent && id.SecChUa == v.SecChUa &&
			id.SecChUaPlatform == v.SecChUaPlatform {
			v.Identity, v.Coherent = id.Name, true
			break
		}
	}
	v.Block = wl.rule(v, now)
	v.Status = wl.answer(w, v)
	if len(wl.log) < wallLogLimit {
		wl.log = append(wl.log, v)
	}
}

// fieldsOf returns the request's header fields in wire order: on HTTP/1.1
// from the capture of its head, on HTTP/2 from the first header block on
// the connection for its method and path not yet matched to a request.
func (wl *wall) fieldsOf(rec *connRecord, r *http.Request) [][2]string {
	if rec.h2 == nil {
		fields, _ := wireHeaders(r)
		return fields
	}
	streams, _, _ := rec.h2.Captured()
	used := wl.used[rec]
	if used == nil {
		used = map[uint32]bool{}
		wl.used[rec] = used
	}
	for _, s := range streams {
		if used[s.StreamID] || pseudo(s.Headers, ":path") != r.URL.RequestURI() || pseudo(s.Headers, ":method") != r.Method {
			continue
		}
		used[s.StreamID] = true
		return s.Headers
	}
	return nil
}

func pseudo(fields [][2]string, name string) string {
	for _, f := range fields {
		if f[0] == name {
			return f[1]
		}
	}
	return ""
}

// rule returns the rule that blocks v, or "". It counts v against its
// identity's rate limit.
func (wl *wall) rule(v WallVerdict, now time.Time) string {
	c := wl.config
	if slices.Contains(c.BlockPaths, strings.SplitN(v.Path, "?", 2)[0]) {
		return "path"
	}
	if slices.Contains(c.BlockJA4, v.JA4) {
		return "ja4"
	}
	for _, order := range c.BlockHeaderOrders {
		if matchesOrder(v.HeaderOrder, order) {
			return "header_order"
		}
	}
	if c.RateLimit > 0 {
		window := time.Duration(c.WindowSeconds * float64(time.Second))
		if window == 0 {
			window = time.Minute
		}
		key := strings.Join([]string{v.JA4, v.UserAgent, v.SecChUa, v.SecChUaPlatform}, "\x00")
		times := slices.DeleteFunc(wl.seen[key], func(t time.Time) bool { return now.Sub(t) >= window })
		wl.seen[key] = append(times, now)
		if len(times) >= c.RateLimit {
			return "rate_limit"
		}
	}
	return ""
}

// matchesOrder is true when order names headers that are all in sent, in
// that relative order (sent's other headers are ignored).
func matchesOrder(sent, order []string) bool {
	if len(order) == 0 {
		return false
	}
	var kept []string
	for _, name := range sent {
		if slices.Contains(order, name) {
			kept = append(kept, name)
		}
	}
	return slices.Equal(kept, order)
}

// answer writes the page or the block page for v and returns its status.
func (wl *wall) answer(w http.ResponseWriter, v WallVerdict) int {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	status, body := http.StatusOK, fmt.Sprintf(
		"<!DOCTYPE html><html><head><title>Page %[1]s</title></head><body><p>Page %[1]s</p></body></html>",
		html.EscapeString(v.Path))
	switch v.Block {
	case "ja4":
		// The shape of Cloudflare's managed challenge.
		h.Set("Server", "cloudflare")
		h.Set("Cf-Mitigated", "challenge")
		status, body = http.StatusForbidden, `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>`+
			`<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">`+
			`<noscript>Enable JavaScript and cookies to continue</noscript></div>`+
			`<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f0c"></script></body></html>`
	case "header_order":
		// The shape of DataDome's captcha page.
		h.Set("X-Datadome", "protected")
		status, body = http.StatusForbidden, `<html><head><title>example.com</title></head><body>`+
			`<p id="cmsg">Please enable JS and disable any ad blocker</p>`+
			`<script>var dd={'rt':'c','cid':'AHrlqA','hsh':'0D4B','t':'fe','host':'geo.captcha-delivery.com'}</script>`+
			`<script src="https://ct.captcha-delivery.com/c.js"></script></body></html>`
	case "path":
		// The shape of Akamai's denial.
		h.Set("Server", "AkamaiGHost")
		status, body = http.StatusForbidden, `<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>`+
			`<H1>Access Denied</H1>You don't have permission to access "http&#58;&#47;&#47;localhost&#47;" `+
			`on this server.<P>Reference&#32;&#35;18&#46;6f2d1102&#46;1733450000&#46;1a2b3c</BODY></HTML>`
	case "rate_limit":
		if wl.config.RetryAfter > 0 {
			h.Set("Retry-After", fmt.Sprint(wl.config.RetryAfter))
		}
		status, body = http.StatusTooManyRequests, "<html><body>Too Many Requests</body></html>"
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return status
}

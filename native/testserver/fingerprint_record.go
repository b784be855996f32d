package testserver

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/scrapy-tlsclient/native/fingerprint"
)

// connRecord is what the fingerprint server learnt about one connection.
// It is written before the connection's first request and only read after.
type connRecord struct {
	helloMsg []byte                   // the ClientHello handshake message, header included
	hello    *fingerprint.ClientHello // nil if the ClientHello did not parse
	helloErr error
	ja3      string
	ja3n     string
	ja4      fingerprint.JA4Result
	state    tls.ConnectionState
	h2       *fingerprint.H2Capture // nil on HTTP/1.1
}

func newConnRecord(helloMsg []byte) *connRecord {
	rec := &connRecord{helloMsg: helloMsg}
	rec.hello, rec.helloErr = fingerprint.ParseClientHello(helloMsg)
	if rec.hello != nil {
		rec.ja3 = fingerprint.JA3String(rec.hello, false)
		rec.ja3n = fingerprint.JA3String(rec.hello, true)
		rec.ja4 = fingerprint.JA4Of(rec.hello)
	}
	return rec
}

type fingerprintKey struct{}

// FingerprintReply is the JSON body of every answer of the fingerprint
// server: the fingerprints of the connection the request came on.
//
// Headers lists the fields in wire order, names as sent, pseudo headers
// included. On HTTP/1.1 they are those of the request answered; on HTTP/2
// they are those of the first request on the connection, the one the
// Akamai fingerprint describes.
type FingerprintReply struct {
	HTTPVersion string   `json:"http_version"` // "h2" or "http/1.1"
	SNI         string   `json:"sni"`
	ALPN        []string `json:"alpn"`        // as offered by the client
	TLSVersion  string   `json:"tls_version"` // negotiated, like "TLS 1.3"

	HelloFingerprints

	Akamai            string      `json:"akamai"`      // "-" on HTTP/1.1
	AkamaiHash        string      `json:"akamai_hash"` // MD5 of Akamai, "" on HTTP/1.1
	H2HeadersPriority *H2Priority `json:"h2_headers_priority"`

	Headers           [][2]string `json:"headers"`
	HeaderOrder       []string    `json:"header_order"`        // lower-case, no pseudo headers
	PseudoHeaderOrder []string    `json:"pseudo_header_order"` // HTTP/2 only

	// Errors says why parts above are missing, such as a ClientHello that
	// did not parse; empty when all is there.
	Errors []string `json:"errors,omitempty"`
}

// HelloFingerprints are the fingerprints of a connection's ClientHello,
// as the fingerprint server answers them and as captures record them.
type HelloFingerprints struct {
	JA3      string `json:"ja3"`
	JA3Hash  string `json:"ja3_hash"`
	JA3N     string `json:"ja3n"`
	JA3NHash string `json:"ja3n_hash"`
	JA4      string `json:"ja4"`
	JA4R     string `json:"ja4_r"`
	JA4O     string `json:"ja4_o"`
	JA4RO    string `json:"ja4_ro"`
}

// helloFingerprints are rec's; the hashes only for a hello that parsed.
func (rec *connRecord) helloFingerprints() HelloFingerprints {
	out := HelloFingerprints{
		JA3: rec.ja3, JA3N: rec.ja3n, JA4: rec.ja4.JA4, JA4R: rec.ja4.JA4R, JA4O: rec.ja4.JA4O, JA4RO: rec.ja4.JA4RO,
	}
	if rec.hello != nil {
		out.JA3Hash, out.JA3NHash = fingerprint.MD5Hex(rec.ja3), fingerprint.MD5Hex(rec.ja3n)
	}
	return out
}

// reply describes rec for request r.
func (rec *connRecord) reply(r *http.Request) FingerprintReply {
	out := FingerprintReply{
		HTTPVersion:       "http/1.1",
		TLSVersion:        tls.VersionName(rec.state.Version),
		ALPN:              []string{},
		HelloFingerprints: rec.helloFingerprints(),
		Akamai:            "-",
	}
	if rec.hello != nil {
		out.SNI = rec.hello.ServerName
		out.ALPN = append(out.ALPN, rec.hello.ALPN...)
	} else {
		out.Errors = append(out.Errors, "ClientHello: "+rec.helloErr.Error())
	}

	var fields [][2]string
	if rec.h2 != nil {
		out.HTTPVersion = "h2"
		out.Akamai = ""
		if pre, err := rec.h2.Preamble(); err != nil {
			out.Errors = append(out.Errors, "HTTP/2: "+err.Error())
		} else {
			out.Akamai = pre.Akamai()
			out.AkamaiHash = fingerprint.MD5Hex(out.Akamai)
			out.H2HeadersPriority = pre.HeadersPriority
			fields = pre.Headers
		}
	} else if wire, ok := wireHeaders(r); ok {
		fields = wire
	} else {
		out.Errors = append(out.Errors, "HTTP/1.1: wire headers unavailable")
	}

	out.Headers = append([][2]string{}, fields...)
	out.HeaderOrder, out.PseudoHeaderOrder = []string{}, []string{}
	for _, f := range fields {
		if strings.HasPrefix(f[0], ":") {
			out.PseudoHeaderOrder = append(out.PseudoHeaderOrder, f[0])
		} else {
			out.HeaderOrder = append(out.HeaderOrder, strings.ToLower(f[0]))
		}
	}
	return out
}

// handleFingerprint answers any request with the fingerprints of its
// connection.
func handleFingerprint(w http.ResponseWriter, r *http.Request) {
	rec, ok := r.Context().Value(fingerprintKey{}).(*connRecord)
	if !ok {
		http.Error(w, "no fingerprint recorded for this connection", http.StatusInternalServerError)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// A WebSocket handshake: its fingerprints come as one text
		// message, then a close (websocket.go).
		reply := rec.reply(r)
		ws, err := upgradeWebSocket(w, r)
		if err != nil {
			return
		}
		defer ws.conn.Close()
		data, _ := json.Marshal(reply)
		if ws.write(opText, data, 0) == nil {
			ws.closeWith(1000, "fingerprint")
		}
		return
	}
	writeJSON(w, rec.reply(r))
}

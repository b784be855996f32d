package testserver

import (
	"crypto/tls"
	"net/http"
	"sync"
)

// HelloSummary is what a TLS client offered in its ClientHello, as Go's
// server sees it: enough to tell browser profiles apart in tests (the full
// JA3/JA4 fingerprint needs a raw parser; that is a later step).
type HelloSummary struct {
	CipherSuites      []uint16 `json:"cipher_suites"`
	Extensions        []uint16 `json:"extensions"`
	SupportedCurves   []uint16 `json:"supported_curves"`
	SupportedVersions []uint16 `json:"supported_versions"`
	SignatureSchemes  []uint16 `json:"signature_schemes"`
	ALPN              []string `json:"alpn"`
	ServerName        string   `json:"server_name"`
}

// helloLog remembers the last ClientHello per client address (bounded).
type helloLog struct {
	mu    sync.Mutex
	byKey map[string]HelloSummary
}

const maxHellos = 4096

func (h *helloLog) record(info *tls.ClientHelloInfo) {
	summary := HelloSummary{
		CipherSuites: info.CipherSuites, Extensions: info.Extensions, ServerName: info.ServerName,
		SupportedVersions: info.SupportedVersions, ALPN: info.SupportedProtos,
	}
	for _, c := range info.SupportedCurves {
		summary.SupportedCurves = append(summary.SupportedCurves, uint16(c))
	}
	for _, s := range info.SignatureSchemes {
		summary.SignatureSchemes = append(summary.SignatureSchemes, uint16(s))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.byKey) >= maxHellos {
		h.byKey = map[string]HelloSummary{}
	}
	h.byKey[info.Conn.RemoteAddr().String()] = summary
}

func (h *helloLog) lookup(remote string) (HelloSummary, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.byKey[remote]
	return s, ok
}

var hellos = &helloLog{byKey: map[string]HelloSummary{}}

// recordHellos makes a TLS config log each ClientHello for /tls.
func recordHellos(config *tls.Config) *tls.Config {
	config.GetConfigForClient = func(info *tls.ClientHelloInfo) (*tls.Config, error) {
		hellos.record(info)
		return nil, nil
	}
	return config
}

// handleTLS answers with the ClientHello of the connection the request
// came on; 404 on plain HTTP.
func handleTLS(w http.ResponseWriter, r *http.Request) {
	// A plain connection has no ClientHello, whatever an earlier TLS
	// connection from the same address and port left recorded.
	summary, ok := hellos.lookup(r.RemoteAddr)
	if r.TLS == nil || !ok {
		http.Error(w, "no TLS ClientHello recorded for this connection", http.StatusNotFound)
		return
	}
	writeJSON(w, summary)
}

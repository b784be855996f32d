package main

import (
	"github.com/scrapy-tlsclient/native/testserver"
)

// captureFile is the JSON written per browser.
type captureFile struct {
	Browser    string `json:"browser"`
	Version    string `json:"version"`
	Platform   string `json:"platform"`
	CapturedAt string `json:"captured_at"` // UTC
	ToolCommit string `json:"tool_commit"`

	// From the connection of the first top-level navigation of the h2 run.
	IdentityTLS   *identityTLS   `json:"identity_tls"`
	IdentityHTTP2 *identityHTTP2 `json:"identity_http2"`

	Runs []captureRunRecord `json:"runs"`
}

// captureRunRecord is one run of the browser against one server.
type captureRunRecord struct {
	ServerALPN []string `json:"server_alpn"`
	Command    []string `json:"command"`
	// EffectiveCommand is the browser process's own command line, with
	// the flags a distribution's wrapper script added.
	EffectiveCommand []string                  `json:"effective_command"`
	PageDone         bool                      `json:"page_done"` // the page reached its last step
	Requests         []requestRecord           `json:"requests"`  // in arrival order
	Connections      []testserver.CapturedConn `json:"connections"`
}

// requestRecord is a request tagged with its kind and the fingerprints of
// its connection.
type requestRecord struct {
	Kind string `json:"kind"`
	testserver.CapturedRequest
	JA3    string `json:"ja3"`
	JA3N   string `json:"ja3n"`
	JA4    string `json:"ja4"`
	Akamai string `json:"akamai,omitempty"`
}

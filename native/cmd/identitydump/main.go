// Command identitydump prints one of tls-client's compiled profiles as
// identity data (the "tls" and "http2" parts of an identity file,
// docs/profiles.rst), to start a new identity from:
//
//	go run ./cmd/identitydump chrome_152
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/scrapy-tlsclient/native/bridge"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: identitydump PROFILE")
		os.Exit(2)
	}
	spec, err := bridge.DumpProfile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "identitydump:", err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(map[string]any{"tls": spec.TLS, "http2": spec.HTTP2}); err != nil {
		fmt.Fprintln(os.Stderr, "identitydump:", err)
		os.Exit(1)
	}
}

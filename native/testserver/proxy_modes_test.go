package testserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scrapy-tlsclient/native/testserver"
)

func TestEchoProxyAnswersAbsoluteFormAndRefusesConnect(t *testing.T) {
	s := start(t)
	client := viaProxy(t, s, s.ProxyEcho, nil)
	resp, err := client.Get(s.HTTP + "/some/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	var echoed testserver.EchoedProxyRequest
	err = json.NewDecoder(resp.Body).Decode(&echoed)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if want := s.HTTP + "/some/path?q=1"; echoed.Target != want || echoed.Method != "GET" {
		t.Fatalf("echoed %+v, want target %s", echoed, want)
	}
	if _, err := client.Get(s.HTTPS + "/echo"); err == nil || !strings.Contains(err.Error(), "Method Not Allowed") {
		t.Fatalf("CONNECT through the echo proxy: %v", err)
	}
}

func TestConnectOnlyProxyTunnelsToTLSPortsOnly(t *testing.T) {
	s := start(t)
	client := viaProxy(t, s, s.ProxyConnectOnly, nil)
	for _, base := range []string{s.HTTPS, s.H2} {
		resp, err := client.Get(base + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", base, resp.StatusCode)
		}
	}
	// Go's client sends absolute-form for http:// targets: refused.
	resp, err := client.Get(s.HTTP + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("absolute-form request: status %d", resp.StatusCode)
	}
	var refused bool
	for _, e := range s.ProxyEntries() {
		refused = refused || (e.Proxy == testserver.ProxyNameConnectOnly && e.Status == http.StatusMethodNotAllowed)
	}
	if !refused {
		t.Fatalf("entries %+v", s.ProxyEntries())
	}
}

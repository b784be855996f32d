package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/scrapy-tlsclient/native/localcert"
)

// startTestCapture starts a capture offering alpn and a client that
// trusts it and speaks HTTP/1.1 and HTTP/2.
func startTestCapture(t *testing.T, alpn []string) (*CaptureServer, *http.Client) {
	t.Helper()
	cert, certPEM, err := localcert.New()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := StartCapture(CaptureConfig{
		Certificate: cert, NextProtos: alpn,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &protos}}
	t.Cleanup(client.CloseIdleConnections)
	return cs, client
}

func get(t *testing.T, client *http.Client, url string, header [][2]string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		req.Header[h[0]] = append(req.Header[h[0]], h[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

func headerValue(fields [][2]string, name string) string {
	for _, f := range fields {
		if f[0] == name {
			return f[1]
		}
	}
	return ""
}

// Every request on an HTTP/2 connection is recorded, the later ones
// decoded against the HPACK table the earlier ones filled.
func TestCaptureRecordsEveryHTTP2Request(t *testing.T) {
	cs, client := startTestCapture(t, []string{"h2", "http/1.1"})
	for _, path := range []string{"/a", "/b", "/c"} {
		get(t, client, cs.URL+path, [][2]string{{"X-Same", "repeated value"}, {"X-Path", path}})
	}
	conns := cs.Connections()
	if len(conns) != 1 || conns[0].Protocol != "h2" {
		t.Fatalf("connections %+v", conns)
	}
	c := conns[0]
	if c.H2 == nil || c.Akamai == "" || c.JA4 == "" || c.ClientHello[:2] != "01" {
		t.Fatalf("connection record %+v", c)
	}
	var paths []string
	for _, r := range c.Requests {
		paths = append(paths, r.Path)
		if headerValue(r.Headers, "x-same") != "repeated value" || headerValue(r.Headers, "x-path") != r.Path {
			t.Errorf("request %s headers %q", r.Path, r.Headers)
		}
	}
	if !slices.Equal(paths, []string{"/a", "/b", "/c"}) {
		t.Errorf("paths %v", paths)
	}
}

// HTTP/1.1 requests are recorded with their heads as sent.
func TestCaptureRecordsHTTP1WireHeads(t *testing.T) {
	cs, client := startTestCapture(t, []string{"http/1.1"})
	get(t, client, cs.URL+"/one", [][2]string{{"x-lower", "1"}})
	get(t, client, cs.URL+"/two", [][2]string{{"X-Upper", "2"}})
	conns := cs.Connections()
	if len(conns) != 1 || conns[0].Protocol != "http/1.1" || conns[0].H2 != nil {
		t.Fatalf("connections %+v", conns)
	}
	reqs := conns[0].Requests
	if len(reqs) != 2 || reqs[0].Path != "/one" || reqs[1].Path != "/two" {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[0].Headers[0][0] != "Host" || headerValue(reqs[0].Headers, "x-lower") != "1" || headerValue(reqs[1].Headers, "X-Upper") != "2" {
		t.Errorf("heads %q, %q", reqs[0].Headers, reqs[1].Headers)
	}
}

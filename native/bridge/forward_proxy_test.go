package bridge

import (
	"encoding/json"
	"strings"
	"testing"
)

// An http:// target through an HTTP proxy is an absolute-form request to
// the proxy, not a CONNECT tunnel; https:// still tunnels.
func TestPlainHTTPThroughProxyIsAbsoluteForm(t *testing.T) {
	b := New()
	s := testServers(t)
	target := s.HTTP + "/a/b?c=1"
	out := doRequest(t, b, req(target, map[string]any{
		"sessionId": "forward", "proxyUrl": s.ProxyEcho,
		"connectHeaders": map[string][]string{"Proxy-Authorization": {"Basic dXNlcjpwYXNz"}},
	}))
	if out.Status != 200 {
		t.Fatalf("%+v", out)
	}
	var echoed struct {
		Method, Target     string
		ProxyAuthorization string `json:"proxy_authorization"`
	}
	if err := json.Unmarshal(dataURLBytes(t, out.Body), &echoed); err != nil {
		t.Fatalf("%v in %q", err, out.Body)
	}
	if echoed.Method != "GET" || echoed.Target != target || echoed.ProxyAuthorization != "Basic dXNlcjpwYXNz" {
		t.Fatalf("echoed %+v", echoed)
	}
	// The echo proxy refuses CONNECT: an https:// target still tunnels.
	out = doRequest(t, b, req(s.HTTPS+"/echo", map[string]any{"sessionId": "forward-tls", "proxyUrl": s.ProxyEcho}))
	if out.Status != 0 || !strings.Contains(out.Body, "405") {
		t.Fatalf("https through a non-tunnelling proxy: %+v", out)
	}
}

// An https:// proxy's certificate is verified as the targets' are: the
// self-signed test proxy works with insecureSkipVerify and is refused,
// naming where verification looked, without it.
func TestHTTPSProxyCertificateFollowsInsecureSkipVerify(t *testing.T) {
	b := New()
	s := testServers(t)
	for _, target := range []string{s.HTTP, s.HTTPS} {
		out := doRequest(t, b, req(target+"/echo", map[string]any{
			"sessionId": "tls-proxy-insecure", "proxyUrl": s.ProxyTLS, "insecureSkipVerify": true}))
		if out.Status != 200 {
			t.Fatalf("%s, verification off: %+v", target, out)
		}
		out = doRequest(t, b, req(target+"/echo", map[string]any{
			"sessionId": "tls-proxy-verified", "proxyUrl": s.ProxyTLS, "insecureSkipVerify": false}))
		if out.Status != 0 || !strings.Contains(out.Body, "SSL_CERT_FILE") || out.ErrorCode != CodeTLS {
			t.Fatalf("%s, verification on: %+v", target, out)
		}
	}
}

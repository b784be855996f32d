package testserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
)

// Two more HTTP proxies, each behaving like a kind of real proxy a client
// must cope with:
//
//   - ProxyEcho, a plain forward proxy that contacts no origin: it answers
//     every absolute-form request (GET http://host/path HTTP/1.1) itself,
//     with 200 and an [EchoedProxyRequest] of what it received, and refuses
//     CONNECT with 405, as a forward proxy that does not tunnel does.
//   - ProxyConnectOnly, a tunnelling-only proxy that, like a stock Squid
//     (CONNECT to SSL_ports only), tunnels CONNECT to the TLS test servers'
//     ports only: CONNECT to any other port gets 403 and an absolute-form
//     request 405.
//
// Both record their entries in the shared [ProxyLog].

// Names of these proxies in [ProxyEntry].Proxy.
const (
	ProxyNameEcho        = "proxy_echo"
	ProxyNameConnectOnly = "proxy_connect_only"
)

// proxyMode is what an [httpProxy] does with a request.
type proxyMode int

const (
	// modeForward tunnels CONNECT and forwards absolute-form requests.
	modeForward proxyMode = iota
	modeEcho
	modeConnectOnly
)

// EchoedProxyRequest is the JSON body ProxyEcho answers with.
type EchoedProxyRequest struct {
	Method string `json:"method"`
	// Target is the request-target exactly as received: the absolute form
	// "http://host:port/path?query" from a client that speaks to a proxy.
	Target string `json:"target"`
	Host   string `json:"host"`
	// ProxyAuthorization is the Proxy-Authorization header, "" if none.
	ProxyAuthorization string `json:"proxy_authorization"`
	// Headers are the request's header names and values (canonical case).
	Headers map[string][]string `json:"headers"`
}

// serveMode handles r for the echo and connect-only modes; false for
// modeForward, which ServeHTTP handles itself.
func (p *httpProxy) serveMode(w http.ResponseWriter, r *http.Request, entry ProxyEntry) bool {
	switch p.mode {
	case modeEcho:
		if r.Method == http.MethodConnect {
			p.fail(w, entry, http.StatusMethodNotAllowed, errors.New("this proxy does not tunnel (CONNECT)"))
			return true
		}
		entry.Target = r.RequestURI
		entry.Status = http.StatusOK
		p.log.add(entry)
		writeJSON(w, EchoedProxyRequest{
			Method: r.Method, Target: r.RequestURI, Host: r.Host,
			ProxyAuthorization: r.Header.Get("Proxy-Authorization"), Headers: r.Header,
		})
		return true
	case modeConnectOnly:
		if r.Method != http.MethodConnect {
			p.fail(w, entry, http.StatusMethodNotAllowed, errors.New("this proxy only tunnels (CONNECT)"))
			return true
		}
		if _, port, err := net.SplitHostPort(r.Host); err == nil && !slices.Contains(p.connectPorts, port) {
			p.fail(w, entry, http.StatusForbidden, fmt.Errorf("CONNECT to port %s is not allowed", port))
			return true
		}
	}
	return false
}

// urlPort is the port of a test server URL such as https://127.0.0.1:PORT.
func urlPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Port()
}

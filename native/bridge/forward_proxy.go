package bridge

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	http "github.com/bogdanfinn/fhttp"
	tls_client "github.com/bogdanfinn/tls-client"
	tls "github.com/bogdanfinn/utls"
)

// Plain-HTTP targets through an HTTP(S) proxy go to the proxy as ordinary
// forward-proxy requests (absolute form: "GET http://host/path HTTP/1.1"),
// as browsers, curl, requests and Scrapy send them. tls-client dials every
// target through its proxy dialer, which always opens a CONNECT tunnel:
// many proxies refuse CONNECT to port 80 (a stock Squid allows it to 443
// only), and a proxy that does not tunnel leaves the call hanging. So the
// client a session runs on sends such requests through an fhttp Transport
// of its own whose Proxy is the session's proxy; https:// targets keep
// tls-client's CONNECT tunnel and browser TLS. A plain-HTTP request has no
// TLS to fingerprint, and this transport writes the request with the same
// fhttp HTTP/1.1 writer (header order included) tls-client's uses.

// forwardingClient is a tls-client client that forwards http:// requests
// itself when its proxy is an HTTP(S) proxy.
type forwardingClient struct {
	tls_client.HttpClient
	opts forwardOptions
	// builtProxy is the proxy the client was built with: an https:// one
	// is not tls-client's own proxy URL but a dialer (https_proxy.go), so
	// tls-client reports none.
	builtProxy string

	mu        sync.Mutex
	proxy     string          // the proxy transport was built for
	transport *http.Transport // nil until a forwarded request needs it
}

// forwardOptions are the client options the forwarding transport honours.
type forwardOptions struct {
	localAddr          *net.TCPAddr
	network            string // "tcp", or "tcp4"/"tcp6" when one family is disabled
	insecureSkipVerify bool
	proxyHeaders       http.Header // connectHeaders named Proxy-*: for the proxy hop
	transport          *TransportOptions
}

// withForwardProxy wraps client so that it forwards plain-HTTP requests
// through HTTP(S) proxies instead of tunnelling them.
func withForwardProxy(client tls_client.HttpClient, spec clientSpec, localAddr *net.TCPAddr, proxyURL string) tls_client.HttpClient {
	opts := forwardOptions{network: "tcp", insecureSkipVerify: spec.InsecureSkipVerify, transport: spec.Transport, localAddr: localAddr}
	switch {
	case spec.DisableIPV6 && !spec.DisableIPV4:
		opts.network = "tcp4"
	case spec.DisableIPV4 && !spec.DisableIPV6:
		opts.network = "tcp6"
	}
	for name, values := range spec.ConnectHeaders {
		if strings.HasPrefix(strings.ToLower(name), "proxy-") {
			if opts.proxyHeaders == nil {
				opts.proxyHeaders = http.Header{}
			}
			opts.proxyHeaders[http.CanonicalHeaderKey(name)] = values
		}
	}
	return &forwardingClient{HttpClient: client, opts: opts, builtProxy: proxyURL}
}

// GetProxy reports the proxy calls go through.
func (c *forwardingClient) GetProxy() string {
	if p := c.HttpClient.GetProxy(); p != "" {
		return p
	}
	return c.builtProxy
}

// Do forwards an http:// request through an HTTP(S) proxy; everything else
// goes through tls-client.
func (c *forwardingClient) Do(req *http.Request) (*http.Response, error) {
	proxy := c.GetProxy()
	if !strings.EqualFold(req.URL.Scheme, "http") || !isHTTPProxy(&proxy) {
		return c.HttpClient.Do(req)
	}
	transport, err := c.transportFor(proxy)
	if err != nil {
		return nil, err
	}
	for name, values := range c.opts.proxyHeaders {
		// Hop-by-hop: the proxy removes it before it forwards the request.
		req.Header[name] = values
	}
	client := &http.Client{Transport: transport, Jar: c.HttpClient.GetCookieJar()}
	if !c.HttpClient.GetFollowRedirect() {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return client.Do(req)
}

// CloseIdleConnections closes the idle connections of both transports.
func (c *forwardingClient) CloseIdleConnections() {
	c.HttpClient.CloseIdleConnections()
	c.mu.Lock()
	t := c.transport
	c.mu.Unlock()
	if t != nil {
		t.CloseIdleConnections()
	}
}

// transportFor returns the forwarding transport for proxy, replacing the
// one of a previous proxy (a session's proxy may change per call).
func (c *forwardingClient) transportFor(proxy string) (*http.Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transport != nil && c.proxy == proxy {
		return c.transport, nil
	}
	proxyURL, err := url.Parse(proxy)
	if err != nil || proxyURL.Host == "" {
		return nil, newError(CodeProxy, fmt.Sprintf("invalid proxy url: %v", err))
	}
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	c.transport, c.proxy = c.opts.newTransport(proxyURL), proxy
	return c.transport, nil
}

func (o forwardOptions) newTransport(proxyURL *url.URL) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if o.localAddr != nil {
		dialer.LocalAddr = o.localAddr
	}
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, o.network, addr)
	}
	t := &http.Transport{
		Proxy:       http.ProxyURL(proxyURL),
		DialContext: dial,
		// An https:// proxy: TLS to the proxy, verified as the client's
		// targets are (insecureSkipVerify), HTTP/1.1 only. The connection
		// is handed over without its TLS state, which describes the proxy
		// hop, not the plain-HTTP target the envelope reports on.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			tc := tls.Client(raw, &tls.Config{
				ServerName:         host,
				InsecureSkipVerify: o.insecureSkipVerify,
				NextProtos:         []string{"http/1.1"},
			})
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, proxyHandshakeError(addr, err)
			}
			return proxyHopConn{tc}, nil
		},
		// The bridge decodes bodies itself (transportOptions).
		DisableCompression: true,
		IdleConnTimeout:    90 * time.Second,
	}
	if o.transport != nil {
		t.MaxIdleConns = o.transport.MaxIdleConns
		t.MaxIdleConnsPerHost = o.transport.MaxIdleConnsPerHost
		t.MaxConnsPerHost = o.transport.MaxConnsPerHost
		t.DisableKeepAlives = o.transport.DisableKeepAlives
		if o.transport.MaxResponseHeaderBytes > 0 {
			t.MaxResponseHeaderBytes = o.transport.MaxResponseHeaderBytes
		}
		if o.transport.IdleConnTimeout != nil {
			t.IdleConnTimeout = time.Duration(*o.transport.IdleConnTimeout)
		}
	}
	return t
}

// proxyHopConn hides the TLS connection state of the proxy hop.
type proxyHopConn struct{ net.Conn }

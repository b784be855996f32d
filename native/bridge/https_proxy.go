package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	http "github.com/bogdanfinn/fhttp"
	tls_client "github.com/bogdanfinn/tls-client"
	utls "github.com/bogdanfinn/utls"
	"golang.org/x/net/proxy"
)

// CONNECT through an https:// proxy, with the proxy's certificate checked
// as the client checks its targets': verified against the system roots
// (and SSL_CERT_FILE) unless insecureSkipVerify. tls-client's own CONNECT
// dialer always verifies the proxy, so a self-signed HTTPS proxy
// (mitmproxy, a corporate gateway) could not be used without verification
// being off for the targets behind it, where Scrapy's handler skips both.
// The proxy hop offers only http/1.1 (upstream also offers h2 to the
// proxy); the target's TLS inside the tunnel is the profile's, as before.

// proxyOption is the client option for in's proxy: tls-client's own for
// every scheme but https, this package's CONNECT dialer for https.
func proxyOption(spec clientSpec, raw string) tls_client.HttpClientOption {
	if spec.ProxyKind != "https" {
		return tls_client.WithProxyUrl(raw)
	}
	insecure := spec.InsecureSkipVerify
	return tls_client.WithProxyDialerFactory(func(proxyURL string, timeout time.Duration, localAddr *net.TCPAddr,
		connectHeaders http.Header, _ tls_client.Logger) (proxy.ContextDialer, error) {
		if proxyURL == "" {
			proxyURL = raw // tls-client passes its own proxy URL, empty with a factory
		}
		return newHTTPSProxyDialer(proxyURL, timeout, localAddr, connectHeaders, insecure)
	})
}

// httpsProxyDialer opens a CONNECT tunnel through an https:// proxy.
type httpsProxyDialer struct {
	proxy    *url.URL // host:port
	dialer   net.Dialer
	header   http.Header
	insecure bool
	timeout  time.Duration
}

func newHTTPSProxyDialer(proxyURL string, timeout time.Duration, localAddr *net.TCPAddr, connectHeaders http.Header,
	insecure bool) (*httpsProxyDialer, error) {
	u, err := url.Parse(proxyURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid proxy url %q", redactedURL(proxyURL))
	}
	if !strings.EqualFold(u.Scheme, "https") {
		// A session's proxy may change per call, but not away from the
		// dialer it was built with.
		return nil, fmt.Errorf("this session was created with an https:// proxy; use another session for a %s:// proxy", u.Scheme)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &httpsProxyDialer{proxy: u, header: connectHeaders.Clone(), insecure: insecure, timeout: timeout}
	if d.header == nil {
		d.header = http.Header{}
	}
	if u.User != nil && u.User.Username() != "" {
		password, _ := u.User.Password()
		d.header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+password)))
	}
	d.dialer.Timeout = timeout
	if localAddr != nil {
		d.dialer.LocalAddr = localAddr
	}
	return d, nil
}

func (d *httpsProxyDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d *httpsProxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.dialer.DialContext(ctx, network, d.proxy.Host)
	if err != nil {
		return nil, err
	}
	if d.timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(d.timeout))
	}
	conn := tls.Client(raw, &tls.Config{
		ServerName:         d.proxy.Hostname(),
		InsecureSkipVerify: d.insecure,
		NextProtos:         []string{"http/1.1"},
	})
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, proxyHandshakeError(d.proxy.Host, err)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: addr}, Host: addr, Header: d.header.Clone()}
	if err := req.Write(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_ = conn.Close()
		// Worded as tls-client's CONNECT dialer words it: callers match it.
		return nil, errors.New("Proxy responded with non 200 code: " + resp.Status)
	}
	_ = raw.SetDeadline(time.Time{})
	return conn, nil
}

// proxyHandshakeError says why the TLS handshake with an https:// proxy
// failed, and where a failed verification looked.
func proxyHandshakeError(host string, err error) error {
	var verification *tls.CertificateVerificationError
	var utlsVerification *utls.CertificateVerificationError
	if errors.As(err, &verification) || errors.As(err, &utlsVerification) {
		return fmt.Errorf("https proxy %s: certificate verification against the system roots and SSL_CERT_FILE "+
			"failed (certificate verification is on): %w", host, err)
	}
	return fmt.Errorf("https proxy %s: tls handshake: %w", host, err)
}

func redactedURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}

package testserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The forward proxies of [Start] let tests send requests through a proxy:
//
//   - Proxy, an HTTP proxy without authentication. It tunnels CONNECT
//     host:port and forwards absolute-URI requests (GET http://host/path).
//   - ProxyAuth, the same but requiring the Basic credentials
//     [ProxyUser]:[ProxyPassword] in Proxy-Authorization; otherwise it answers
//     407 with Proxy-Authenticate: Basic realm="test".
//   - ProxyTLS, the same as Proxy but reached over TLS (an https:// proxy
//     URL) with the servers' certificate. It offers only http/1.1 in ALPN.
//   - ProxyEcho and ProxyConnectOnly, in proxy_modes.go.
//   - Socks5, a SOCKS5 proxy (RFC 1928) for the CONNECT command with IPv4,
//     domain name and IPv6 addresses. It accepts clients without
//     authentication and with username/password (RFC 1929), and prefers the
//     latter when a client offers both, so that the user gets recorded.
//
// Tunnels copy bytes verbatim, so the origin's /echo still reports wire-order
// headers. Forwarded absolute-URI requests are re-sent by net/http, which
// keeps the header values but not their order or case; the proxy removes
// hop-by-hop headers and Proxy-Authorization and adds nothing.
//
// Every proxy records what it handled in a shared [ProxyLog]; see
// [ProxyEntry], [Servers.ProxyEntries] and the /proxy-log endpoint.

// The credentials ProxyAuth and Socks5 accept.
const (
	ProxyUser     = "user"
	ProxyPassword = "pass"
)

// Names of the proxies in [ProxyEntry].Proxy.
const (
	ProxyNameHTTP   = "proxy"
	ProxyNameAuth   = "proxy_auth"
	ProxyNameSocks5 = "socks5"
	ProxyNameTLS    = "proxy_tls"
)

const (
	// proxyDialTimeout bounds the connection to a target.
	proxyDialTimeout = 10 * time.Second
	// proxyHandshakeTimeout bounds a SOCKS5 negotiation and the reading of
	// an HTTP proxy request's head.
	proxyHandshakeTimeout = 10 * time.Second
	// maxProxyEntries bounds the log; older entries are dropped beyond it.
	maxProxyEntries = 10000
)

// ProxyEntry is one request or connection handled by a proxy.
//
// Status is what the proxy answered. For the HTTP proxies that is the HTTP
// status: 200 for an established CONNECT tunnel, 407 for missing or wrong
// credentials, 400 for a malformed request, 502 when the target could not be
// reached, and otherwise the origin's status of a forwarded request. For
// SOCKS5 it is the REP field of the reply (0 succeeded, 1 general failure,
// 4 host unreachable, 5 connection refused, 7 command not supported, 8
// address type not supported); when the negotiation ends before a request
// it is 255 if no offered method was acceptable and 1 (the RFC 1929 status)
// for wrong credentials, with Target "".
type ProxyEntry struct {
	Proxy  string `json:"proxy"`  // "proxy", "proxy_auth", "socks5", "proxy_tls", "proxy_echo" or "proxy_connect_only"
	Method string `json:"method"` // the HTTP method, such as "CONNECT" or "GET", or "SOCKS5"
	// Target is host:port for CONNECT and SOCKS5, the absolute URL of a
	// forwarded request.
	Target string `json:"target"`
	// ProxyAuthorization is the Proxy-Authorization header the HTTP proxy
	// received, "" if none; whether or not it was valid.
	ProxyAuthorization string `json:"proxy_authorization"`
	// SocksUser is the username of a SOCKS5 client that authenticated, or
	// tried to; "" if it used no authentication.
	SocksUser string `json:"socks_user"`
	Status    int    `json:"status"`
	Error     string `json:"error"` // why the proxy failed, "" on success
}

// ProxyLog records the entries of the proxies, oldest first. It keeps the
// latest 10000. It is safe for concurrent use.
type ProxyLog struct {
	mu      sync.Mutex
	entries []ProxyEntry
}

func (l *ProxyLog) add(e ProxyEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxProxyEntries {
		l.entries = slices.Delete(l.entries, 0, len(l.entries)-maxProxyEntries+1)
	}
	l.entries = append(l.entries, e)
}

// Entries returns a copy of the entries, never nil.
func (l *ProxyLog) Entries() []ProxyEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ProxyEntry{}, l.entries...)
}

// Clear removes all entries.
func (l *ProxyLog) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

// ProxyEntries returns what the proxies have handled so far, oldest first.
// An entry is recorded before the proxy answers, so it is there once the
// client has the answer.
func (s *Servers) ProxyEntries() []ProxyEntry {
	return s.proxyLog.Entries()
}

// ClearProxyLog forgets the entries recorded so far.
func (s *Servers) ClearProxyLog() {
	s.proxyLog.Clear()
}

// ProxyLogReply is the JSON body of GET /proxy-log.
type ProxyLogReply struct {
	Entries []ProxyEntry `json:"entries"`
}

// withProxyLog serves the proxy log next to the endpoints of next:
//
//	GET /proxy-log          {"entries": [...]}, see [ProxyLogReply]
//	DELETE /proxy-log       clears the log, answers 204
//	POST /proxy-log/clear   the same
//
// The log's handler takes its request head off the connection's capture
// like the handlers of next do, so that /echo keeps its wire headers on a
// connection that also asked for the log.
func withProxyLog(log *ProxyLog, next http.Handler) http.Handler {
	logHandler := withWireHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/proxy-log" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			writeJSON(w, ProxyLogReply{Entries: log.Entries()})
		case r.URL.Path == "/proxy-log" && r.Method == http.MethodDelete,
			r.URL.Path == "/proxy-log/clear" && r.Method == http.MethodPost:
			log.Clear()
			w.WriteHeader(http.StatusNoContent)
		default:
			allow := "GET, HEAD, DELETE"
			if r.URL.Path == "/proxy-log/clear" {
				allow = "POST"
			}
			w.Header().Set("Allow", allow)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/proxy-log" || r.URL.Path == "/proxy-log/clear" {
			logHandler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startProxies starts the four proxies; s.proxyLog must be set.
func (s *Servers) startProxies(cert tls.Certificate) error {
	forward := &http.Transport{
		// Never chain to a proxy from the environment.
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: proxyDialTimeout}).DialContext,
		// Forwarded https:// URLs (unusual: clients use CONNECT) can
		// reach the test servers.
		TLSClientConfig: &tls.Config{RootCAs: s.CertPool()},
		// Pass Accept-Encoding and the encoded body through untouched.
		DisableCompression: true,
		IdleConnTimeout:    30 * time.Second,
	}
	s.proxyTransport = forward
	proxyTLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	tlsPorts := []string{urlPort(s.HTTPS), urlPort(s.H2)}
	for _, spec := range []struct {
		url   *string
		name  string
		auth  bool
		tlsCf *tls.Config
		mode  proxyMode
	}{
		{&s.Proxy, ProxyNameHTTP, false, nil, modeForward},
		{&s.ProxyAuth, ProxyNameAuth, true, nil, modeForward},
		{&s.ProxyTLS, ProxyNameTLS, false, proxyTLS, modeForward},
		{&s.ProxyEcho, ProxyNameEcho, false, nil, modeEcho},
		{&s.ProxyConnectOnly, ProxyNameConnectOnly, false, nil, modeConnectOnly},
	} {
		p, err := startHTTPProxy(spec.name, spec.auth, spec.tlsCf, forward, s.proxyLog, spec.mode, tlsPorts)
		if err != nil {
			return err
		}
		s.proxies = append(s.proxies, p)
		*spec.url = p.url
	}
	p, err := startSocksProxy(s.proxyLog)
	if err != nil {
		return err
	}
	s.proxies = append(s.proxies, p)
	s.Socks5 = p.url
	return nil
}

// closeProxies stops the proxies and ends their connections and tunnels.
func (s *Servers) closeProxies() {
	for _, p := range s.proxies {
		p.close()
	}
	if s.proxyTransport != nil {
		s.proxyTransport.CloseIdleConnections()
	}
}

type proxyServer interface {
	close()
}

// tracker knows the connections that the servers do not close themselves,
// hijacked ones and those to targets, and the goroutines that use them.
type tracker struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// begin counts a goroutine that close must wait for; false once closed.
// serve accepts connections on ln until it is closed, each handled in a
// goroutine of its own that the tracker waits for and whose connection it
// closes on close().
func (t *tracker) serve(ctx context.Context, ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Such as running out of file descriptors: wait and retry.
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if !t.begin() {
			_ = c.Close()
			return
		}
		go func() {
			defer t.end()
			if !t.add(c) {
				return
			}
			defer t.remove(c)
			handle(c)
		}()
	}
}

func (t *tracker) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) end() { t.wg.Done() }

// add tracks conns until remove. Once closed it closes them and returns false.
func (t *tracker) add(conns ...net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	if t.conns == nil {
		t.conns = map[net.Conn]struct{}{}
	}
	for _, c := range conns {
		t.conns[c] = struct{}{}
	}
	return true
}

func (t *tracker) remove(conns ...net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range conns {
		delete(t.conns, c)
	}
}

// close closes the tracked connections, without a TLS close_notify, and
// waits for the goroutines to end.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		_ = c.Close()
	}
	t.conns = nil
	t.mu.Unlock()
	t.wg.Wait()
}

// tunnel copies bytes both ways between a client and a target until either
// side closes or fails, then closes both. fromClient reads the client,
// possibly starting with bytes already buffered from it.
func tunnel(client net.Conn, fromClient io.Reader, target net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(target, fromClient)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, target)
		done <- struct{}{}
	}()
	<-done
	_ = client.Close()
	_ = target.Close()
	<-done
}

// dialTarget connects to a proxy's target, giving up when ctx ends.
func dialTarget(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: proxyDialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

// httpProxy is an HTTP forward proxy, in plain text or over TLS.
type httpProxy struct {
	name      string
	url       string
	auth      bool
	log       *ProxyLog
	transport *http.Transport
	ln        net.Listener
	srv       *http.Server
	stop      context.CancelFunc
	done      chan struct{}
	tracked   tracker
	mode      proxyMode
	// connectPorts are the ports connect-only mode tunnels to.
	connectPorts []string
}

func startHTTPProxy(name string, auth bool, tlsConfig *tls.Config, transport *http.Transport, log *ProxyLog,
	mode proxyMode, connectPorts []string) (*httpProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	scheme := "http"
	serveLn := ln
	if tlsConfig != nil {
		scheme = "https"
		serveLn = tls.NewListener(ln, tlsConfig)
	}
	base, stop := context.WithCancel(context.Background())
	p := &httpProxy{
		name:      name,
		url:       scheme + "://" + ln.Addr().String(),
		auth:      auth,
		log:       log,
		transport: transport,
		ln:        ln,
		stop:      stop,
		done:      make(chan struct{}),
		mode:      mode,
		// connect-only mode: the ports CONNECT may reach.
		connectPorts: connectPorts,
	}
	var h1 http.Protocols
	h1.SetHTTP1(true)
	p.srv = &http.Server{
		Handler:           p,
		Protocols:         &h1,
		ReadHeaderTimeout: proxyHandshakeTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(serveLn)
	}()
	return p, nil
}

func (p *httpProxy) close() {
	// Cancelling ends dials and forwarded requests in progress.
	p.stop()
	_ = p.srv.Close()
	_ = p.ln.Close()
	<-p.done
	p.tracked.close()
}

func (p *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.tracked.begin() {
		http.Error(w, "proxy closed", http.StatusServiceUnavailable)
		return
	}
	defer p.tracked.end()

	entry := ProxyEntry{
		Proxy:              p.name,
		Method:             r.Method,
		ProxyAuthorization: r.Header.Get("Proxy-Authorization"),
	}
	if r.Method == http.MethodConnect {
		entry.Target = r.Host
	} else {
		entry.Target = r.URL.String()
	}
	if p.auth && !validProxyAuth(entry.ProxyAuthorization) {
		entry.Status = http.StatusProxyAuthRequired
		entry.Error = "proxy authentication required"
		if entry.ProxyAuthorization != "" {
			entry.Error = "wrong proxy credentials"
		}
		p.log.add(entry)
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, entry.Error, entry.Status)
		return
	}
	if p.serveMode(w, r, entry) {
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r, entry)
	} else {
		p.forward(w, r, entry)
	}
}

// validProxyAuth reports whether a Proxy-Authorization value carries the
// Basic credentials ProxyUser:ProxyPassword.
func validProxyAuth(value string) bool {
	scheme, credentials, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(credentials))
	return err == nil && string(decoded) == ProxyUser+":"+ProxyPassword
}

// fail records entry with the status and error and answers with them.
func (p *httpProxy) fail(w http.ResponseWriter, entry ProxyEntry, status int, err error) {
	entry.Status = status
	entry.Error = err.Error()
	p.log.add(entry)
	http.Error(w, http.StatusText(status)+": "+entry.Error, status)
}

// connect tunnels to the host:port of a CONNECT request.
func (p *httpProxy) connect(w http.ResponseWriter, r *http.Request, entry ProxyEntry) {
	if _, port, err := net.SplitHostPort(r.Host); err != nil || port == "" {
		p.fail(w, entry, http.StatusBadRequest, fmt.Errorf("CONNECT target %q is not host:port", r.Host))
		return
	}
	target, err := dialTarget(r.Context(), r.Host)
	if err != nil {
		p.fail(w, entry, http.StatusBadGateway, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = target.Close()
		p.fail(w, entry, http.StatusInternalServerError, err)
		return
	}
	entry.Status = http.StatusOK
	p.log.add(entry)
	if !p.tracked.add(conn, target) {
		return
	}
	defer p.tracked.remove(conn, target)
	// The server may have left a read deadline on the connection.
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = conn.Close()
		_ = target.Close()
		return
	}
	// The client may have sent more than the request already.
	var fromClient io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		fromClient = io.MultiReader(io.LimitReader(brw.Reader, int64(n)), conn)
	}
	tunnel(conn, fromClient, target)
}

// hopHeaders are the header fields that concern one connection only, which
// a proxy must not forward (RFC 9110 7.6.1), plus the proxy's credentials.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// forward sends an absolute-URI request on to the origin and streams back
// its response.
func (p *httpProxy) forward(w http.ResponseWriter, r *http.Request, entry ProxyEntry) {
	if r.URL.Host == "" || (r.URL.Scheme != "http" && r.URL.Scheme != "https") {
		p.fail(w, entry, http.StatusBadRequest, errors.New("a proxy request needs an absolute http(s) URI or CONNECT"))
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Close = false
	removeHopHeaders(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		// Keep net/http from adding its own.
		out.Header["User-Agent"] = []string{""}
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		p.fail(w, entry, http.StatusBadGateway, err)
		return
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	for name, values := range resp.Header {
		w.Header()[name] = values
	}
	entry.Status = resp.StatusCode
	p.log.add(entry)
	w.WriteHeader(resp.StatusCode)
	// Flush every read so that streamed responses stay streamed.
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			// Pass a truncated response on as truncated.
			panic(http.ErrAbortHandler)
		}
	}
}

// socksProxy is a SOCKS5 proxy.
type socksProxy struct {
	url     string
	ln      net.Listener
	log     *ProxyLog
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
	tracked tracker
}

func startSocksProxy(log *ProxyLog) (*socksProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &socksProxy{
		url:  "socks5://" + ln.Addr().String(),
		ln:   ln,
		log:  log,
		ctx:  ctx,
		stop: stop,
		done: make(chan struct{}),
	}
	go p.serve()
	return p, nil
}

func (p *socksProxy) serve() {
	defer close(p.done)
	p.tracked.serve(p.ctx, p.ln, p.handle)
}

func (p *socksProxy) close() {
	p.stop()
	_ = p.ln.Close()
	<-p.done
	p.tracked.close()
}

// SOCKS5 constants of RFC 1928 and RFC 1929.
const (
	socksVersion         = 5
	socksAuthVersion     = 1
	socksMethodNone      = 0
	socksMethodPassword  = 2
	socksNoAcceptable    = 0xff
	socksCmdConnect      = 1
	socksAtypIPv4        = 1
	socksAtypDomain      = 3
	socksAtypIPv6        = 4
	socksSucceeded       = 0
	socksGeneralFailure  = 1
	socksHostUnreachable = 4
	socksRefused         = 5
	socksCmdUnsupported  = 7
	socksAtypUnsupported = 8
)

// handle serves one SOCKS5 connection and closes it.
func (p *socksProxy) handle(c net.Conn) {
	defer c.Close()
	entry := ProxyEntry{Proxy: ProxyNameSocks5, Method: "SOCKS5"}
	record := func(status int, err error) {
		entry.Status = status
		if err != nil {
			entry.Error = err.Error()
		}
		p.log.add(entry)
	}
	_ = c.SetDeadline(time.Now().Add(proxyHandshakeTimeout))
	br := bufio.NewReader(c)

	// Method selection.
	head, err := readN(br, 2)
	if err != nil {
		return
	}
	if head[0] != socksVersion {
		record(socksGeneralFailure, fmt.Errorf("SOCKS version %d", head[0]))
		return
	}
	methods, err := readN(br, int(head[1]))
	if err != nil {
		return
	}
	method := byte(socksNoAcceptable)
	if slices.Contains(methods, socksMethodPassword) {
		method = socksMethodPassword
	} else if slices.Contains(methods, socksMethodNone) {
		method = socksMethodNone
	}
	if method == socksNoAcceptable {
		// Log before answering: a client that has the answer may look.
		record(socksNoAcceptable, fmt.Errorf("no acceptable authentication method in %v", methods))
		_, _ = c.Write([]byte{socksVersion, method})
		return
	}
	if _, err := c.Write([]byte{socksVersion, method}); err != nil {
		return
	}

	// Username and password.
	if method == socksMethodPassword {
		user, pass, err := readSocksCredentials(br)
		if err != nil {
			record(socksGeneralFailure, err)
			return
		}
		entry.SocksUser = user
		if user != ProxyUser || pass != ProxyPassword {
			record(1, errors.New("wrong credentials"))
			_, _ = c.Write([]byte{socksAuthVersion, 1})
			return
		}
		if _, err := c.Write([]byte{socksAuthVersion, 0}); err != nil {
			return
		}
	}

	// The request.
	req, err := readN(br, 4)
	if err != nil {
		return
	}
	if req[0] != socksVersion {
		record(socksGeneralFailure, fmt.Errorf("SOCKS version %d in request", req[0]))
		return
	}
	host, err := readSocksAddr(br, req[3])
	if err != nil {
		if errors.Is(err, errAtypUnsupported) {
			record(socksAtypUnsupported, err)
			_ = writeSocksReply(c, socksAtypUnsupported, nil)
		}
		return
	}
	portBytes, err := readN(br, 2)
	if err != nil {
		return
	}
	entry.Target = net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(portBytes))))
	if req[1] != socksCmdConnect {
		record(socksCmdUnsupported, fmt.Errorf("command %d not supported", req[1]))
		_ = writeSocksReply(c, socksCmdUnsupported, nil)
		return
	}
	target, err := dialTarget(p.ctx, entry.Target)
	if err != nil {
		rep := byte(socksHostUnreachable)
		if errors.Is(err, syscall.ECONNREFUSED) {
			rep = socksRefused
		}
		record(int(rep), err)
		_ = writeSocksReply(c, rep, nil)
		return
	}
	if !p.tracked.add(target) {
		return
	}
	defer p.tracked.remove(target)
	record(socksSucceeded, nil)
	if err := writeSocksReply(c, socksSucceeded, target.LocalAddr()); err != nil {
		_ = target.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var fromClient io.Reader = c
	if n := br.Buffered(); n > 0 {
		fromClient = io.MultiReader(io.LimitReader(br, int64(n)), c)
	}
	tunnel(c, fromClient, target)
}

func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// readSocksCredentials reads an RFC 1929 username/password request.
func readSocksCredentials(r io.Reader) (user, pass string, err error) {
	head, err := readN(r, 2)
	if err != nil {
		return "", "", err
	}
	if head[0] != socksAuthVersion {
		return "", "", fmt.Errorf("username/password version %d", head[0])
	}
	u, err := readN(r, int(head[1]))
	if err != nil {
		return "", "", err
	}
	plen, err := readN(r, 1)
	if err != nil {
		return "", "", err
	}
	pw, err := readN(r, int(plen[0]))
	if err != nil {
		return "", "", err
	}
	return string(u), string(pw), nil
}

var errAtypUnsupported = errors.New("address type not supported")

// readSocksAddr reads DST.ADDR of the address type atyp.
func readSocksAddr(r io.Reader, atyp byte) (string, error) {
	switch atyp {
	case socksAtypIPv4:
		b, err := readN(r, net.IPv4len)
		if err != nil {
			return "", err
		}
		return net.IP(b).String(), nil
	case socksAtypIPv6:
		b, err := readN(r, net.IPv6len)
		if err != nil {
			return "", err
		}
		return net.IP(b).String(), nil
	case socksAtypDomain:
		n, err := readN(r, 1)
		if err != nil {
			return "", err
		}
		b, err := readN(r, int(n[0]))
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", fmt.Errorf("%w: %d", errAtypUnsupported, atyp)
}

// writeSocksReply sends a reply with BND.ADDR and BND.PORT from bound, or
// 0.0.0.0:0 if bound is nil.
func writeSocksReply(w io.Writer, rep byte, bound net.Addr) error {
	ip, port := net.IPv4zero.To4(), 0
	if a, ok := bound.(*net.TCPAddr); ok {
		ip, port = a.IP, a.Port
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
	}
	atyp := byte(socksAtypIPv4)
	if len(ip) == net.IPv6len {
		atyp = socksAtypIPv6
	}
	reply := append([]byte{socksVersion, rep, 0, atyp}, ip...)
	reply = binary.BigEndian.AppendUint16(reply, uint16(port))
	_, err := w.Write(reply)
	return err
}

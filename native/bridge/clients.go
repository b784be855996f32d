package bridge

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	http "github.com/bogdanfinn/fhttp"
	"github.com/bogdanfinn/fhttp/cookiejar"
	"github.com/bogdanfinn/fhttp/http2"
	tls_client "github.com/bogdanfinn/tls-client"
	"github.com/bogdanfinn/tls-client/profiles"
	tls "github.com/bogdanfinn/utls"
)

// session is a cached native client. Upstream keeps the options of the
// first request silently; we remember them and refuse a request that asks
// for different ones instead of ignoring what it asked for.
type session struct {
	client     tls_client.HttpClient
	conns      *connSet
	optionsKey string
}

func newSession(client tls_client.HttpClient, optionsKey string) *session {
	return &session{client: client, conns: newConnSet(), optionsKey: optionsKey}
}

// close closes the session's idle connections and then every other
// connection it handed out.
func (s *session) close() {
	s.client.CloseIdleConnections()
	s.conns.closeAll()
}

type sessionRegistry struct {
	mu       sync.Mutex
	sessions map[string]*session
}

func newSessionRegistry() *sessionRegistry {
	return &sessionRegistry{sessions: map[string]*session{}}
}

// sessionFor returns the session a call runs on and whether it is
// ephemeral (built for this call only, to be closed when the call ends).
func (r *sessionRegistry) sessionFor(in *RequestInput, logger tls_client.Logger) (*session, bool, error) {
	// Refuse a bad profile before anything else, whether or not a
	// session exists: upstream would silently use its default.
	if err := checkProfileName(in); err != nil {
		return nil, false, err
	}
	spec, state, err := specFor(in)
	if err != nil {
		return nil, false, err
	}
	key, err := spec.key()
	if err != nil {
		return nil, false, err
	}
	sessionID := ""
	if in.SessionID != nil {
		sessionID = *in.SessionID
	}
	// Debug output must be attributable to one request, so a debug call
	// gets a client of its own (as upstream PR #247 does).
	if sessionID == "" || in.WithDebug {
		client, err := buildClient(spec, state, logger)
		if err != nil {
			return nil, false, err
		}
		return newSession(client, key), true, nil
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sessions[sessionID]; ok {
		if s.optionsKey != key {
			return nil, false, newError(CodeInvalidInput, fmt.Sprintf(
				"session %q was created with different client options (profile, TLS, transport, proxy timeout, ...); "+
					"use another sessionId or destroySession first", sessionID))
		}
		if err := applyState(s.client, state); err != nil {
			return nil, false, err
		}
		return s, false, nil
	}
	client, err := buildClient(spec, state, logger)
	if err != nil {
		return nil, false, err
	}
	s := newSession(client, key)
	r.sessions[sessionID] = s
	return s, false, nil
}

func (r *sessionRegistry) get(sessionID string) (tls_client.HttpClient, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[sessionID]
	if !ok {
		return nil, false
	}
	return s.client, true
}

func (r *sessionRegistry) remove(sessionID string) {
	r.mu.Lock()
	s, ok := r.sessions[sessionID]
	delete(r.sessions, sessionID)
	r.mu.Unlock()
	if ok {
		s.close()
	}
}

func (r *sessionRegistry) removeAll() {
	r.mu.Lock()
	old := r.sessions
	r.sessions = map[string]*session{}
	r.mu.Unlock()
	for _, s := range old {
		s.close()
	}
}

func (r *sessionRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// applyState re-applies what upstream lets a later request change on an
// existing session: the proxy URL and the redirect policy.
func applyState(client tls_client.HttpClient, state clientState) error {
	if state.ProxyURL != "" && (client.GetProxy() != state.ProxyURL || state.RotatingProxy) {
		if err := client.SetProxy(state.ProxyURL); err != nil {
			return newError(CodeProxy, "failed to change proxy url of client: "+err.Error())
		}
	}
	if client.GetFollowRedirect() != state.FollowRedirects {
		client.SetFollowRedirect(state.FollowRedirects)
	}
	return nil
}

func isHTTPProxy(proxyURL *string) bool {
	kind := proxyKind(deref(proxyURL))
	return kind == "http" || kind == "https"
}

// noDeadlineProxyCeiling bounds "no deadline" calls through HTTP(S)
// proxies: upstream's CONNECT dialer turns a zero client timeout into an
// immediate deadline, and the client timeout also caps the whole exchange.
const noDeadlineProxyCeiling = 24 * time.Hour

// clientTimeout is the native client's own timeout. It is zero (no limit:
// the per-call context carries the deadline) except for HTTP(S) proxies,
// whose CONNECT handshake only honours the client timeout.
func clientTimeout(in *RequestInput) (time.Duration, error) {
	if !isHTTPProxy(in.ProxyURL) {
		return 0, nil
	}
	d, none, err := requestDeadline(in)
	if err != nil {
		return 0, err
	}
	if none {
		return noDeadlineProxyCeiling, nil
	}
	return d, nil
}

// requestDeadline resolves upstream's timeout fields: 0 means the default
// (30 s), a positive value a deadline, a negative value none.
func requestDeadline(in *RequestInput) (d time.Duration, none bool, err error) {
	switch {
	case in.TimeoutSeconds != 0 && in.TimeoutMilliseconds != 0:
		return 0, false, newError(CodeInvalidInput, "cannot build client with both defined timeout in seconds and timeout in milliseconds. Please provide only one of them")
	case in.TimeoutMilliseconds < 0 || in.TimeoutSeconds < 0:
		return 0, true, nil
	case in.TimeoutMilliseconds > 0:
		return time.Duration(in.TimeoutMilliseconds) * time.Millisecond, false, nil
	case in.TimeoutSeconds > 0:
		return time.Duration(in.TimeoutSeconds) * time.Second, false, nil
	default:
		return time.Duration(tls_client.DefaultTimeoutSeconds) * time.Second, false, nil
	}
}

func resolveProfile(name string, custom *CustomTLSClient) (profiles.ClientProfile, error) {
	if custom != nil {
		if name != "" {
			return profiles.ClientProfile{}, newError(CodeInvalidInput, "cannot build client out of client identifier and custom tls client information. Please provide only one of them")
		}
		return customProfile(custom)
	}
	if name == "" {
		return profiles.DefaultClientProfile, nil
	}
	profile, ok := lookupProfile(name)
	if !ok {
		return profiles.ClientProfile{}, newError(CodeUnknownProfile, unknownProfileMessage(name))
	}
	return profile, nil
}

// lookupProfile finds a profile by name: a registered identity, else one
// of upstream's compiled profiles (registration refuses their names).
func lookupProfile(name string) (profiles.ClientProfile, bool) {
	if profile, ok := identities.lookup(name); ok {
		return profile, true
	}
	profile, ok := profiles.MappedTLSClients[name]
	return profile, ok
}

func checkProfileName(in *RequestInput) error {
	if in.CustomTLSClient != nil && in.TLSClientIdentifier != "" {
		return newError(CodeInvalidInput, "cannot build client out of client identifier and custom tls client information. Please provide only one of them")
	}
	if in.TLSClientIdentifier == "" {
		return nil
	}
	if _, ok := lookupProfile(in.TLSClientIdentifier); !ok {
		return newError(CodeUnknownProfile, unknownProfileMessage(in.TLSClientIdentifier))
	}
	return nil
}

func unknownProfileMessage(name string) string {
	close := closeProfileNames(name, 6)
	msg := fmt.Sprintf("unknown tlsClientIdentifier %q", name)
	if len(close) > 0 {
		msg += "; close matches: " + strings.Join(close, ", ")
	}
	return msg + "; valid identifiers: " + strings.Join(ProfileNames(), ", ")
}

// closeProfileNames ranks the known names by shared prefix, then by edit
// distance, which is what a typo ("chrome_15O") or a stale version needs.
func closeProfileNames(name string, limit int) []string {
	type scored struct {
		name  string
		score int
	}
	var all []scored
	lower := strings.ToLower(name)
	for _, candidate := range ProfileNames() {
		c := strings.ToLower(candidate)
		score := editDistance(lower, c) - 2*commonPrefix(lower, c)
		all = append(all, scored{candidate, score})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].score < all[j].score })
	var out []string
	for i := 0; i < len(all) && i < limit; i++ {
		out = append(out, all[i].name)
	}
	return out
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// ProfileNames lists the valid tlsClientIdentifier values, sorted:
// upstream's compiled profiles and the identities registered so far.
func ProfileNames() []string {
	names := identities.names()
	for name := range profiles.MappedTLSClients {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// DefaultProfileName names the profile used when none is given.
func DefaultProfileName() string {
	want := profiles.DefaultClientProfile.GetClientHelloStr()
	for _, name := range slices.Sorted(maps.Keys(profiles.MappedTLSClients)) {
		if !strings.HasSuffix(name, "_PSK") && profiles.MappedTLSClients[name].GetClientHelloStr() == want {
			return name
		}
	}
	return want
}

func customProfile(c *CustomTLSClient) (profiles.ClientProfile, error) {
	suites := make([]tls_client.CandidateCipherSuites, 0, len(c.ECHCandidateCipherSuites))
	for _, s := range c.ECHCandidateCipherSuites {
		suites = append(suites, tls_client.CandidateCipherSuites{KdfId: s.KdfID, AeadId: s.AeadID})
	}
	specFactory, err := tls_client.GetSpecFactoryFromJa3String(c.JA3String, c.SupportedSignatureAlgorithms,
		c.SupportedDelegatedCredentialsAlgorithms, c.SupportedVersions, c.KeyShareCurves, c.ALPNProtocols,
		c.ALPSProtocols, suites, c.ECHCandidatePayloads, c.CertCompressionAlgos, c.RecordSizeLimit)
	if err != nil {
		return profiles.ClientProfile{}, newError(CodeInvalidInput, "invalid customTlsClient: "+err.Error())
	}
	// Some specs pass the factory's construction and fail only when it
	// builds a hello (an extension id utls has no type for): build one
	// now, so the request is refused as bad input instead of failing its
	// handshake like a network fault that a retry might cure.
	if err := tryFactory(specFactory); err != nil {
		return profiles.ClientProfile{}, newError(CodeInvalidInput, "invalid customTlsClient: "+err.Error())
	}
	h2Settings := map[http2.SettingID]uint32{}
	for name, value := range c.H2Settings {
		id, ok := tls_client.H2SettingsMap[name]
		if !ok {
			return profiles.ClientProfile{}, newError(CodeInvalidInput, fmt.Sprintf("invalid customTlsClient: unknown h2Settings name %q", name))
		}
		h2Settings[id] = value
	}
	var h2Order []http2.SettingID
	for _, name := range c.H2SettingsOrder {
		id, ok := tls_client.H2SettingsMap[name]
		if !ok {
			return profiles.ClientProfile{}, newError(CodeInvalidInput, fmt.Sprintf("invalid customTlsClient: unknown h2SettingsOrder name %q", name))
		}
		h2Order = append(h2Order, id)
	}
	h3Settings := map[uint64]uint64{}
	for name, value := range c.H3Settings {
		id, ok := tls_client.H3SettingsMap[name]
		if !ok {
			return profiles.ClientProfile{}, newError(CodeInvalidInput, fmt.Sprintf("invalid customTlsClient: unknown h3Settings name %q", name))
		}
		h3Settings[id] = value
	}
	var h3Order []uint64
	for _, name := range c.H3SettingsOrder {
		id, ok := tls_client.H3SettingsMap[name]
		if !ok {
			return profiles.ClientProfile{}, newError(CodeInvalidInput, fmt.Sprintf("invalid customTlsClient: unknown h3SettingsOrder name %q", name))
		}
		h3Order = append(h3Order, id)
	}
	var priorities []http2.Priority
	for _, f := range c.PriorityFrames {
		priorities = append(priorities, http2.Priority{StreamID: f.StreamID, PriorityParam: http2.PriorityParam{
			StreamDep: f.PriorityParam.StreamDep, Exclusive: f.PriorityParam.Exclusive, Weight: f.PriorityParam.Weight}})
	}
	var headerPriority *http2.PriorityParam
	if c.HeaderPriority != nil {
		headerPriority = &http2.PriorityParam{StreamDep: c.HeaderPriority.StreamDep, Exclusive: c.HeaderPriority.Exclusive, Weight: c.HeaderPriority.Weight}
	}
	hello := tls.ClientHelloID{Client: "Custom", Version: "1", SpecFactory: specFactory}
	return profiles.NewClientProfile(hello, h2Settings, h2Order, c.PseudoHeaderOrder, c.ConnectionFlow,
		priorities, headerPriority, c.StreamID, c.AllowHTTP, h3Settings, h3Order, c.H3PriorityParam,
		c.H3PseudoHeaderOrder, c.H3SendGreaseFrames), nil
}

// tryFactory builds one hello; utls panics on some malformed specs (an
// index past a short list), which is bad input like any other.
func tryFactory(factory func() (tls.ClientHelloSpec, error)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the spec cannot build a ClientHello: %v", r)
		}
	}()
	_, err = factory()
	return err
}

var (
	keyLogOnce   sync.Once
	keyLogWriter io.Writer
)

// sslKeyLogWriter opens $SSLKEYLOGFILE once, as browsers and curl do; nil
// when it is unset, so key material is only ever written on request.
func sslKeyLogWriter() io.Writer {
	keyLogOnce.Do(func() {
		path := os.Getenv("SSLKEYLOGFILE")
		if path == "" {
			return
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			keyLogWriter = &syncWriter{w: f}
		}
	})
	return keyLogWriter
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// buildClient builds the native client spec fixes, in state.
func buildClient(spec clientSpec, state clientState, logger tls_client.Logger) (tls_client.HttpClient, error) {
	profile, err := resolveProfile(spec.Profile, spec.Custom)
	if err != nil {
		return nil, err
	}
	return buildClientWith(profile, spec, state, logger)
}

// buildClientWith builds the client of spec with another profile than its
// own (a WebSocket's ClientHello, websocket_hello.go).
func buildClientWith(profile profiles.ClientProfile, spec clientSpec, state clientState, logger tls_client.Logger) (tls_client.HttpClient, error) {
	options := []tls_client.HttpClientOption{
		tls_client.WithClientProfile(profile),
		tls_client.WithTimeoutMilliseconds(int(spec.Timeout / time.Millisecond)),
		tls_client.WithTransportOptions(withKeyLog(transportOptions(spec.Transport), spec.KeyLogFile)),
	}
	add := func(cond bool, opt tls_client.HttpClientOption) {
		if cond {
			options = append(options, opt)
		}
	}
	add(spec.RandomExtensionOrder, tls_client.WithRandomTLSExtensionOrder())
	add(spec.ForceHTTP1, tls_client.WithForceHttp1())
	add(spec.DisableHTTP3, tls_client.WithDisableHttp3())
	add(spec.ProtocolRacing, tls_client.WithProtocolRacing())
	add(spec.DisableIPV6, tls_client.WithDisableIPV6())
	add(spec.DisableIPV4, tls_client.WithDisableIPV4())
	add(spec.CatchPanics, tls_client.WithCatchPanics())
	add(len(spec.Pins) > 0, tls_client.WithCertificatePinning(spec.Pins, nil))
	add(!state.FollowRedirects, tls_client.WithNotFollowRedirects())
	add(spec.InsecureSkipVerify, tls_client.WithInsecureSkipVerify())
	add(len(spec.DefaultHeaders) > 0, tls_client.WithDefaultHeaders(spec.DefaultHeaders))
	add(len(spec.ConnectHeaders) > 0, tls_client.WithConnectHeaders(spec.ConnectHeaders))
	add(deref(spec.ServerName) != "", tls_client.WithServerNameOverwrite(deref(spec.ServerName)))
	add(state.ProxyURL != "", proxyOption(spec, state.ProxyURL))
	localAddr, err := spec.localAddr()
	if err != nil {
		return nil, err
	}
	add(localAddr != nil, tls_client.WithLocalAddr(derefAddr(localAddr)))
	if !spec.WithoutCookieJar {
		if spec.CustomCookieJar {
			options = append(options, tls_client.WithCookieJar(tls_client.NewCookieJar()))
		} else {
			jar, _ := cookiejar.New(nil)
			options = append(options, tls_client.WithCookieJar(jar))
		}
	}
	client, err := tls_client.NewHttpClient(logger, options...)
	if err != nil {
		return nil, newError(CodeInvalidInput, "failed to build client out of request input: "+err.Error())
	}
	return withForwardProxy(client, spec, localAddr, state.ProxyURL), nil
}

// localAddr resolves the address to dial from; nil for any.
func (s clientSpec) localAddr() (*net.TCPAddr, error) {
	if s.LocalAddress == nil {
		return nil, nil
	}
	addr, err := net.ResolveTCPAddr("tcp", *s.LocalAddress)
	if err != nil {
		return nil, newError(CodeInvalidInput, fmt.Sprintf("failed to build client out of request input: failed to resolve tcp address from local %s address: %v", *s.LocalAddress, err))
	}
	return addr, nil
}

func derefAddr(a *net.TCPAddr) net.TCPAddr {
	if a == nil {
		return net.TCPAddr{}
	}
	return *a
}

// transportOptions always disables the transport's own decompression: the
// bridge decodes bodies itself, so that rawBody can return them untouched
// and the deflate hangs of upstream's transport path (tls-client #152) are
// avoided.
func transportOptions(o *TransportOptions) *tls_client.TransportOptions {
	t := &tls_client.TransportOptions{DisableCompression: true, KeyLogWriter: sslKeyLogWriter()}
	if o == nil {
		return t
	}
	if o.IdleConnTimeout != nil {
		d := time.Duration(*o.IdleConnTimeout)
		t.IdleConnTimeout = &d
	}
	t.MaxIdleConns = o.MaxIdleConns
	t.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
	t.MaxConnsPerHost = o.MaxConnsPerHost
	t.MaxResponseHeaderBytes = o.MaxResponseHeaderBytes
	t.WriteBufferSize = o.WriteBufferSize
	t.ReadBufferSize = o.ReadBufferSize
	t.DisableKeepAlives = o.DisableKeepAlives
	return t
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// cookiesFor returns the session jar's cookies for a URL, as upstream's
// envelope does; empty when the client has no jar.
func cookiesFor(client tls_client.HttpClient, req *http.Request) map[string]string {
	out := map[string]string{}
	if client.GetCookieJar() == nil || req == nil || req.URL == nil {
		return out
	}
	for _, c := range client.GetCookies(req.URL) {
		out[c.Name] = c.Value
	}
	return out
}

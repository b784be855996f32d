package bridge

import (
	"encoding/json"
	"strings"
	"time"
)

// clientSpec is everything that fixes a native client when it is built.
// buildClient reads nothing else, and a session is keyed by the spec's
// encoding: a field that changes the client is in the key by construction.
// What a later call may still change on a session's client (the proxy URL
// within its kind, the redirect policy) is in clientState instead.
type clientSpec struct {
	Profile        string              `json:"profile"`
	Custom         *CustomTLSClient    `json:"custom"`
	Transport      *TransportOptions   `json:"transport"`
	KeyLogFile     *string             `json:"keyLogFile"`
	LocalAddress   *string             `json:"localAddress"`
	ServerName     *string             `json:"serverName"`
	Pins           map[string][]string `json:"pins"`
	DefaultHeaders map[string][]string `json:"defaultHeaders"`
	ConnectHeaders map[string][]string `json:"connectHeaders"`

	ForceHTTP1           bool `json:"forceHttp1"`
	DisableHTTP3         bool `json:"disableHttp3"`
	ProtocolRacing       bool `json:"protocolRacing"`
	InsecureSkipVerify   bool `json:"insecureSkipVerify"`
	DisableIPV4          bool `json:"disableIPV4"`
	DisableIPV6          bool `json:"disableIPV6"`
	WithoutCookieJar     bool `json:"withoutCookieJar"`
	CustomCookieJar      bool `json:"customCookieJar"`
	CatchPanics          bool `json:"catchPanics"`
	RandomExtensionOrder bool `json:"randomExtensionOrder"`

	// ProxyKind is the proxy's scheme ("" without one): an http:// or
	// https:// proxy gets its dialer and its CONNECT deadline when the
	// client is built, so only the URL may change later, not the kind.
	ProxyKind string `json:"proxyKind"`
	// Timeout is the client's own timeout (clientTimeout).
	Timeout time.Duration `json:"timeout"`
}

// clientState is what a call sets on the client it runs on, whether the
// client is new or a session's.
type clientState struct {
	ProxyURL        string
	RotatingProxy   bool
	FollowRedirects bool
}

// specFor reads the spec and state of the client in asks for.
func specFor(in *RequestInput) (clientSpec, clientState, error) {
	timeout, err := clientTimeout(in)
	if err != nil {
		return clientSpec{}, clientState{}, err
	}
	spec := clientSpec{
		Profile: in.TLSClientIdentifier, Custom: in.CustomTLSClient, Transport: in.TransportOptions,
		KeyLogFile: in.SSLKeyLogFile, LocalAddress: in.LocalAddress, ServerName: in.ServerNameOverwrite,
		Pins: in.CertificatePinningHosts, DefaultHeaders: in.DefaultHeaders, ConnectHeaders: in.ConnectHeaders,
		ForceHTTP1: in.ForceHTTP1, DisableHTTP3: in.DisableHTTP3, ProtocolRacing: in.WithProtocolRacing,
		InsecureSkipVerify: in.InsecureSkipVerify, DisableIPV4: in.DisableIPV4, DisableIPV6: in.DisableIPV6,
		WithoutCookieJar: in.WithoutCookieJar, CustomCookieJar: in.WithCustomCookieJar,
		CatchPanics: in.CatchPanics, RandomExtensionOrder: in.WithRandomTLSExtensionOrder,
		ProxyKind: proxyKind(deref(in.ProxyURL)), Timeout: timeout,
	}
	state := clientState{ProxyURL: deref(in.ProxyURL), RotatingProxy: in.IsRotatingProxy, FollowRedirects: in.FollowRedirects}
	return spec, state, nil
}

// key is the spec's canonical text (encoding/json sorts map keys).
func (s clientSpec) key() (string, error) {
	key, err := json.Marshal(s)
	if err != nil {
		return "", newError(CodeInvalidInput, "cannot encode client options: "+err.Error())
	}
	return string(key), nil
}

// proxyKind is a proxy URL's scheme in lower case, "" for none.
func proxyKind(proxyURL string) string {
	scheme, _, found := strings.Cut(proxyURL, "://")
	if !found {
		return ""
	}
	return strings.ToLower(scheme)
}

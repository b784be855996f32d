package bridge

import (
	"slices"

	tls_client "github.com/bogdanfinn/tls-client"
	"github.com/bogdanfinn/tls-client/profiles"
	tls "github.com/bogdanfinn/utls"
)

// The ClientHello of a WebSocket's own connection. tls-client dials it
// with the profile's ClientHello and ALPN forced to http/1.1 (utls's
// WithForceHttp1), and keeps an ALPS extension (application_settings)
// that names only h2. BoringSSL sends ALPS only for a protocol that ALPN
// offers (ssl/extensions.cc, ext_alps_add_clienthello), so Chromium's
// handshake connection has none: t13d1516h1_8daaf6152771_5b37b36a67c0 in
// native/captures/chromium-156.0.8078.114-linux-websocket.json, where the
// profile's hello with ALPN http/1.1 reads t13d1517h1_8daaf6152771_cb7bf5808d99.

// websocketTLSDialer returns the TLS dialer for a wss:// handshake of the
// client in asks for: one whose ClientHello offers http/1.1 only and no
// ALPS. nil when the profile's ClientHello has no ALPS extension for
// another protocol: tls-client's own WebSocket dialer is then the
// browser's.
func websocketTLSDialer(in *RequestInput) (tls_client.TLSDialerFunc, error) {
	spec, state, err := specFor(in)
	if err != nil {
		return nil, err
	}
	profile, err := resolveProfile(spec.Profile, spec.Custom)
	if err != nil {
		return nil, err
	}
	hello, changed, err := http1OnlyHello(profile.GetClientHelloId())
	if err != nil || !changed {
		return nil, err
	}
	p := profile
	client, err := buildClientWith(profiles.NewClientProfile(hello, p.GetSettings(), p.GetSettingsOrder(),
		p.GetPseudoHeaderOrder(), p.GetConnectionFlow(), p.GetPriorities(), p.GetHeaderPriority(), p.GetStreamID(),
		p.GetAllowHTTP(), p.GetHttp3Settings(), p.GetHttp3SettingsOrder(), p.GetHttp3PriorityParam(),
		p.GetHttp3PseudoHeaderOrder(), p.GetHttp3SendGreaseFrames()), spec, state, nil)
	if err != nil {
		return nil, err
	}
	return client.GetTLSDialer(), nil
}

// http1OnlyHello returns id's ClientHello as sent on a connection that
// offers http/1.1 only: ALPN http/1.1, without the ALPS extensions whose
// protocols ALPN no longer offers; changed is false when there are none.
func http1OnlyHello(id tls.ClientHelloID) (hello tls.ClientHelloID, changed bool, err error) {
	spec, err := helloSpec(id)
	if err != nil {
		return id, false, err
	}
	if len(withoutForeignALPS(spec.Extensions)) == len(spec.Extensions) {
		return id, false, nil
	}
	hello = tls.ClientHelloID{Client: id.Client, RandomExtensionOrder: id.RandomExtensionOrder,
		Version: id.Version + "+http1", Seed: id.Seed, Weights: id.Weights,
		SpecFactory: func() (tls.ClientHelloSpec, error) {
			// A fresh spec per connection: utls fills its extensions in.
			spec, err := helloSpec(id)
			if err != nil {
				return spec, err
			}
			spec.Extensions = withoutForeignALPS(spec.Extensions)
			for _, ext := range spec.Extensions {
				if alpn, ok := ext.(*tls.ALPNExtension); ok {
					alpn.AlpnProtocols = []string{"http/1.1"}
				}
			}
			return spec, nil
		}}
	return hello, true, nil
}

// helloSpec builds id's ClientHelloSpec as utls does (u_parrots.go,
// applyPresetByID): its factory, else utls's own parrot of that name.
func helloSpec(id tls.ClientHelloID) (tls.ClientHelloSpec, error) {
	spec, err := id.ToSpec()
	if err != nil {
		return tls.UTLSIdToSpec(id)
	}
	return spec, nil
}

// withoutForeignALPS drops the ALPS extensions (both code points) that
// name no protocol of a connection offering http/1.1 only.
func withoutForeignALPS(exts []tls.TLSExtension) []tls.TLSExtension {
	return slices.DeleteFunc(slices.Clone(exts), func(ext tls.TLSExtension) bool {
		switch alps := ext.(type) {
		case *tls.ApplicationSettingsExtension:
			return !slices.Contains(alps.SupportedProtocols, "http/1.1")
		case *tls.ApplicationSettingsExtensionNew:
			return !slices.Contains(alps.SupportedProtocols, "http/1.1")
		}
		return false
	})
}

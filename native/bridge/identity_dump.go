package bridge

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/bogdanfinn/fhttp/http2"
	"github.com/bogdanfinn/tls-client/profiles"
	tls "github.com/bogdanfinn/utls"

	"github.com/scrapy-tlsclient/native/fingerprint"
)

// DumpProfile writes one of upstream's compiled profiles as identity data,
// so an identity file can start from it and a test can check that the
// data builds the same ClientHello. Extensions it cannot express exactly
// are refused rather than approximated.
func DumpProfile(name string) (IdentitySpec, error) {
	profile, ok := profiles.MappedTLSClients[name]
	if !ok {
		return IdentitySpec{}, fmt.Errorf("unknown compiled profile %q", name)
	}
	hello, err := profile.GetClientHelloSpec()
	if err != nil {
		return IdentitySpec{}, err
	}
	spec := IdentitySpec{Name: name}
	for _, s := range hello.CipherSuites {
		spec.TLS.CipherSuites = append(spec.TLS.CipherSuites, codePointText(s))
	}
	spec.TLS.CompressionMethods = hello.CompressionMethods
	for i, ext := range hello.Extensions {
		e, err := dumpExtension(ext)
		if err != nil {
			return IdentitySpec{}, fmt.Errorf("%s: extension %d: %w", name, i, err)
		}
		spec.TLS.Extensions = append(spec.TLS.Extensions, e)
	}
	names := map[http2.SettingID]string{}
	for n, id := range h2SettingNames {
		names[id] = n
	}
	for _, id := range profile.GetSettingsOrder() {
		n, ok := names[id]
		if !ok {
			n = fmt.Sprintf("0x%x", uint16(id))
		}
		nameJSON, _ := json.Marshal(n)
		valueJSON, _ := json.Marshal(profile.GetSettings()[id])
		spec.HTTP2.Settings = append(spec.HTTP2.Settings, [2]json.RawMessage{nameJSON, valueJSON})
	}
	spec.HTTP2.WindowUpdate = profile.GetConnectionFlow()
	for _, p := range profile.GetPriorities() {
		spec.HTTP2.PriorityFrames = append(spec.HTTP2.PriorityFrames, PriorityFrameSpec{StreamID: p.StreamID, PrioritySpec: prioritySpec(p.PriorityParam)})
	}
	if hp := profile.GetHeaderPriority(); hp != nil {
		p := prioritySpec(*hp)
		spec.HTTP2.HeadersPriority = &p
	}
	spec.HTTP2.PseudoHeaderOrder = profile.GetPseudoHeaderOrder()
	spec.HTTP2.FirstStreamID = profile.GetStreamID()
	return spec, nil
}

func prioritySpec(p http2.PriorityParam) PrioritySpec {
	return PrioritySpec{DependsOn: p.StreamDep, Exclusive: p.Exclusive, Weight: int(p.Weight) + 1}
}

func codePointText(v uint16) string {
	if fingerprint.IsGREASE(v) {
		return "GREASE"
	}
	return fmt.Sprintf("0x%04x", v)
}

func codePointTexts[T ~uint16](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = codePointText(uint16(v))
	}
	return out
}

func dumpExtension(ext tls.TLSExtension) (ExtensionSpec, error) {
	switch e := ext.(type) {
	case *tls.UtlsGREASEExtension:
		return ExtensionSpec{Name: "grease"}, nil
	case *tls.SNIExtension:
		return ExtensionSpec{Name: "server_name"}, nil
	case *tls.StatusRequestExtension:
		return ExtensionSpec{Name: "status_request"}, nil
	case *tls.SCTExtension:
		return ExtensionSpec{Name: "signed_certificate_timestamp"}, nil
	case *tls.UtlsPaddingExtension:
		return ExtensionSpec{Name: "padding"}, nil
	case *tls.ExtendedMasterSecretExtension:
		return ExtensionSpec{Name: "extended_master_secret"}, nil
	case *tls.SessionTicketExtension:
		return ExtensionSpec{Name: "session_ticket"}, nil
	case *tls.UtlsPreSharedKeyExtension, *tls.FakePreSharedKeyExtension:
		return ExtensionSpec{Name: "pre_shared_key"}, nil
	case *tls.RenegotiationInfoExtension:
		return ExtensionSpec{Name: "renegotiation_info"}, nil
	case *tls.SupportedCurvesExtension:
		return ExtensionSpec{Name: "supported_groups", Groups: codePointTexts(e.Curves)}, nil
	case *tls.KeyShareExtension:
		groups := make([]tls.CurveID, len(e.KeyShares))
		for i, k := range e.KeyShares {
			groups[i] = k.Group
		}
		return ExtensionSpec{Name: "key_share", Groups: codePointTexts(groups)}, nil
	case *tls.SupportedPointsExtension:
		return ExtensionSpec{Name: "ec_point_formats", Formats: e.SupportedPoints}, nil
	case *tls.SignatureAlgorithmsExtension:
		return ExtensionSpec{Name: "signature_algorithms", Algorithms: codePointTexts(e.SupportedSignatureAlgorithms)}, nil
	case *tls.FakeDelegatedCredentialsExtension:
		return ExtensionSpec{Name: "delegated_credentials", Algorithms: codePointTexts(e.SupportedSignatureAlgorithms)}, nil
	case *tls.ALPNExtension:
		return ExtensionSpec{Name: "alpn", Protocols: e.AlpnProtocols}, nil
	case *tls.ApplicationSettingsExtension:
		return ExtensionSpec{Name: "application_settings", Codepoint: 17513, Protocols: e.SupportedProtocols}, nil
	case *tls.ApplicationSettingsExtensionNew:
		return ExtensionSpec{Name: "application_settings", Codepoint: 17613, Protocols: e.SupportedProtocols}, nil
	case *tls.UtlsCompressCertExtension:
		out := ExtensionSpec{Name: "compress_certificate"}
		for _, a := range e.Algorithms {
			for n, v := range certCompression {
				if v == a {
					out.Algorithms = append(out.Algorithms, n)
				}
			}
		}
		return out, nil
	case *tls.FakeRecordSizeLimitExtension:
		return ExtensionSpec{Name: "record_size_limit", Limit: e.Limit}, nil
	case *tls.SupportedVersionsExtension:
		return ExtensionSpec{Name: "supported_versions", Versions: codePointTexts(e.Versions)}, nil
	case *tls.PSKKeyExchangeModesExtension:
		return ExtensionSpec{Name: "psk_key_exchange_modes", Modes: e.Modes}, nil
	case *tls.GREASEEncryptedClientHelloExtension:
		out := ExtensionSpec{Name: "encrypted_client_hello", Grease: true, PayloadLengths: e.CandidatePayloadLens}
		for _, s := range e.CandidateCipherSuites {
			out.ECHSuites = append(out.ECHSuites, ECHSuiteSpec{KDF: codePointText(s.KdfId), AEAD: codePointText(s.AeadId)})
		}
		return out, nil
	case *tls.GenericExtension:
		if e.Id == 0xca34 {
			ids, err := splitTrustAnchors(e.Data)
			if err != nil {
				return ExtensionSpec{}, err
			}
			return ExtensionSpec{Name: "trust_anchors", AnchorIDs: ids}, nil
		}
		return ExtensionSpec{Name: "generic", ID: codePointText(e.Id), Data: hex.EncodeToString(e.Data)}, nil
	}
	return ExtensionSpec{}, fmt.Errorf("cannot express %T as identity data", ext)
}

// splitTrustAnchors reads a trust_anchors body: a 16-bit list length,
// then IDs each prefixed by an 8-bit length. The IDs come out sorted, as
// the order on the wire is the process's own.
func splitTrustAnchors(data []byte) ([]string, error) {
	if len(data) < 2 || int(data[0])<<8|int(data[1]) != len(data)-2 {
		return nil, fmt.Errorf("trust_anchors body has a wrong length field")
	}
	var ids []string
	for rest := data[2:]; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || 1+n > len(rest) {
			return nil, fmt.Errorf("trust_anchors ID runs past the body")
		}
		ids = append(ids, hex.EncodeToString(rest[1:1+n]))
		rest = rest[1+n:]
	}
	slices.Sort(ids)
	return ids, nil
}

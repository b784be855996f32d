package bridge

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/bogdanfinn/fhttp/http2"
	"github.com/bogdanfinn/tls-client/profiles"
	tls "github.com/bogdanfinn/utls"
)

// IdentitySpec is the wire half of a browser identity, as data: the TLS
// ClientHello and the HTTP/2 connection preface. The Python package keeps
// one such document per identity (scrapy_tlsclient/identities/*.json) and
// registers it with registerProfiles; docs/profiles.rst describes every
// field. Numbers that are TLS code points are written as "0x%04x" strings,
// as captures print them, and GREASE values as "GREASE" because the
// browser picks a new one per connection.
type IdentitySpec struct {
	Name  string    `json:"name"`
	TLS   TLSSpec   `json:"tls"`
	HTTP2 HTTP2Spec `json:"http2"`
}

// TLSSpec is a ClientHello: cipher suites, compression methods and the
// extensions in the order the browser sends them (before any shuffling).
type TLSSpec struct {
	CipherSuites       []string        `json:"cipher_suites"`
	CompressionMethods []uint8         `json:"compression_methods"`
	Extensions         []ExtensionSpec `json:"extensions"`
	// ShuffleExtensions says the browser permutes its extensions per
	// connection (Chromium since 106). The binding turns it into
	// withRandomTLSExtensionOrder, so the caller can still choose.
	ShuffleExtensions bool `json:"shuffle_extensions"`
}

// ExtensionSpec is one extension: its name and the fields that name takes
// (identityExtensions lists them).
type ExtensionSpec struct {
	Name           string          `json:"name"`
	Groups         []string        `json:"groups,omitempty"`
	Formats        []uint8         `json:"formats,omitempty"`
	Algorithms     []string        `json:"algorithms,omitempty"`
	Protocols      []string        `json:"protocols,omitempty"`
	Versions       []string        `json:"versions,omitempty"`
	Modes          []uint8         `json:"modes,omitempty"`
	Limit          uint16          `json:"limit,omitempty"`
	Codepoint      uint16          `json:"codepoint,omitempty"`
	Grease         bool            `json:"grease,omitempty"`
	ECHSuites      []ECHSuiteSpec  `json:"cipher_suites,omitempty"`
	PayloadLengths []uint16        `json:"payload_lengths,omitempty"`
	AnchorIDs      []string        `json:"anchor_ids,omitempty"`
	ID             string          `json:"id,omitempty"`
	Data           string          `json:"data,omitempty"`
	Extra          json.RawMessage `json:"-"`
}

// ECHSuiteSpec is an HPKE symmetric cipher suite of the ECH extension.
type ECHSuiteSpec struct {
	KDF  string `json:"kdf"`
	AEAD string `json:"aead"`
}

// HTTP2Spec is the HTTP/2 connection preface and request shape.
type HTTP2Spec struct {
	// Settings in the order sent: [name, value] pairs.
	Settings          [][2]json.RawMessage `json:"settings"`
	WindowUpdate      uint32               `json:"window_update"`
	PriorityFrames    []PriorityFrameSpec  `json:"priority_frames"`
	HeadersPriority   *PrioritySpec        `json:"headers_priority"`
	PseudoHeaderOrder []string             `json:"pseudo_header_order"`
	// FirstStreamID is the stream of the first request: 1, or 3 for
	// Firefox, which once sent its priority tree on streams 3-13 and still
	// starts at 3. 0 means 1.
	FirstStreamID uint32 `json:"first_stream_id,omitempty"`
}

// PrioritySpec is an HTTP/2 priority; weight as the browser means it
// (1..256), one more than the byte on the wire.
type PrioritySpec struct {
	DependsOn uint32 `json:"depends_on"`
	Exclusive bool   `json:"exclusive"`
	Weight    int    `json:"weight"`
}

// PriorityFrameSpec is a PRIORITY frame sent after the preface.
type PriorityFrameSpec struct {
	StreamID uint32 `json:"stream_id"`
	PrioritySpec
}

// specError names the field of the document that is wrong, so a user
// editing an identity file finds it at once.
func specError(field, format string, args ...any) error {
	return newError(CodeInvalidInput, fmt.Sprintf("identity field %s: %s", field, fmt.Sprintf(format, args...)))
}

// extensionFields lists, per extension name, the fields it takes; any
// other field given is refused rather than silently ignored.
var extensionFields = map[string][]string{
	"grease":                       nil,
	"server_name":                  nil,
	"status_request":               nil,
	"supported_groups":             {"groups"},
	"ec_point_formats":             {"formats"},
	"signature_algorithms":         {"algorithms"},
	"alpn":                         {"protocols"},
	"signed_certificate_timestamp": nil,
	"padding":                      nil,
	"extended_master_secret":       nil,
	"compress_certificate":         {"algorithms"},
	"record_size_limit":            {"limit"},
	"delegated_credentials":        {"algorithms"},
	"session_ticket":               nil,
	"pre_shared_key":               nil,
	"supported_versions":           {"versions"},
	"psk_key_exchange_modes":       {"modes"},
	"key_share":                    {"groups"},
	"renegotiation_info":           nil,
	"application_settings":         {"codepoint", "protocols"},
	"encrypted_client_hello":       {"grease", "cipher_suites", "payload_lengths"},
	"trust_anchors":                {"anchor_ids"},
	"generic":                      {"id", "data"},
}

// UnmarshalJSON keeps the raw object so that build can refuse fields the
// extension does not take.
func (e *ExtensionSpec) UnmarshalJSON(data []byte) error {
	type plain ExtensionSpec
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*e = ExtensionSpec(p)
	e.Extra = append(json.RawMessage(nil), data...)
	return nil
}

// MarshalJSON writes the fields the extension takes, even empty ones.
func (e ExtensionSpec) MarshalJSON() ([]byte, error) {
	type plain ExtensionSpec
	return json.Marshal(plain(e))
}

// codePoint parses a "0x%04x" TLS code point; "GREASE" gives the
// placeholder utls replaces with a fresh GREASE value per connection.
func codePoint(field, value string, allowGrease bool) (uint16, error) {
	if value == "GREASE" {
		if !allowGrease {
			return 0, specError(field, `"GREASE" is not accepted here`)
		}
		return tls.GREASE_PLACEHOLDER, nil
	}
	if !strings.HasPrefix(value, "0x") || len(value) != 6 {
		return 0, specError(field, `%q is not a code point: write 4 hex digits as "0x0304"%s`, value, greaseHint(allowGrease))
	}
	n, err := strconv.ParseUint(value[2:], 16, 16)
	if err != nil {
		return 0, specError(field, `%q is not a code point: write 4 hex digits as "0x0304"%s`, value, greaseHint(allowGrease))
	}
	return uint16(n), nil
}

func greaseHint(allowGrease bool) string {
	if allowGrease {
		return ` or "GREASE"`
	}
	return ""
}

func codePoints(field string, values []string, allowGrease bool) ([]uint16, error) {
	if len(values) == 0 {
		return nil, specError(field, "must list at least one value")
	}
	out := make([]uint16, 0, len(values))
	for i, v := range values {
		n, err := codePoint(fmt.Sprintf("%s[%d]", field, i), v, allowGrease)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

var certCompression = map[string]tls.CertCompressionAlgo{
	"zlib": tls.CertCompressionZlib, "brotli": tls.CertCompressionBrotli, "zstd": tls.CertCompressionZstd,
}

// buildIdentityProfile checks spec and returns the client profile it
// describes. The spec factory builds fresh extension values for every
// connection, because utls keeps per-connection state in them.
func buildIdentityProfile(spec *IdentitySpec) (profiles.ClientProfile, error) {
	if spec.Name == "" {
		return profiles.ClientProfile{}, specError("name", "must be a non-empty string")
	}
	if _, err := buildHello(&spec.TLS); err != nil {
		return profiles.ClientProfile{}, err
	}
	settings, order, err := buildH2Settings(spec.HTTP2.Settings)
	if err != nil {
		return profiles.ClientProfile{}, err
	}
	if err := checkPseudoHeaderOrder(spec.HTTP2.PseudoHeaderOrder); err != nil {
		return profiles.ClientProfile{}, err
	}
	var priorities []http2.Priority
	for i, f := range spec.HTTP2.PriorityFrames {
		p, err := priorityParam(fmt.Sprintf("http2.priority_frames[%d]", i), f.PrioritySpec)
		if err != nil {
			return profiles.ClientProfile{}, err
		}
		priorities = append(priorities, http2.Priority{StreamID: f.StreamID, PriorityParam: p})
	}
	var headerPriority *http2.PriorityParam
	if spec.HTTP2.HeadersPriority != nil {
		p, err := priorityParam("http2.headers_priority", *spec.HTTP2.HeadersPriority)
		if err != nil {
			return profiles.ClientProfile{}, err
		}
		headerPriority = &p
	}
	if id := spec.HTTP2.FirstStreamID; id != 0 && id%2 == 0 {
		return profiles.ClientProfile{}, specError("http2.first_stream_id", "must be an odd stream id (client streams are odd), got %d", id)
	}
	helloSpec := spec.TLS
	hello := tls.ClientHelloID{Client: "Identity", Version: spec.Name, SpecFactory: func() (tls.ClientHelloSpec, error) {
		return buildHello(&helloSpec)
	}}
	return profiles.NewClientProfile(hello, settings, order, spec.HTTP2.PseudoHeaderOrder, spec.HTTP2.WindowUpdate,
		priorities, headerPriority, spec.HTTP2.FirstStreamID, false, nil, nil, 0, nil, false), nil
}

func priorityParam(field string, p PrioritySpec) (http2.PriorityParam, error) {
	if p.Weight < 1 || p.Weight > 256 {
		return http2.PriorityParam{}, specError(field+".weight", "must be from 1 to 256 (the wire byte plus one), got %d", p.Weight)
	}
	return http2.PriorityParam{StreamDep: p.DependsOn, Exclusive: p.Exclusive, Weight: uint8(p.Weight - 1)}, nil
}

func checkPseudoHeaderOrder(order []string) error {
	want := []string{":authority", ":method", ":path", ":scheme"}
	sorted := slices.Sorted(slices.Values(order))
	if !slices.Equal(sorted, want) {
		return specError("http2.pseudo_header_order", "must list :method, :authority, :scheme and :path once each, got %q", order)
	}
	return nil
}

// h2SettingNames are the SETTINGS names of RFC 9113 (and RFC 8441, 9218).
var h2SettingNames = map[string]http2.SettingID{
	"HEADER_TABLE_SIZE": 0x1, "ENABLE_PUSH": 0x2, "MAX_CONCURRENT_STREAMS": 0x3,
	"INITIAL_WINDOW_SIZE": 0x4, "MAX_FRAME_SIZE": 0x5, "MAX_HEADER_LIST_SIZE": 0x6,
	"ENABLE_CONNECT_PROTOCOL": 0x8, "NO_RFC7540_PRIORITIES": 0x9,
}

func buildH2Settings(pairs [][2]json.RawMessage) (map[http2.SettingID]uint32, []http2.SettingID, error) {
	settings := map[http2.SettingID]uint32{}
	var order []http2.SettingID
	for i, pair := range pairs {
		field := fmt.Sprintf("http2.settings[%d]", i)
		var name string
		if err := json.Unmarshal(pair[0], &name); err != nil {
			return nil, nil, specError(field, "must be a [name, value] pair with a setting name string first")
		}
		id, ok := h2SettingNames[name]
		if !ok {
			if n, err := strconv.ParseUint(strings.TrimPrefix(name, "0x"), 16, 16); err == nil && strings.HasPrefix(name, "0x") {
				id, ok = http2.SettingID(n), true
			}
		}
		if !ok {
			return nil, nil, specError(field, "unknown setting %q; accepted: %s or a \"0x..\" id", name, strings.Join(sortedKeys(h2SettingNames), ", "))
		}
		var value uint32
		if err := json.Unmarshal(pair[1], &value); err != nil {
			return nil, nil, specError(field, "the value of %s must be an integer from 0 to 4294967295", name)
		}
		if _, dup := settings[id]; dup {
			return nil, nil, specError(field, "%s is given twice", name)
		}
		settings[id] = value
		order = append(order, id)
	}
	return settings, order, nil
}

// buildHello turns a TLSSpec into a utls ClientHelloSpec, refusing
// anything it cannot express exactly.
func buildHello(s *TLSSpec) (tls.ClientHelloSpec, error) {
	suites, err := codePoints("tls.cipher_suites", s.CipherSuites, true)
	if err != nil {
		return tls.ClientHelloSpec{}, err
	}
	compression := s.CompressionMethods
	if len(compression) == 0 {
		compression = []uint8{0}
	}
	if len(s.Extensions) == 0 {
		return tls.ClientHelloSpec{}, specError("tls.extensions", "must list the ClientHello's extensions in order")
	}
	exts := make([]tls.TLSExtension, 0, len(s.Extensions))
	for i := range s.Extensions {
		ext, err := buildExtension(fmt.Sprintf("tls.extensions[%d]", i), &s.Extensions[i])
		if err != nil {
			return tls.ClientHelloSpec{}, err
		}
		exts = append(exts, ext)
	}
	return tls.ClientHelloSpec{CipherSuites: suites, CompressionMethods: compression, Extensions: exts}, nil
}

func buildExtension(field string, e *ExtensionSpec) (tls.TLSExtension, error) {
	takes, known := extensionFields[e.Name]
	if !known {
		return nil, specError(field+".name", "unknown extension %q; accepted: %s", e.Name, strings.Join(sortedKeys(extensionFields), ", "))
	}
	if err := checkExtensionFields(field, e, takes); err != nil {
		return nil, err
	}
	switch e.Name {
	case "grease":
		return &tls.UtlsGREASEExtension{}, nil
	case "server_name":
		return &tls.SNIExtension{}, nil
	case "status_request":
		return &tls.StatusRequestExtension{}, nil
	case "signed_certificate_timestamp":
		return &tls.SCTExtension{}, nil
	case "padding":
		return &tls.UtlsPaddingExtension{GetPaddingLen: tls.BoringPaddingStyle}, nil
	case "extended_master_secret":
		return &tls.ExtendedMasterSecretExtension{}, nil
	case "session_ticket":
		return &tls.SessionTicketExtension{}, nil
	case "pre_shared_key":
		return &tls.UtlsPreSharedKeyExtension{}, nil
	case "renegotiation_info":
		return &tls.RenegotiationInfoExtension{Renegotiation: tls.RenegotiateOnceAsClient}, nil
	case "supported_groups":
		ids, err := codePoints(field+".groups", e.Groups, true)
		if err != nil {
			return nil, err
		}
		curves := make([]tls.CurveID, len(ids))
		for i, id := range ids {
			curves[i] = tls.CurveID(id)
		}
		return &tls.SupportedCurvesExtension{Curves: curves}, nil
	case "key_share":
		ids, err := codePoints(field+".groups", e.Groups, true)
		if err != nil {
			return nil, err
		}
		shares := make([]tls.KeyShare, len(ids))
		for i, id := range ids {
			shares[i] = tls.KeyShare{Group: tls.CurveID(id)}
			if id == tls.GREASE_PLACEHOLDER {
				// A GREASE share carries one byte, as BoringSSL sends it.
				shares[i].Data = []byte{0}
			}
		}
		return &tls.KeyShareExtension{KeyShares: shares}, nil
	case "ec_point_formats":
		if len(e.Formats) == 0 {
			return nil, specError(field+".formats", "must list at least one point format (0: uncompressed)")
		}
		return &tls.SupportedPointsExtension{SupportedPoints: append([]uint8(nil), e.Formats...)}, nil
	case "signature_algorithms":
		schemes, err := signatureSchemes(field+".algorithms", e.Algorithms)
		if err != nil {
			return nil, err
		}
		return &tls.SignatureAlgorithmsExtension{SupportedSignatureAlgorithms: schemes}, nil
	case "delegated_credentials":
		schemes, err := signatureSchemes(field+".algorithms", e.Algorithms)
		if err != nil {
			return nil, err
		}
		return &tls.FakeDelegatedCredentialsExtension{SupportedSignatureAlgorithms: schemes}, nil
	case "alpn":
		if err := nonEmptyStrings(field+".protocols", e.Protocols); err != nil {
			return nil, err
		}
		return &tls.ALPNExtension{AlpnProtocols: append([]string(nil), e.Protocols...)}, nil
	case "application_settings":
		if err := nonEmptyStrings(field+".protocols", e.Protocols); err != nil {
			return nil, err
		}
		protocols := append([]string(nil), e.Protocols...)
		switch e.Codepoint {
		case 17513:
			return &tls.ApplicationSettingsExtension{SupportedProtocols: protocols}, nil
		case 17613:
			return &tls.ApplicationSettingsExtensionNew{SupportedProtocols: protocols}, nil
		}
		return nil, specError(field+".codepoint", "must be 17513 (ALPS before Chrome 131) or 17613, got %d", e.Codepoint)
	case "compress_certificate":
		if len(e.Algorithms) == 0 {
			return nil, specError(field+".algorithms", "must list at least one of brotli, zlib, zstd")
		}
		algos := make([]tls.CertCompressionAlgo, 0, len(e.Algorithms))
		for i, name := range e.Algorithms {
			a, ok := certCompression[name]
			if !ok {
				return nil, specError(fmt.Sprintf("%s.algorithms[%d]", field, i), "unknown %q; accepted: brotli, zlib, zstd", name)
			}
			algos = append(algos, a)
		}
		return &tls.UtlsCompressCertExtension{Algorithms: algos}, nil
	case "record_size_limit":
		if e.Limit < 64 {
			return nil, specError(field+".limit", "must be from 64 to 65535 (RFC 8449), got %d", e.Limit)
		}
		return &tls.FakeRecordSizeLimitExtension{Limit: e.Limit}, nil
	case "supported_versions":
		versions, err := codePoints(field+".versions", e.Versions, true)
		if err != nil {
			return nil, err
		}
		return &tls.SupportedVersionsExtension{Versions: versions}, nil
	case "psk_key_exchange_modes":
		if len(e.Modes) == 0 {
			return nil, specError(field+".modes", "must list at least one mode (1: psk_dhe_ke)")
		}
		return &tls.PSKKeyExchangeModesExtension{Modes: append([]uint8(nil), e.Modes...)}, nil
	case "encrypted_client_hello":
		return echGrease(field, e)
	case "trust_anchors":
		return trustAnchors(field, e.AnchorIDs)
	case "generic":
		id, err := codePoint(field+".id", e.ID, false)
		if err != nil {
			return nil, err
		}
		data, err := hex.DecodeString(e.Data)
		if err != nil {
			return nil, specError(field+".data", "must be the extension body in hex, got %q", e.Data)
		}
		return &tls.GenericExtension{Id: id, Data: data}, nil
	}
	return nil, specError(field+".name", "unhandled extension %q", e.Name)
}

// checkExtensionFields refuses a field the extension does not take: a
// typo ("group" for "groups") would otherwise build a different hello.
func checkExtensionFields(field string, e *ExtensionSpec, takes []string) error {
	if e.Extra == nil {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(e.Extra, &raw); err != nil {
		return specError(field, "must be a JSON object")
	}
	for key := range raw {
		if key == "name" {
			continue
		}
		if !slices.Contains(takes, key) {
			accepted := "no other field"
			if len(takes) > 0 {
				accepted = strings.Join(takes, ", ")
			}
			return specError(field+"."+key, "extension %q does not take this field (it takes %s)", e.Name, accepted)
		}
	}
	return nil
}

func nonEmptyStrings(field string, values []string) error {
	if len(values) == 0 {
		return specError(field, "must list at least one protocol")
	}
	for i, v := range values {
		if v == "" {
			return specError(fmt.Sprintf("%s[%d]", field, i), "must be a non-empty protocol name")
		}
	}
	return nil
}

func signatureSchemes(field string, values []string) ([]tls.SignatureScheme, error) {
	ids, err := codePoints(field, values, true)
	if err != nil {
		return nil, err
	}
	out := make([]tls.SignatureScheme, len(ids))
	for i, id := range ids {
		out[i] = tls.SignatureScheme(id)
	}
	return out, nil
}

func echGrease(field string, e *ExtensionSpec) (tls.TLSExtension, error) {
	if !e.Grease {
		return nil, specError(field+".grease", "must be true: only GREASE ECH (no ECH config) is supported")
	}
	if len(e.ECHSuites) == 0 {
		return nil, specError(field+".cipher_suites", "must list at least one {\"kdf\", \"aead\"} pair")
	}
	ext := &tls.GREASEEncryptedClientHelloExtension{}
	for i, s := range e.ECHSuites {
		kdf, err := codePoint(fmt.Sprintf("%s.cipher_suites[%d].kdf", field, i), s.KDF, false)
		if err != nil {
			return nil, err
		}
		aead, err := codePoint(fmt.Sprintf("%s.cipher_suites[%d].aead", field, i), s.AEAD, false)
		if err != nil {
			return nil, err
		}
		ext.CandidateCipherSuites = append(ext.CandidateCipherSuites, tls.HPKESymmetricCipherSuite{KdfId: kdf, AeadId: aead})
	}
	if len(e.PayloadLengths) == 0 {
		return nil, specError(field+".payload_lengths", "must list at least one payload length (BoringSSL: 128, 160, 192, 224)")
	}
	ext.CandidatePayloadLens = append([]uint16(nil), e.PayloadLengths...)
	return ext, nil
}

// trustAnchors builds Chrome's trust_anchors extension (0xca34) from its
// anchor IDs (each hex). Chromium writes them in hash-set order, fixed for
// a process and different between processes, so they are shuffled once
// per process: see trustAnchorOrder.
func trustAnchors(field string, ids []string) (tls.TLSExtension, error) {
	records := make([][]byte, 0, len(ids))
	for i, id := range ids {
		raw, err := hex.DecodeString(id)
		if err != nil || len(raw) == 0 || len(raw) > 255 {
			return nil, specError(fmt.Sprintf("%s.anchor_ids[%d]", field, i), "must be a trust anchor ID of 1 to 255 bytes in hex, got %q", id)
		}
		records = append(records, append([]byte{byte(len(raw))}, raw...))
	}
	records = trustAnchorOrder.apply(records)
	size := 0
	for _, r := range records {
		size += len(r)
	}
	data := make([]byte, 0, 2+size)
	data = append(data, byte(size>>8), byte(size))
	for _, r := range records {
		data = append(data, r...)
	}
	return &tls.GenericExtension{Id: 0xca34, Data: data}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

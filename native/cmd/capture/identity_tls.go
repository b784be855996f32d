package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/scrapy-tlsclient/native/fingerprint"
)

// identityTLS is a ClientHello in the identity registry's data format:
// every list in wire order, GREASE values written "GREASE" because the
// browser draws them afresh per connection.
type identityTLS struct {
	CipherSuites       []string         `json:"cipher_suites"`
	CompressionMethods []int            `json:"compression_methods"`
	Extensions         []map[string]any `json:"extensions"`
	ShuffleExtensions  bool             `json:"shuffle_extensions"`
}

func id16(v uint16) string {
	if fingerprint.IsGREASE(v) {
		return "GREASE"
	}
	return fmt.Sprintf("0x%04x", v)
}

func ids16(vs []uint16) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = id16(v)
	}
	return out
}

// helloExtension is one extension as sent.
type helloExtension struct {
	id   uint16
	data []byte
}

// parsedHello is the part of a ClientHello an identity describes.
type parsedHello struct {
	ciphers     []uint16
	compression []int
	extensions  []helloExtension
}

// parseHello parses a ClientHello handshake message given in hex, its
// 4-byte handshake header included.
func parseHello(hexMsg string) (*parsedHello, error) {
	msg, err := hex.DecodeString(hexMsg)
	if err != nil {
		return nil, err
	}
	hello, err := fingerprint.ParseClientHello(msg)
	if err != nil {
		return nil, err
	}
	h := &parsedHello{ciphers: hello.CipherSuites}
	for _, c := range hello.CompressionMethods {
		h.compression = append(h.compression, int(c))
	}
	for i, id := range hello.Extensions {
		h.extensions = append(h.extensions, helloExtension{id, hello.ExtensionData[i]})
	}
	return h, nil
}

// extensionOrder is the wire order of the extensions with GREASE ids
// folded together, for telling a shuffling browser from a fixed one.
func (h *parsedHello) extensionOrder() string {
	var s string
	for _, e := range h.extensions {
		s += id16(e.id) + ","
	}
	return s
}

// toIdentityTLS converts h; shuffle is decided by the caller, who has seen
// more than one connection.
func (h *parsedHello) toIdentityTLS(shuffle bool) (*identityTLS, error) {
	out := &identityTLS{
		CipherSuites:       ids16(h.ciphers),
		CompressionMethods: h.compression,
		Extensions:         []map[string]any{},
		ShuffleExtensions:  shuffle,
	}
	for _, e := range h.extensions {
		ext, err := describeExtension(e)
		if err != nil {
			return nil, fmt.Errorf("extension 0x%04x: %w", e.id, err)
		}
		out.Extensions = append(out.Extensions, ext)
	}
	return out, nil
}

// Extensions that carry no parameters the identity needs: their content is
// either empty in a ClientHello or fixed by the handshake itself
// (server_name, padding, pre_shared_key).
var plainExtensions = map[uint16]string{
	0x0000: "server_name",
	0x0005: "status_request",
	0x0012: "signed_certificate_timestamp",
	0x0015: "padding",
	0x0017: "extended_master_secret",
	0x0023: "session_ticket",
	0x0029: "pre_shared_key",
	0xff01: "renegotiation_info",
}

// RFC 8879 certificate compression algorithms.
var certCompression = map[uint16]string{1: "zlib", 2: "brotli", 3: "zstd"}

func describeExtension(e helloExtension) (map[string]any, error) {
	if fingerprint.IsGREASE(e.id) {
		return map[string]any{"name": "grease"}, nil
	}
	if name, ok := plainExtensions[e.id]; ok {
		return map[string]any{"name": name}, nil
	}
	r := fingerprint.NewReader(e.data)
	var ext map[string]any
	switch e.id {
	case 0x000a:
		ext = map[string]any{"name": "supported_groups", "groups": ids16(r.List16(2))}
	case 0x000b:
		formats := []int{}
		for _, f := range r.Vec8().Rest() {
			formats = append(formats, int(f))
		}
		ext = map[string]any{"name": "ec_point_formats", "formats": formats}
	case 0x000d:
		ext = map[string]any{"name": "signature_algorithms", "algorithms": ids16(r.List16(2))}
	case 0x0010:
		ext = map[string]any{"name": "alpn", "protocols": protocolList(r.Vec16())}
	case 0x001b:
		algs := []string{}
		for _, a := range r.List16(1) {
			name, ok := certCompression[a]
			if !ok {
				name = fmt.Sprintf("0x%04x", a)
			}
			algs = append(algs, name)
		}
		ext = map[string]any{"name": "compress_certificate", "algorithms": algs}
	case 0x001c:
		ext = map[string]any{"name": "record_size_limit", "limit": int(r.U16())}
	case 0x0022:
		ext = map[string]any{"name": "delegated_credentials", "algorithms": ids16(r.List16(2))}
	case 0x002b:
		ext = map[string]any{"name": "supported_versions", "versions": ids16(r.List16(1))}
	case 0x002d:
		modes := []int{}
		for _, m := range r.Vec8().Rest() {
			modes = append(modes, int(m))
		}
		ext = map[string]any{"name": "psk_key_exchange_modes", "modes": modes}
	case 0x0033:
		groups := []string{}
		shares := r.Vec16()
		for !shares.Empty() && shares.OK() {
			groups = append(groups, id16(shares.U16()))
			shares.Vec16()
		}
		if !shares.OK() {
			return nil, errors.New("malformed")
		}
		ext = map[string]any{"name": "key_share", "groups": groups}
	case 0x4469, 0x44cd:
		// ALPS, under its first codepoint and the one of Chrome 133 on.
		ext = map[string]any{"name": "application_settings", "codepoint": int(e.id), "protocols": protocolList(r.Vec16())}
	case 0xfe0d:
		ech, err := describeECH(r)
		if err != nil {
			return nil, err
		}
		ext = ech
	case 0xca34:
		// draft-ietf-tls-trust-anchor-ids: a list of opaque<1..255> IDs.
		ids := []string{}
		list := r.Vec16()
		for !list.Empty() && list.OK() {
			ids = append(ids, hex.EncodeToString(list.Vec8().Rest()))
		}
		if !list.OK() {
			return nil, errors.New("malformed")
		}
		ext = map[string]any{"name": "trust_anchors", "anchor_ids": ids}
	default:
		return map[string]any{"name": "generic", "id": fmt.Sprintf("0x%04x", e.id), "data": hex.EncodeToString(e.data)}, nil
	}
	if !r.OK() || !r.Empty() {
		return nil, errors.New("malformed")
	}
	return ext, nil
}

func protocolList(r *fingerprint.Reader) []string {
	out := []string{}
	for !r.Empty() && r.OK() {
		out = append(out, string(r.Vec8().Rest()))
	}
	return out
}

// describeECH reads an outer ECH extension (draft-ietf-tls-esni-22 5).
// A browser without an ECH config for the server sends GREASE ECH, whose
// payload length is the one thing besides the suite a server can measure.
// The length is the one on the wire, AEAD tag included (16 bytes for every
// AEAD browsers use); utls's CandidatePayloadLens take it without the tag.
func describeECH(r *fingerprint.Reader) (map[string]any, error) {
	if r.U8() != 0 {
		return nil, errors.New("not an outer ClientHello ECH extension")
	}
	kdf, aead := r.U16(), r.U16()
	r.U8()    // config_id, random
	r.Vec16() // enc, a fresh key
	payload := r.Vec16()
	return map[string]any{
		"name":            "encrypted_client_hello",
		"grease":          true,
		"cipher_suites":   []map[string]string{{"kdf": fmt.Sprintf("0x%04x", kdf), "aead": fmt.Sprintf("0x%04x", aead)}},
		"payload_lengths": []int{len(payload.Rest())},
	}, nil
}

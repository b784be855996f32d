package fingerprint

import (
	"errors"
	"fmt"
)

// TLS extension types whose contents the fingerprints need (RFC 8446 4.2,
// RFC 8422 5.1, RFC 7301 3.1).
const (
	extServerName          = 0x0000
	extSupportedGroups     = 0x000a
	extECPointFormats      = 0x000b
	extSignatureAlgorithms = 0x000d
	extALPN                = 0x0010
	extSupportedVersions   = 0x002b
)

// ClientHello is a parsed ClientHello. Lists keep the wire order and their
// GREASE values; the fingerprints drop GREASE themselves.
type ClientHello struct {
	LegacyVersion       uint16
	SessionID           []byte
	CipherSuites        []uint16
	CompressionMethods  []uint8
	Extensions          []uint16 // extension types in wire order
	ExtensionData       [][]byte // each extension's body, in the same order
	HasSNI              bool     // a server_name extension was sent, even if empty
	ServerName          string   // first host_name entry of server_name
	SupportedGroups     []uint16
	PointFormats        []uint8
	SignatureAlgorithms []uint16
	ALPN                []string
	SupportedVersions   []uint16
}

var errShortHello = errors.New("ClientHello truncated")

// ParseClientHello parses a ClientHello handshake message (RFC 8446 4.1.2),
// its 4-byte handshake header included.
func ParseClientHello(msg []byte) (*ClientHello, error) {
	r := &Reader{b: msg}
	if r.U8() != handshakeTypeClientHello {
		return nil, errors.New("not a ClientHello")
	}
	body := r.sub(r.U24())
	if !r.OK() || !r.Empty() {
		return nil, errShortHello
	}

	h := &ClientHello{LegacyVersion: body.U16()}
	body.Bytes(32) // random
	h.SessionID = body.Vec8().b
	h.CipherSuites = body.List16(2)
	h.CompressionMethods = body.Vec8().b
	if !body.OK() {
		return nil, errShortHello
	}
	// Extensions may be absent altogether in a pre-TLS 1.3 hello.
	if body.Empty() {
		return h, nil
	}
	exts := body.Vec16()
	if !body.OK() || !body.Empty() {
		return nil, errShortHello
	}
	for !exts.Empty() {
		typ := exts.U16()
		data := exts.Vec16()
		if !exts.OK() {
			return nil, errShortHello
		}
		h.Extensions = append(h.Extensions, typ)
		h.ExtensionData = append(h.ExtensionData, data.b)
		if err := h.parseExtension(typ, data); err != nil {
			return nil, fmt.Errorf("extension %#04x: %w", typ, err)
		}
	}
	return h, nil
}

// parseExtension fills in the fields of h that extension typ carries.
func (h *ClientHello) parseExtension(typ uint16, data *Reader) error {
	switch typ {
	case extServerName:
		h.HasSNI = true
		// An empty server_name is legal in a ServerHello only, but tolerate it.
		if data.Empty() {
			return nil
		}
		names := data.Vec16()
		for !names.Empty() && names.OK() {
			kind, name := names.U8(), names.Vec16()
			if kind == 0 && h.ServerName == "" {
				h.ServerName = string(name.b)
			}
		}
		data.bad = data.bad || names.bad
	case extSupportedGroups:
		h.SupportedGroups = data.List16(2)
	case extECPointFormats:
		h.PointFormats = data.Vec8().b
	case extSignatureAlgorithms:
		h.SignatureAlgorithms = data.List16(2)
	case extALPN:
		protos := data.Vec16()
		for !protos.Empty() && protos.OK() {
			h.ALPN = append(h.ALPN, string(protos.Vec8().b))
		}
		data.bad = data.bad || protos.bad
	case extSupportedVersions:
		h.SupportedVersions = data.List16(1)
	default:
		return nil
	}
	if !data.OK() || !data.Empty() {
		return errors.New("malformed")
	}
	return nil
}

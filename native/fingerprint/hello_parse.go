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
	HasSNI              bool     // a server_name extension was sent, even if empty
	ServerName          string   // first host_name entry of server_name
	SupportedGroups     []uint16
	PointFormats        []uint8
	SignatureAlgorithms []uint16
	ALPN                []string
	SupportedVersions   []uint16
}

var errShortHello = errors.New("ClientHello truncated")

// helloReader reads big-endian fields off a byte string; after the first
// short read every later read returns zero values and ok reports false.
type helloReader struct {
	b   []byte
	bad bool
}

func (r *helloReader) ok() bool    { return !r.bad }
func (r *helloReader) empty() bool { return len(r.b) == 0 }

func (r *helloReader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *helloReader) u8() uint8 {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *helloReader) u16() uint16 {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

func (r *helloReader) u24() int {
	b := r.bytes(3)
	if b == nil {
		return 0
	}
	return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
}

// vec8 and vec16 read a vector with a 1- or 2-byte length prefix as a
// reader of its own; a short vector makes r fail too.
func (r *helloReader) vec8() *helloReader  { return r.sub(int(r.u8())) }
func (r *helloReader) vec16() *helloReader { return r.sub(int(r.u16())) }

func (r *helloReader) sub(n int) *helloReader {
	b := r.bytes(n)
	return &helloReader{b: b, bad: r.bad}
}

// list16 reads a vector of 16-bit values whose byte length has a prefix of
// lenBytes (1 or 2) bytes.
func (r *helloReader) list16(lenBytes int) []uint16 {
	v := r.vec16
	if lenBytes == 1 {
		v = r.vec8
	}
	data := v()
	if len(data.b)%2 != 0 {
		r.bad = true
	}
	if r.bad {
		return nil
	}
	out := make([]uint16, 0, len(data.b)/2)
	for !data.empty() {
		out = append(out, data.u16())
	}
	return out
}

// ParseClientHello parses a ClientHello handshake message (RFC 8446 4.1.2),
// its 4-byte handshake header included.
func ParseClientHello(msg []byte) (*ClientHello, error) {
	r := &helloReader{b: msg}
	if r.u8() != handshakeTypeClientHello {
		return nil, errors.New("not a ClientHello")
	}
	body := r.sub(r.u24())
	if !r.ok() || !r.empty() {
		return nil, errShortHello
	}

	h := &ClientHello{LegacyVersion: body.u16()}
	body.bytes(32) // random
	h.SessionID = body.vec8().b
	h.CipherSuites = body.list16(2)
	h.CompressionMethods = body.vec8().b
	if !body.ok() {
		return nil, errShortHello
	}
	// Extensions may be absent altogether in a pre-TLS 1.3 hello.
	if body.empty() {
		return h, nil
	}
	exts := body.vec16()
	if !body.ok() || !body.empty() {
		return nil, errShortHello
	}
	for !exts.empty() {
		typ := exts.u16()
		data := exts.vec16()
		if !exts.ok() {
			return nil, errShortHello
		}
		h.Extensions = append(h.Extensions, typ)
		if err := h.parseExtension(typ, data); err != nil {
			return nil, fmt.Errorf("extension %#04x: %w", typ, err)
		}
	}
	return h, nil
}

// parseExtension fills in the fields of h that extension typ carries.
func (h *ClientHello) parseExtension(typ uint16, data *helloReader) error {
	switch typ {
	case extServerName:
		h.HasSNI = true
		// An empty server_name is legal in a ServerHello only, but tolerate it.
		if data.empty() {
			return nil
		}
		names := data.vec16()
		for !names.empty() && names.ok() {
			kind, name := names.u8(), names.vec16()
			if kind == 0 && h.ServerName == "" {
				h.ServerName = string(name.b)
			}
		}
		data.bad = data.bad || names.bad
	case extSupportedGroups:
		h.SupportedGroups = data.list16(2)
	case extECPointFormats:
		h.PointFormats = data.vec8().b
	case extSignatureAlgorithms:
		h.SignatureAlgorithms = data.list16(2)
	case extALPN:
		protos := data.vec16()
		for !protos.empty() && protos.ok() {
			h.ALPN = append(h.ALPN, string(protos.vec8().b))
		}
		data.bad = data.bad || protos.bad
	case extSupportedVersions:
		h.SupportedVersions = data.list16(1)
	default:
		return nil
	}
	if !data.ok() || !data.empty() {
		return errors.New("malformed")
	}
	return nil
}

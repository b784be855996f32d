package fingerprint

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// Go's crypto/tls gives a server only a digest of the ClientHello
// (tls.ClientHelloInfo): no legacy version, no GREASE values, no point
// formats, all of which JA3 and JA4 need. So a server that fingerprints its
// clients reads the raw ClientHello off the socket itself, then replays
// those bytes to tls.Server through a replayConn.

const (
	// maxHelloBytes bounds what is read before the handshake; real
	// ClientHellos, post-quantum key shares included, stay under 4 KiB.
	maxHelloBytes = 64 << 10

	recordHeaderLen          = 5
	recordTypeHandshake      = 0x16
	maxRecordPayload         = 16384 + 2048 // TLSCiphertext limit, generous for plaintext
	handshakeHeaderLen       = 4
	handshakeTypeClientHello = 1
)

var errNotHandshake = errors.New("not a TLS handshake record")

// ReadClientHello reads TLS records from r until they carry one whole
// handshake message, which may span several records and arrive in several
// reads. It returns every byte it read, to be replayed, and the handshake
// message, header included. The caller bounds the time with a deadline.
func ReadClientHello(r io.Reader) (raw, msg []byte, err error) {
	raw = make([]byte, 0, 2048)
	// fill reads until raw holds at least n bytes.
	fill := func(n int) error {
		if n > maxHelloBytes {
			return fmt.Errorf("ClientHello longer than %d bytes", maxHelloBytes)
		}
		for len(raw) < n {
			if len(raw) == cap(raw) {
				raw = append(raw, 0)[:len(raw)]
			}
			got, err := r.Read(raw[len(raw):cap(raw)])
			raw = raw[:len(raw)+got]
			if err != nil && len(raw) < n {
				return err
			}
		}
		return nil
	}

	var hs []byte // handshake bytes gathered from the records so far
	for pos := 0; ; {
		if err := fill(pos + recordHeaderLen); err != nil {
			return raw, nil, err
		}
		header := raw[pos : pos+recordHeaderLen]
		if header[0] != recordTypeHandshake {
			return raw, nil, errNotHandshake
		}
		length := int(header[3])<<8 | int(header[4])
		if length == 0 || length > maxRecordPayload {
			return raw, nil, fmt.Errorf("handshake record of %d bytes", length)
		}
		start := pos + recordHeaderLen
		if err := fill(start + length); err != nil {
			return raw, nil, err
		}
		hs = append(hs, raw[start:start+length]...)
		pos = start + length

		if len(hs) < handshakeHeaderLen {
			continue
		}
		if hs[0] != handshakeTypeClientHello {
			return raw, nil, fmt.Errorf("handshake message of type %d, want ClientHello", hs[0])
		}
		msgLen := handshakeHeaderLen + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
		if msgLen > maxHelloBytes {
			return raw, nil, fmt.Errorf("ClientHello of %d bytes", msgLen)
		}
		if len(hs) >= msgLen {
			return raw, hs[:msgLen], nil
		}
	}
}

// NewReplayConn returns conn with pending, bytes already read off it,
// put back in front: tls.Server then sees the connection from its first
// byte, ClientHello included.
func NewReplayConn(conn net.Conn, pending []byte) net.Conn {
	return &replayConn{Conn: conn, pending: pending}
}

// replayConn returns the bytes already read off Conn before reading more,
// so that tls.Server sees the connection from its first byte.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

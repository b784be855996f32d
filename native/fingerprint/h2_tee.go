package fingerprint

import "crypto/tls"

// H2TeeConn gives its capture a copy of what the HTTP/2 server reads. It
// embeds the *tls.Conn so that its ConnectionState still reaches the server.
type H2TeeConn struct {
	*tls.Conn
	Capture *H2Capture
}

func (c *H2TeeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.Capture.Feed(p[:n])
	}
	return n, err
}

package bridge

import (
	"net"
	"strings"

	http "github.com/bogdanfinn/fhttp"
	utls "github.com/bogdanfinn/utls"
)

// Browsers send some headers over HTTP/2 only: Chrome its RFC 9218
// priority, Firefox its "te: trailers". Whether a request goes out over
// HTTP/2 is known only once ALPN has chosen, so the caller lists them
// (http2OnlyHeaders) and they are dropped in the GotConn trace hook, which
// both of fhttp's transports call before they write the headers.

// dropHTTP2OnlyOn removes the names from header unless conn speaks h2.
func dropHTTP2OnlyOn(header http.Header, names []string, conn net.Conn) {
	if negotiatedProtocol(conn) == "h2" {
		return
	}
	for key := range header {
		for _, name := range names {
			if strings.EqualFold(key, name) {
				delete(header, key)
			}
		}
	}
}

func negotiatedProtocol(conn net.Conn) string {
	stater, ok := conn.(interface{ ConnectionState() utls.ConnectionState })
	if !ok {
		return ""
	}
	return stater.ConnectionState().NegotiatedProtocol
}

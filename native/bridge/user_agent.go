package bridge

import (
	"net"

	http "github.com/bogdanfinn/fhttp"
)

// A request whose exact header block has no User-Agent must go out without
// one, but fhttp's two writers disagree on how to say so. Its HTTP/1.1
// writer adds "Go-http-client/1.1" only when the User-Agent key is absent,
// and writes every value it has, so an empty value list is the only way to
// send none; its HTTP/2 writer skips an empty list before noticing the key
// and then adds "Go-http-client/2.0", omitting the header only for a single
// empty value (which HTTP/1.1 would send as "User-Agent: "). Which writer
// runs is known only once a connection is chosen (ALPN), so the value list
// is switched in the GotConn trace hook, which both transports call on the
// request's goroutine before they encode the headers.

// omitUserAgentOn makes header, whose User-Agent is the empty value list,
// say "no User-Agent" in the dialect of the protocol conn speaks.
func omitUserAgentOn(header http.Header, conn net.Conn) {
	if negotiatedProtocol(conn) != "h2" {
		return
	}
	if ua := header["User-Agent"]; len(ua) == 0 {
		header["User-Agent"] = []string{""}
	}
}

// omitsUserAgent reports whether header asks for no User-Agent at all.
func omitsUserAgent(header http.Header) bool {
	ua, ok := header["User-Agent"]
	return ok && len(ua) == 0
}
